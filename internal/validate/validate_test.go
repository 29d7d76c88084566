package validate

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/infraplane/infraplane/internal/crds"
	"github.com/infraplane/infraplane/internal/gitops"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// refKinds is what the CLI passes (the keys of controllers.RefKinds); the
// test does not import the controllers.
var refKinds = []string{"Topic"}

// want is one expected problem; msg is a substring of the message.
type want struct {
	file  string
	line  int
	obj   string
	field string
	msg   string
}

var cases = []struct {
	name  string
	dir   string // under testdata; default: name
	opts  Options
	wants []want
	notes []string // substrings of notes, in order
}{
	{name: "good", notes: []string{"built-in Kubernetes kinds (ConfigMap)"}},
	{name: "good-in-namespace", dir: "good", opts: Options{Namespace: "team-a"}},
	{name: "yaml-syntax", wants: []want{
		{"topics.yaml", 8, "", "", "invalid YAML: did not find expected key"},
	}, notes: []string{"references were not checked"}},
	{name: "render-missing", wants: []want{
		{"no-kind.yaml", 1, "", "", "missing apiVersion or kind"},
		{"no-name.yaml", 3, "", "", "Topic has no metadata.name"},
	}},
	{name: "schema-type", wants: []want{
		{"sub.yaml", 8, "Subscription/worker", "spec.ackDeadlineSeconds", `Invalid value: "string": spec.ackDeadlineSeconds in body must be of type integer: "string"`},
	}, notes: []string{"some validation rules were not checked"}},
	{name: "range", wants: []want{
		{"sub.yaml", 8, "Subscription/worker", "spec.ackDeadlineSeconds", "Invalid value: 5: spec.ackDeadlineSeconds in body should be greater than or equal to 10"},
	}},
	{name: "enum", wants: []want{
		{"sub.yaml", 9, "Subscription/worker", "spec.deletionPolicy", `Unsupported value: "Keep": supported values: "Delete", "Abandon"`},
	}},
	{name: "cel-retry", wants: []want{
		{"sub.yaml", 9, "Subscription/worker", "spec.retryPolicy.minimumBackoff", "minimumBackoff must not exceed maximumBackoff"},
	}},
	{name: "cel-label-uppercase", wants: []want{
		{"topic.yaml", 6, "Topic/orders", "spec.labels", "label keys must start with a lowercase letter"},
	}},
	{name: "cel-label-reserved", wants: []want{
		{"topic.yaml", 6, "Topic/orders", "spec.labels", "label keys starting with 'infraplane-' are reserved"},
	}},
	// A rule on the object's root that reads metadata.name: the API server
	// passes name into CEL at the root; so does validate.
	{name: "root-rule", wants: []want{
		{"topic.yaml", 4, "Topic/go", "metadata.name", "metadata.name is used as the topic id: it must be at least 3 characters"},
	}},
	{name: "unknown-field", wants: []want{
		{"sub.yaml", 8, "Subscription/worker", "spec.ackDeadline", `unknown field "spec.ackDeadline"`},
	}},
	{name: "bad-name", wants: []want{
		{"topic.yaml", 4, "Topic/Orders_Topic", "metadata.name", "a lowercase RFC 1123 subdomain must consist of"},
	}},
	{name: "missing-ref", wants: []want{
		{"sub.yaml", 10, "Subscription/worker", "spec.deadLetterPolicy.deadLetterTopicRef.name", `refers to Topic "orders-dead-letter", which is not in these manifests`},
	}},
	{name: "external-refs", dir: "missing-ref", opts: Options{AllowExternalRefs: true},
		notes: []string{"assumed to exist (--allow-external-refs): Topic/orders-dead-letter"}},
	{name: "duplicate", wants: []want{
		{"b.yaml", 5, "Topic/orders", "metadata.name", "duplicate: Topic/orders is also defined at a.yaml:4"},
	}},
	{name: "other-namespace", dir: "namespaces", opts: Options{Namespace: "team-a"}, wants: []want{
		{"topics.yaml", 11, "Topic/payments", "metadata.namespace", `names namespace "team-b", but this source applies to "team-a"`},
	}},
	{name: "many-namespaces", dir: "namespaces", wants: []want{
		{"topics.yaml", 11, "Topic/payments", "metadata.namespace", `names namespace "team-b", but Topic/orders (topics.yaml:5) names "team-a"`},
	}},
	{name: "unknown-kind", wants: []want{
		{"topic.yaml", 2, "topic/orders", "kind", "pubsub.infraplane.dev has no kind topic (did you mean Topic?)"},
		{"topic.yaml", 6, "Topic/payments", "apiVersion", "Topic is not served in version v1; served: pubsub.infraplane.dev/v1alpha1"},
	}},
	{name: "unknown-group", wants: []want{
		{"widget.yaml", 2, "Widget/gadget", "kind", "unknown kind Widget in example.com/v1"},
	}},
	{name: "unknown-group-allowed", dir: "unknown-group", opts: Options{AllowUnknownKinds: true},
		notes: []string{"unknown kinds (example.com/v1 Widget) are allowed"}},
	{name: "breakglass", wants: []want{
		{"bg.yaml", 2, "BreakGlass/inc-1", "kind", "a BreakGlass is opened by a person, not applied from git"},
	}},
	{name: "cluster-scoped", wants: []want{
		{"provider.yaml", 3, "ProviderConfig/default", "kind", "ProviderConfig is cluster-scoped"},
	}},
	// Kinds that Blueprints define are checked against their schemas.
	{name: "blueprint-instances", opts: Options{Blueprints: []string{"../../examples/blueprints"}}, wants: []want{
		{"queues.yaml", 13, "Queue/billing", "spec.retentionDays", "should be less than or equal to 7"},
		{"queues.yaml", 14, "Queue/billing", "spec.retries", `unknown field "spec.retries"`},
	}},
	{name: "blueprint-instances-unknown", dir: "blueprint-instances", wants: []want{
		{"queues.yaml", 2, "Queue/orders", "kind", "unknown kind Queue"},
		{"queues.yaml", 9, "Queue/billing", "kind", "unknown kind Queue"},
	}},
	// A Blueprint that does not compile is refused at its line.
	{name: "blueprint-broken", wants: []want{
		{"blueprint.yaml", 2, "Blueprint/typo", "kind", "Blueprint is cluster-scoped"},
		{"blueprint.yaml", 20, "Blueprint/typo", "spec.resources[topic].template.spec.messageRetentionDuration", "expression ${spec.dayz * 24}: column 5: undefined field 'dayz'"},
	}},
	// A platform GitSource's directory may hold Blueprints.
	{name: "blueprint-platform", dir: "../../../examples/blueprints", opts: Options{Platform: true}},
	{name: "blueprint-platform-namespace", dir: "../../../examples/blueprints", opts: Options{Namespace: "infraplane-system"}},
	// Kustomize output has no lines: problems are found in the resources
	// the kustomization lists, bases included.
	{name: "kustomize", dir: "kustomize/overlay", wants: []want{
		{"../base/topics.yaml", 14, "Topic/events", "spec.deletionPolicy", `Unsupported value: "Keep"`},
		{"subs.yaml", 8, "Subscription/worker", "spec.ackDeadlineSeconds", "should be greater than or equal to 10"},
		{"subs.yaml", 11, "Subscription/worker", "spec.deadLetterPolicy.deadLetterTopicRef.name", `refers to Topic "dead-letter"`},
	}},
	// A repository is untrusted: a remote base is refused before
	// kustomize runs (it would clone it, running git), as the syncer
	// refuses it.
	{name: "remote-base", wants: []want{
		{"kustomization.yaml", 3, "", "", `resources entry "github.com/example/infra//base?ref=v1": a GitHub repository: remote bases and resources are not allowed`},
	}},
}

func TestValidate(t *testing.T) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := tc.dir
			if dir == "" {
				dir = tc.name
			}
			opts := tc.opts
			opts.RefKinds = refKinds
			res, err := Validate(filepath.Join("testdata", dir), opts)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Problems) != len(tc.wants) {
				t.Errorf("got %d problems, want %d:\n%s", len(res.Problems), len(tc.wants), res.Problems.Error())
			}
			for i, w := range tc.wants {
				if i >= len(res.Problems) {
					break
				}
				p := res.Problems[i]
				if p.Source.File != w.file || p.Source.Line != w.line || p.Object != w.obj || p.Field != w.field || !strings.Contains(p.Msg, w.msg) {
					t.Errorf("problem %d:\n got %s\nwant %s:%d: %s: %s: …%s…", i, p, w.file, w.line, w.obj, w.field, w.msg)
				}
			}
			if len(res.Notes) < len(tc.notes) {
				t.Errorf("notes: got %q, want %q", res.Notes, tc.notes)
			}
			for i, n := range tc.notes {
				if i < len(res.Notes) && !strings.Contains(res.Notes[i], n) {
					t.Errorf("note %d: got %q, want …%s…", i, res.Notes[i], n)
				}
			}

			var out bytes.Buffer
			if err := res.Format(&out, "text"); err != nil {
				t.Fatal(err)
			}
			golden(t, filepath.Join("testdata", "golden", tc.name+".txt"), out.Bytes())
		})
	}
}

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (go test -update rewrites it):\n--- got\n%s--- want\n%s", path, got, want)
	}
}

func TestFormats(t *testing.T) {
	dir := filepath.Join("testdata", "range")
	res, err := Validate(dir, Options{RefKinds: refKinds})
	if err != nil {
		t.Fatal(err)
	}

	var js bytes.Buffer
	if err := res.Format(&js, "json"); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Dir      string           `json:"dir"`
		Objects  int              `json:"objects"`
		Valid    bool             `json:"valid"`
		Problems []gitops.Problem `json:"problems"`
	}
	if err := json.Unmarshal(js.Bytes(), &got); err != nil {
		t.Fatalf("%v\n%s", err, js.String())
	}
	if got.Dir != dir || got.Objects != 1 || got.Valid || len(got.Problems) != 1 ||
		got.Problems[0].Source != (gitops.Source{File: "sub.yaml", Line: 8}) || got.Problems[0].Field != "spec.ackDeadlineSeconds" {
		t.Errorf("json: %s", js.String())
	}

	var gh bytes.Buffer
	if err := res.Format(&gh, "github"); err != nil {
		t.Fatal(err)
	}
	wantGH := "::error file=testdata/range/sub.yaml,line=8,title=Subscription/worker::Subscription/worker: spec.ackDeadlineSeconds: Invalid value: 5: spec.ackDeadlineSeconds in body should be greater than or equal to 10\n" +
		"1 object, 1 problem\n"
	if gh.String() != wantGH {
		t.Errorf("github:\n got %q\nwant %q", gh.String(), wantGH)
	}

	// A valid directory as JSON: an empty list, not null.
	ok, err := Validate(filepath.Join("testdata", "good"), Options{RefKinds: refKinds})
	if err != nil {
		t.Fatal(err)
	}
	js.Reset()
	if err := ok.Format(&js, "json"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(js.String(), `"problems": []`) || !strings.Contains(js.String(), `"valid": true`) {
		t.Errorf("json of a valid dir: %s", js.String())
	}

	if err := res.Format(&gh, "yaml"); err == nil {
		t.Error("unknown format accepted")
	}
}

func TestGitHubEscaping(t *testing.T) {
	r := Result{Dir: "./deploy", Problems: gitops.Problems{{
		Source: gitops.Source{File: "a,b.yaml", Line: 3}, Object: "Topic/x", Msg: "100% wrong\nreally",
	}}}
	var b bytes.Buffer
	if err := r.Format(&b, "github"); err != nil {
		t.Fatal(err)
	}
	want := "::error file=deploy/a%2Cb.yaml,line=3,title=Topic/x::Topic/x: 100%25 wrong%0Areally\n"
	if !strings.HasPrefix(b.String(), want) {
		t.Errorf("got %q, want prefix %q", b.String(), want)
	}
}

func TestMissingDir(t *testing.T) {
	if _, err := Validate(filepath.Join("testdata", "does-not-exist"), Options{}); err == nil {
		t.Fatal("no error for a missing directory")
	}
}

func TestNodeLinePaths(t *testing.T) {
	for in, want := range map[string]string{
		"spec.labels.team":                     "spec|labels|team",
		"spec.items[2].name":                   "spec|items|2|name",
		"metadata.annotations[a.b/c]":          "metadata|annotations|a.b/c",
		"spec.messageStoragePolicy.regions[0]": "spec|messageStoragePolicy|regions|0",
	} {
		if got := strings.Join(gitops.SplitFieldPath(in), "|"); got != want {
			t.Errorf("SplitFieldPath(%q) = %q, want %q", in, got, want)
		}
	}
}

// BenchmarkValidate1000 validates a directory of 1,000 objects (500 topics,
// 500 subscriptions referring to them, in 20 files): render, schema with
// defaults and CEL, and the syncer's checks.
func BenchmarkValidate1000(b *testing.B) {
	dir := b.TempDir()
	const files, perFile = 20, 50 // 1,000 objects
	n := 0
	for f := 0; f < files; f++ {
		var sb strings.Builder
		for i := 0; i < perFile/2; i++ {
			fmt.Fprintf(&sb, `apiVersion: pubsub.infraplane.dev/v1alpha1
kind: Topic
metadata:
  name: topic-%[1]d
spec:
  labels:
    team: team-%[2]d
    tier: critical
  messageRetentionDuration: 24h
  messageStoragePolicy:
    allowedPersistenceRegions: [europe-west1, europe-west4]
---
apiVersion: pubsub.infraplane.dev/v1alpha1
kind: Subscription
metadata:
  name: sub-%[1]d
spec:
  topicRef:
    name: topic-%[1]d
  ackDeadlineSeconds: 30
  messageRetentionDuration: 48h
  deadLetterPolicy:
    deadLetterTopicRef:
      name: topic-%[3]d
    maxDeliveryAttempts: 10
  retryPolicy:
    minimumBackoff: 5s
    maximumBackoff: 300s
  labels:
    team: team-%[2]d
---
`, n, f, (n+1)%(files*perFile/2))
			n++
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("objects-%02d.yaml", f)), []byte(sb.String()), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	opts := Options{RefKinds: refKinds}
	res, err := Validate(dir, opts) // also compiles the schemas, once
	if err != nil {
		b.Fatal(err)
	}
	if res.Objects != 1000 || !res.Valid() {
		b.Fatalf("%d objects, problems:\n%s", res.Objects, res.Problems.Error())
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := Validate(dir, opts); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCatalog is the one-off cost of compiling the embedded CRDs'
// schemas and CEL rules (paid once per process).
func BenchmarkCatalog(b *testing.B) {
	list, err := crds.Load()
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := newCatalog(list); err != nil {
			b.Fatal(err)
		}
	}
}
