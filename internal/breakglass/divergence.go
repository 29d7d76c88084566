package breakglass

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
	"github.com/infraplane/infraplane/internal/gitops"
)

// DesiredFunc returns what git says for a GitSource's objects now
// (gitops.Syncer.Desired) and the revision.
type DesiredFunc func(ctx context.Context, gs *corev1alpha1.GitSource) ([]*unstructured.Unstructured, gitops.Revision, error)

// gitReader reads each GitSource's manifests once per reconcile: a
// break-glass with many targets from one repository fetches and renders
// it once, not once per target.
type gitReader struct {
	read DesiredFunc
	seen map[string]gitRead
}

type gitRead struct {
	objs []*unstructured.Unstructured
	rev  gitops.Revision
	err  error
}

func newGitReader(read DesiredFunc) *gitReader {
	return &gitReader{read: read, seen: map[string]gitRead{}}
}

func (g *gitReader) desired(ctx context.Context, gs *corev1alpha1.GitSource) ([]*unstructured.Unstructured, gitops.Revision, error) {
	k := gs.Namespace + "/" + gs.Name
	if r, ok := g.seen[k]; ok {
		return r.objs, r.rev, r.err
	}
	objs, rev, err := g.read(ctx, gs)
	g.seen[k] = gitRead{objs, rev, err}
	return objs, rev, err
}

// comparison is one target compared with git.
type comparison struct {
	source   string // GitSource ns.name, "" when git does not manage it
	revision string
	fields   []corev1alpha1.DivergedField
	gone     bool   // the object no longer exists
	message  string // set when diverged or not comparable
}

func (c comparison) diverged() bool { return len(c.fields) > 0 }

// compare puts git's manifest for the target through a server-side dry-run
// apply as the syncer would (forcing its fields), and compares the result's
// spec with the live spec: what a sync would change is what diverged. A
// comparison that cannot be made (git unreachable) is an error: the caller
// holds rather than guesses.
//
// With cloudToo (a break-glass that paused actuation, for changes made in
// the cloud console) fields where the cloud differs from the object count
// as diverged as well: resuming actuation would undo them.
func (r *Reconciler) compare(ctx context.Context, git *gitReader, ns string, t corev1alpha1.BreakGlassTargetStatus, cloudToo bool) (comparison, error) {
	live := &unstructured.Unstructured{}
	live.SetAPIVersion(t.APIVersion)
	live.SetKind(t.Kind)
	if err := r.client.Get(ctx, client.ObjectKey{Namespace: ns, Name: t.Name}, live); err != nil {
		if apierrors.IsNotFound(err) || meta.IsNoMatchError(err) {
			return comparison{gone: true, message: "the object was deleted"}, nil
		}
		return comparison{}, err
	}
	if t.Instance != "" {
		return r.compareChild(ctx, t, live, cloudToo)
	}
	src := live.GetLabels()[corev1alpha1.SourceLabel]
	if src == "" {
		return comparison{message: "git does not manage this object: nothing to compare"}, nil
	}
	gsNS, gsName, ok := strings.Cut(src, ".")
	if !ok {
		return comparison{}, fmt.Errorf("label %s=%q does not name a GitSource", corev1alpha1.SourceLabel, src)
	}
	gs := &corev1alpha1.GitSource{}
	if err := r.client.Get(ctx, client.ObjectKey{Namespace: gsNS, Name: gsName}, gs); err != nil {
		return comparison{}, fmt.Errorf("reading GitSource %s/%s: %w", gsNS, gsName, err)
	}
	objs, rev, err := git.desired(ctx, gs)
	if err != nil {
		return comparison{}, fmt.Errorf("reading git for GitSource %s/%s: %w", gsNS, gsName, err)
	}
	c := comparison{source: src, revision: rev.String()}
	gv, _ := schema.ParseGroupVersion(t.APIVersion)
	var want *unstructured.Unstructured
	for _, o := range objs {
		if o.GroupVersionKind().Group == gv.Group && o.GetKind() == t.Kind && o.GetName() == t.Name && o.GetNamespace() == ns {
			want = o
			break
		}
	}
	if want == nil {
		c.fields = []corev1alpha1.DivergedField{{Path: "(object)", Git: "absent", Object: "present"}}
		c.message = fmt.Sprintf("git (%s) no longer has this object", rev.Short())
		return c, nil
	}
	dry := want.DeepCopy()
	if err := r.client.Patch(ctx, dry, client.Apply, client.DryRunAll, client.ForceOwnership, client.FieldOwner(gitops.FieldManager)); err != nil {
		return comparison{}, fmt.Errorf("dry-run of git's %s/%s: %w", t.Kind, t.Name, err)
	}
	var paths []string
	var cloudChanged bool
	c.fields, paths, cloudChanged = divergedFields(dry, live, cloudToo)
	if c.diverged() {
		c.message = fmt.Sprintf("differs from git (%s) in %s", rev.Short(), strings.Join(paths, ", "))
		if cloudChanged {
			c.message += "; the cloud was changed directly (actuation was paused), so actuation stays paused while held: to keep the cloud's values put them in git and revert (git wins, the cloud keeps them), or revert to put the cloud back to git"
		}
	}
	return c, nil
}

// divergedFields compares the spec of want (what a write would make: a
// dry-run result) with the live object's, field by field; the Git column
// is want's value. With cloudToo, fields where the cloud differs from the
// object (status.drift) count as well, and cloudChanged says there were
// such.
func divergedFields(want, live *unstructured.Unstructured, cloudToo bool) (fields []corev1alpha1.DivergedField, paths []string, cloudChanged bool) {
	gitSpec, _, _ := unstructured.NestedMap(want.Object, "spec")
	objSpec, _, _ := unstructured.NestedMap(live.Object, "spec")
	diffLeaves("spec", gitSpec, objSpec, &paths)
	slices.Sort(paths)
	cloud := cloudValues(live)
	if cloudToo {
		for p := range cloud {
			if !slices.Contains(paths, p) {
				paths = append(paths, p)
			}
		}
		slices.Sort(paths)
		cloudChanged = len(cloud) > 0
	}
	for _, p := range paths {
		f := corev1alpha1.DivergedField{Path: p, Git: jsonAt(gitSpec, p), Object: jsonAt(objSpec, p)}
		if v, ok := cloud[p]; ok {
			f.Cloud = v
		} else if synced(live) {
			f.Cloud = f.Object
		}
		fields = append(fields, f)
	}
	return fields, paths, cloudChanged
}

// diffLeaves lists the paths (below prefix) where a and b differ: maps are
// walked, anything else (lists included) compared whole.
func diffLeaves(prefix string, a, b map[string]any, out *[]string) {
	keys := map[string]bool{}
	for k := range a {
		keys[k] = true
	}
	for k := range b {
		keys[k] = true
	}
	for k := range keys {
		p := prefix + "." + k
		am, aok := a[k].(map[string]any)
		bm, bok := b[k].(map[string]any)
		if aok && bok {
			diffLeaves(p, am, bm, out)
			continue
		}
		if !reflect.DeepEqual(a[k], b[k]) {
			*out = append(*out, p)
		}
	}
}

// jsonAt renders the value at a dotted path below spec as JSON ("" when
// unset).
func jsonAt(spec map[string]any, path string) string {
	parts := strings.Split(strings.TrimPrefix(path, "spec."), ".")
	v, ok, _ := unstructured.NestedFieldNoCopy(spec, parts...)
	if !ok {
		return ""
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// cloudValues are the cloud's values of drifted fields (status.drift).
func cloudValues(live *unstructured.Unstructured) map[string]string {
	drift, _, _ := unstructured.NestedSlice(live.Object, "status", "drift")
	out := map[string]string{}
	for _, d := range drift {
		m, ok := d.(map[string]any)
		if !ok {
			continue
		}
		f, _ := m["field"].(string)
		a, _ := m["actual"].(string)
		if f != "" {
			out[f] = a
		}
	}
	return out
}

// synced reports Synced=True: the cloud matched the spec on the last read
// (apart from status.drift).
func synced(live *unstructured.Unstructured) bool {
	conds, _, _ := unstructured.NestedSlice(live.Object, "status", "conditions")
	for _, c := range conds {
		m, ok := c.(map[string]any)
		if ok && m["type"] == "Synced" {
			return m["status"] == "True"
		}
	}
	return false
}
