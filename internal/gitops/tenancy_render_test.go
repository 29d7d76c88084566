package gitops_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
	pubsubv1 "github.com/infraplane/infraplane/api/pubsub/v1alpha1"
	"github.com/infraplane/infraplane/internal/gitops"
)

// A repository is untrusted input: these are the attacks on rendering
// that were reproduced, each now refused before anything happens.

// writeTree writes files (path → contents) under dir.
func rrWriteTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func rrSymlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

// refused renders dir of root, expects a RenderError at file and returns
// the whole message, which must contain every one of wants.
func renderRefused(t *testing.T, root, dir, file string, wants ...string) string {
	t.Helper()
	return renderRefusedWith(t, root, dir, gitops.RenderOptions{}, file, wants...)
}

func renderRefusedWith(t *testing.T, root, dir string, opts gitops.RenderOptions, file string, wants ...string) string {
	t.Helper()
	objs, err := gitops.RenderWith(root, dir, opts)
	if err == nil {
		t.Fatalf("rendered %d objects, want a refusal", len(objs))
	}
	// Plain YAML renders the other files (to report every problem); none
	// may come from the refused one.
	for _, o := range objs {
		if o.Source.File == file {
			t.Errorf("the refused file %s was rendered: %s", file, o.ID())
		}
	}
	var re *gitops.RenderError
	if !errors.As(err, &re) {
		t.Fatalf("not a RenderError: %v", err)
	}
	if re.Source.File != file {
		t.Errorf("refusal at %q, want %q: %v", re.Source.File, file, err)
	}
	msg := err.Error()
	for _, w := range wants {
		if !strings.Contains(msg, w) {
			t.Errorf("message %q does not contain %q", msg, w)
		}
	}
	return msg
}

const ordersTopic = `apiVersion: pubsub.infraplane.dev/v1alpha1
kind: Topic
metadata:
  name: orders
spec:
  labels:
    team: checkout
`

// A kustomize remote base whose ref smuggles a git option
// (--upload-pack) made kustomize run a command: now it is refused before
// kustomize runs, and nothing is executed.
func TestTenancyRenderRemoteBaseUploadPack(t *testing.T) {
	root := t.TempDir()
	marker := filepath.Join(t.TempDir(), "pwned")
	entry := "file:///x?ref=--upload-pack=sh%20-c%20%22touch%20" + url.PathEscape(marker) + "%22%20%23"
	rrWriteTree(t, root, map[string]string{
		"orders.yaml":        ordersTopic,
		"kustomization.yaml": "resources:\n- orders.yaml\n- " + entry + "\n",
	})
	msg := renderRefused(t, root, root, "kustomization.yaml", "resources entry", entry, "remote bases and resources are not allowed")
	if !strings.HasPrefix(msg, "kustomization.yaml:3: ") {
		t.Errorf("message does not point at the entry's line: %s", msg)
	}
	if _, err := os.Stat(marker); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the command in the URL ran: %s exists (%v)", marker, err)
	}
}

// Any URL, in any field kustomize reads a file from, would make the
// controller fetch from an arbitrary address: none reaches the server.
func TestTenancyRenderHTTPResources(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		fmt.Fprint(w, ordersTopic)
	}))
	defer srv.Close()
	u := srv.URL + "/orders.yaml"
	cases := []struct {
		name  string
		files map[string]string
		file  string // where the refusal is
		wants []string
	}{
		{"resource", map[string]string{"kustomization.yaml": "resources:\n- " + u + "\n"},
			"kustomization.yaml", []string{"resources entry", u}},
		{"base in an overlay's base", map[string]string{
			"prod/kustomization.yaml": "resources:\n- ../base\n",
			"base/kustomization.yaml": "resources:\n- orders.yaml\n- " + u + "\n",
			"base/orders.yaml":        ordersTopic,
		}, "../base/kustomization.yaml", []string{"resources entry", u}},
		{"patch path", map[string]string{"kustomization.yaml": "resources:\n- orders.yaml\npatches:\n- path: " + u + "\n", "orders.yaml": ordersTopic},
			"kustomization.yaml", []string{"patches[0].path", u}},
		{"patchesStrategicMerge", map[string]string{"kustomization.yaml": "resources:\n- orders.yaml\npatchesStrategicMerge:\n- " + u + "\n", "orders.yaml": ordersTopic},
			"kustomization.yaml", []string{"patchesStrategicMerge entry", u}},
		{"configMapGenerator file", map[string]string{"kustomization.yaml": "configMapGenerator:\n- name: c\n  files:\n  - key=" + u + "\n"},
			"kustomization.yaml", []string{"configMapGenerator[0].files entry", u}},
		{"openapi path", map[string]string{"kustomization.yaml": "resources:\n- orders.yaml\nopenapi:\n  path: " + u + "\n", "orders.yaml": ordersTopic},
			"kustomization.yaml", []string{"openapi.path", u}},
		{"crds", map[string]string{"kustomization.yaml": "crds:\n- " + u + "\n"},
			"kustomization.yaml", []string{"crds entry", u}},
		{"transformer file", map[string]string{"kustomization.yaml": "resources:\n- orders.yaml\ntransformers:\n- " + u + "\n", "orders.yaml": ordersTopic},
			"kustomization.yaml", []string{"transformers entry", u}},
		// A built-in transformer's configuration loads its path too.
		{"inline transformer config", map[string]string{"kustomization.yaml": `resources:
- orders.yaml
transformers:
- |
  apiVersion: builtin
  kind: PatchTransformer
  metadata: {name: p}
  path: ` + u + `
`, "orders.yaml": ordersTopic}, "kustomization.yaml", []string{u, "PatchTransformer"}},
		{"transformer config file", map[string]string{
			"kustomization.yaml": "resources:\n- orders.yaml\ntransformers:\n- t.yaml\n",
			"orders.yaml":        ordersTopic,
			"t.yaml":             "apiVersion: builtin\nkind: PatchTransformer\nmetadata: {name: p}\npath: " + u + "\n",
		}, "t.yaml", []string{u}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			root := t.TempDir()
			rrWriteTree(t, root, c.files)
			dir := root
			if _, err := os.Stat(filepath.Join(root, "prod")); err == nil {
				dir = filepath.Join(root, "prod")
			}
			renderRefused(t, root, dir, c.file, c.wants...)
			if n := hits.Load(); n != 0 {
				t.Fatalf("%d requests reached the server", n)
			}
		})
	}
}

// Git repository addresses in every form kustomize clones are refused.
func TestTenancyRenderGitAddresses(t *testing.T) {
	for _, entry := range []string{
		"github.com/org/repo//path?ref=v1",
		"GitHub.com/org/repo",
		"git@github.com:org/repo.git//deploy",
		"git::https://example.com/org/repo",
		"ssh://git@example.com/org/repo.git",
		"https://example.com/org/repo.git//deploy?ref=main",
		"user@example.com:org/repo",
	} {
		t.Run(entry, func(t *testing.T) {
			root := t.TempDir()
			rrWriteTree(t, root, map[string]string{
				"kustomization.yaml": "components:\n- " + entry + "\n",
			})
			renderRefused(t, root, root, "kustomization.yaml", "components entry", entry, "remote bases and resources are not allowed")
		})
	}
}

// Helm charts would make kustomize run helm, which fetches charts.
func TestTenancyRenderHelmRefused(t *testing.T) {
	for field, k := range map[string]string{
		"helmCharts":                  "helmCharts:\n- name: redis\n  repo: https://charts.example.com\n  version: 1.0.0\n",
		"helmChartInflationGenerator": "helmChartInflationGenerator:\n- chartName: redis\n  chartRepoUrl: https://charts.example.com\n",
		"helmGlobals":                 "helmGlobals:\n  chartHome: charts\n",
	} {
		t.Run(field, func(t *testing.T) {
			root := t.TempDir()
			rrWriteTree(t, root, map[string]string{"kustomization.yaml": k})
			renderRefused(t, root, root, "kustomization.yaml", field, "Helm charts are not rendered")
		})
	}
	// And as a generator's configuration.
	root := t.TempDir()
	rrWriteTree(t, root, map[string]string{
		"kustomization.yaml": "generators:\n- helm.yaml\n",
		"helm.yaml":          "apiVersion: builtin\nkind: HelmChartInflationGenerator\nmetadata: {name: h}\nname: redis\nrepo: oci://charts.example.com/redis\n",
	})
	renderRefused(t, root, root, "helm.yaml", "HelmChartInflationGenerator")
}

// A symlink to /dev/zero was read with no size cap (validate ran out of
// memory): it is refused, at once, as a path leading outside.
func TestTenancyRenderSymlinkToDevZero(t *testing.T) {
	if _, err := os.Stat("/dev/zero"); err != nil {
		t.Skip("no /dev/zero")
	}
	root := t.TempDir()
	rel, err := filepath.Rel(root, "/dev/zero")
	if err != nil {
		t.Fatal(err)
	}
	rrSymlink(t, rel, filepath.Join(root, "z.yaml"))
	rrWriteTree(t, root, map[string]string{"orders.yaml": ordersTopic})
	start := time.Now()
	renderRefused(t, root, root, "z.yaml", "symlink to "+rel, "outside the repository")
	// The same file listed by a kustomization.
	rrWriteTree(t, root, map[string]string{"k/kustomization.yaml": "resources:\n- ../z.yaml\n"})
	renderRefused(t, root, filepath.Join(root, "k"), "kustomization.yaml", `resources entry "../z.yaml"`, "outside the repository")
	// An absolute symlink, and /dev/zero named directly.
	rrSymlink(t, "/dev/zero", filepath.Join(root, "abs", "z.yaml"))
	renderRefused(t, root, filepath.Join(root, "abs"), "z.yaml", "outside the repository")
	rrWriteTree(t, root, map[string]string{"d/kustomization.yaml": "resources:\n- /dev/zero\n"})
	renderRefused(t, root, filepath.Join(root, "d"), "kustomization.yaml", "/dev/zero", "absolute path")
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("refusing took %s", d)
	}
}

// A symlink to a file outside the repository (a kubeconfig) was read:
// it is refused, and its contents appear nowhere.
func TestTenancyRenderSymlinkOutsideRoot(t *testing.T) {
	outside := t.TempDir()
	const secret = "s3cret-token-from-the-kubeconfig"
	rrWriteTree(t, outside, map[string]string{
		"kubeconfig": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: stolen\ndata:\n  token: " + secret + "\n",
	})
	kubeconfig := filepath.Join(outside, "kubeconfig")
	check := func(t *testing.T, root, dir, file string, wants ...string) {
		t.Helper()
		objs, _ := gitops.Render(root, dir)
		for _, o := range objs {
			if strings.Contains(fmt.Sprint(o.Object), secret) {
				t.Fatalf("the outside file's contents were rendered: %v", o.Object)
			}
		}
		if msg := renderRefused(t, root, dir, file, wants...); strings.Contains(msg, secret) {
			t.Fatalf("the outside file's contents are in the message: %s", msg)
		}
	}
	t.Run("plain", func(t *testing.T) {
		root := t.TempDir()
		rel, _ := filepath.Rel(root, kubeconfig)
		rrSymlink(t, rel, filepath.Join(root, "leak.yaml"))
		check(t, root, root, "leak.yaml", "symlink to "+rel, "outside the repository")
	})
	t.Run("generator file", func(t *testing.T) {
		root := t.TempDir()
		rel, _ := filepath.Rel(root, kubeconfig)
		rrSymlink(t, rel, filepath.Join(root, "token.txt"))
		rrWriteTree(t, root, map[string]string{"kustomization.yaml": "configMapGenerator:\n- name: c\n  files:\n  - token.txt\n"})
		check(t, root, root, "kustomization.yaml", `configMapGenerator[0].files entry "token.txt"`, "outside the repository")
	})
	t.Run("dot-dot", func(t *testing.T) {
		root := t.TempDir()
		rel, _ := filepath.Rel(root, kubeconfig)
		rrWriteTree(t, root, map[string]string{"kustomization.yaml": "resources:\n- " + rel + "\n"})
		check(t, root, root, "kustomization.yaml", "resources entry", "leads outside the repository")
	})
	t.Run("symlinked directory", func(t *testing.T) {
		root := t.TempDir()
		rel, _ := filepath.Rel(filepath.Join(root, "k"), outside)
		rrSymlink(t, rel, filepath.Join(root, "k", "ext"))
		rrWriteTree(t, root, map[string]string{"k/kustomization.yaml": "resources:\n- ext/kubeconfig\n"})
		check(t, root, filepath.Join(root, "k"), "kustomization.yaml", `resources entry "ext/kubeconfig"`, "outside the repository")
	})
	t.Run("rendered directory", func(t *testing.T) {
		root := t.TempDir()
		rel, _ := filepath.Rel(root, outside)
		rrSymlink(t, rel, filepath.Join(root, "deploy"))
		_, err := gitops.Render(root, filepath.Join(root, "deploy"))
		if err == nil || strings.Contains(err.Error(), secret) {
			t.Fatalf("a rendered directory linking outside: %v", err)
		}
		if _, err := gitops.Render(root, outside); err == nil || !strings.Contains(err.Error(), "not inside the repository") {
			t.Fatalf("a rendered directory outside: %v", err)
		}
	})
	t.Run(".git", func(t *testing.T) {
		root := t.TempDir()
		rrWriteTree(t, root, map[string]string{
			".git/config":        "[remote \"origin\"]\n\turl = https://user:" + secret + "@example.com/r.git\n",
			"kustomization.yaml": "configMapGenerator:\n- name: c\n  files:\n  - .git/config\n",
		})
		check(t, root, root, "kustomization.yaml", ".git directory")
	})
}

// A FIFO would block the read forever: it is refused without opening.
func TestTenancyRenderFIFO(t *testing.T) {
	root := t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(root, "p.yaml"), 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	done := make(chan string, 1)
	go func() { done <- renderRefused(t, root, root, "p.yaml", "named pipe", "only regular files") }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("rendering a FIFO blocked")
	}
}

// Files larger than the limit, or more than the limit in all, are refused
// by name.
func TestTenancyRenderSizeLimits(t *testing.T) {
	root := t.TempDir()
	big := ordersTopic + "  # " + strings.Repeat("x", 2048) + "\n"
	rrWriteTree(t, root, map[string]string{"big.yaml": big, "small.yaml": ordersTopic})
	renderRefusedWith(t, root, root, gitops.RenderOptions{MaxFileSize: 1024}, "big.yaml", "larger than 1 KiB")

	root = t.TempDir()
	rrWriteTree(t, root, map[string]string{"a.yaml": ordersTopic, "b.yaml": strings.Replace(ordersTopic, "orders", "payments", 1)})
	renderRefusedWith(t, root, root, gitops.RenderOptions{MaxTotalSize: int64(len(ordersTopic)) + 10}, "b.yaml", "exceed")

	root = t.TempDir()
	rrWriteTree(t, root, map[string]string{"kustomization.yaml": "resources:\n- big.yaml\n", "big.yaml": big})
	renderRefusedWith(t, root, root, gitops.RenderOptions{MaxFileSize: 1024}, "kustomization.yaml", `resources entry "big.yaml"`, "larger than 1 KiB")

	// Within the defaults, the same files render.
	if objs, err := gitops.Render(root, root); err != nil || len(objs) != 1 {
		t.Fatalf("%d objects, %v", len(objs), err)
	}
}

// Symlinks inside the repository keep working: files and directories,
// plain and with kustomize.
func TestTenancyRenderInRepoSymlinks(t *testing.T) {
	root := t.TempDir()
	rrWriteTree(t, root, map[string]string{
		"shared/orders.yaml":             ordersTopic,
		"shared/base/kustomization.yaml": "resources:\n- topic.yaml\n",
		"shared/base/topic.yaml":         strings.Replace(ordersTopic, "orders", "payments", 1),
		"k/kustomization.yaml":           "resources:\n- orders.yaml\n- base\n",
	})
	rrSymlink(t, "../shared/orders.yaml", filepath.Join(root, "plain", "orders.yaml"))
	rrSymlink(t, "../shared/orders.yaml", filepath.Join(root, "k", "orders.yaml"))
	rrSymlink(t, "../shared/base", filepath.Join(root, "k", "base"))

	objs, err := gitops.Render(root, filepath.Join(root, "plain"))
	if err != nil || len(objs) != 1 || objs[0].GetName() != "orders" || objs[0].Source.File != "orders.yaml" {
		t.Fatalf("plain: %v %+v", err, objs)
	}
	objs, err = gitops.Render(root, filepath.Join(root, "k"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, o := range objs {
		names = append(names, o.GetName())
	}
	if strings.Join(names, ",") != "orders,payments" {
		t.Fatalf("kustomize: %v", names)
	}
	// A ".." out of a symlinked directory is refused: on disk it would
	// resolve elsewhere than as written.
	rrWriteTree(t, root, map[string]string{"shared/base/kustomization.yaml": "resources:\n- topic.yaml\n- ../orders.yaml\n"})
	renderRefused(t, root, filepath.Join(root, "k"), "base/kustomization.yaml", `resources entry "../orders.yaml"`, "a symlink")
}

// An overlay with its base elsewhere in the repository, patches,
// generators and a component renders as before, files named relative to
// the rendered directory.
func TestTenancyRenderOverlayInsideRepo(t *testing.T) {
	root := t.TempDir()
	rrWriteTree(t, root, map[string]string{
		"base/kustomization.yaml": "resources:\n- orders.yaml\n",
		"base/orders.yaml":        ordersTopic,
		"components/team/kustomization.yaml": `apiVersion: kustomize.config.k8s.io/v1alpha1
kind: Component
labels:
- pairs: {owner: team-a}
`,
		"overlays/prod/kustomization.yaml": `resources:
- ../../base
components:
- ../../components/team
buildMetadata: [originAnnotations]
patches:
- path: team.yaml
configMapGenerator:
- name: settings
  files:
  - region=region.txt
transformers:
- suffix.yaml
`,
		"overlays/prod/team.yaml":   "apiVersion: pubsub.infraplane.dev/v1alpha1\nkind: Topic\nmetadata:\n  name: orders\nspec:\n  labels:\n    team: prod-team\n",
		"overlays/prod/region.txt":  "europe-west1",
		"overlays/prod/suffix.yaml": "apiVersion: builtin\nkind: PrefixSuffixTransformer\nmetadata: {name: s}\nsuffix: -prod\nfieldSpecs:\n- path: metadata/name\n",
	})
	objs, err := gitops.Render(root, filepath.Join(root, "overlays", "prod"))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]gitops.Object{}
	for _, o := range objs {
		got[o.GetKind()+"/"+o.GetName()] = o
	}
	topic, ok := got["Topic/orders-prod"]
	if !ok || len(got) != 2 {
		t.Fatalf("objects: %v", got)
	}
	if team, _, _ := rrString(topic.Object, "spec", "labels", "team"); team != "prod-team" || topic.GetLabels()["owner"] != "team-a" {
		t.Errorf("overlay not applied: %v", topic.Object)
	}
	if topic.Source.File != "../../base/orders.yaml" {
		t.Errorf("source %q", topic.Source.File)
	}
	var cm gitops.Object
	for id, o := range got {
		if strings.HasPrefix(id, "ConfigMap/settings-") {
			cm = o
		}
	}
	if cm.Unstructured == nil {
		t.Fatalf("no ConfigMap: %v", got)
	}
	if region, _, _ := rrString(cm.Object, "data", "region"); region != "europe-west1" {
		t.Errorf("ConfigMap data: %v", cm.Object)
	}
}

func rrString(obj map[string]any, fields ...string) (string, bool, error) {
	var cur any = obj
	for _, f := range fields {
		m, ok := cur.(map[string]any)
		if !ok {
			return "", false, nil
		}
		cur = m[f]
	}
	s, ok := cur.(string)
	return s, ok, nil
}

// Through a real GitSource: a commit with a remote base is refused with
// RenderFailed naming the file and entry, nothing of it is applied and
// nothing is executed.
func TestTenancySyncRefusesRemoteBase(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "pwned")
	entry := "file:///x?ref=--upload-pack=sh%20-c%20%22touch%20" + url.PathEscape(marker) + "%22%20%23"
	_, gs, ns := setup(t, map[string]*string{
		"orders.yaml":        str(ordersTopic),
		"kustomization.yaml": str("resources:\n- orders.yaml\n- " + entry + "\n"),
	})
	got := waitSource(t, gs, func(g *corev1alpha1.GitSource) error {
		if c := readyCondition(g); c.Reason != gitops.ReasonRenderFailed {
			return fmt.Errorf("Ready: %+v", c)
		}
		return nil
	})
	c := readyCondition(got)
	if c.Status != metav1.ConditionFalse {
		t.Errorf("Ready: %+v", c)
	}
	for _, w := range []string{"nothing applied", "kustomization.yaml:3", "resources entry", entry, "remote bases and resources are not allowed"} {
		if !strings.Contains(c.Message, w) {
			t.Errorf("Ready message %q does not contain %q", c.Message, w)
		}
	}
	if got.Status.LastAppliedRevision != "" || len(got.Status.Inventory) != 0 {
		t.Errorf("applied: %s, inventory %v", got.Status.LastAppliedRevision, got.Status.Inventory)
	}
	err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "orders"}, &pubsubv1.Topic{})
	if !apierrors.IsNotFound(err) {
		t.Errorf("Topic orders of the refused commit: %v", err)
	}
	if _, err := os.Stat(marker); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the command in the URL ran: %s exists (%v)", marker, err)
	}
}
