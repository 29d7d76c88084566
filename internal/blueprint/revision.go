package blueprint

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
)

// keptRevisions is how many of the newest revisions are kept even when no
// instance runs them (to see what changed, and to roll back by hand).
const keptRevisions = 10

// RevisionName names a Blueprint's revision object.
func RevisionName(blueprint string, revision int64) string {
	return fmt.Sprintf("%s-%d", blueprint, revision)
}

// renderedSpec is the part of a Blueprint spec that decides what
// instances render to; rollout settings are not part of a revision.
func renderedSpec(spec corev1alpha1.BlueprintSpec) corev1alpha1.BlueprintSpec {
	out := *spec.DeepCopy()
	out.Rollout = nil
	return out
}

// revisionHash is the SHA-256 of the rendered spec's JSON (encoding/json
// sorts map keys, so equal specs hash equally).
func revisionHash(spec corev1alpha1.BlueprintSpec) (string, error) {
	b, err := json.Marshal(renderedSpec(spec))
	if err != nil {
		return "", err
	}
	// Schema and templates are raw JSON: normalise their key order too.
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return "", err
	}
	if b, err = json.Marshal(v); err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// ensureRevision returns the Blueprint's revisions (revs, oldest first) with one
// for its current spec: the latest one when its hash matches, else a new
// revision numbered after the latest. Reverting a Blueprint therefore
// makes a new revision too; the rollout moves instances between revisions
// with one hash without waiting.
func (r *Controller) ensureRevision(ctx context.Context, bp *corev1alpha1.Blueprint, hash string, revs []corev1alpha1.BlueprintRevision) ([]corev1alpha1.BlueprintRevision, error) {
	if n := len(revs); n > 0 && revs[n-1].Spec.Hash == hash {
		return revs, nil
	}
	next := int64(1)
	if n := len(revs); n > 0 {
		next = revs[n-1].Spec.Revision + 1
	}
	rev := corev1alpha1.BlueprintRevision{
		TypeMeta: metav1.TypeMeta{APIVersion: corev1alpha1.GroupVersion.String(), Kind: "BlueprintRevision"},
		ObjectMeta: metav1.ObjectMeta{
			Name: RevisionName(bp.Name, next),
			Labels: map[string]string{
				corev1alpha1.BlueprintLabel:         bp.Name,
				corev1alpha1.BlueprintRevisionLabel: strconv.FormatInt(next, 10),
			},
			// Revisions go with their Blueprint.
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: corev1alpha1.GroupVersion.String(), Kind: "Blueprint",
				Name: bp.Name, UID: bp.UID, BlockOwnerDeletion: ptr.To(true),
			}},
		},
		Spec: corev1alpha1.BlueprintRevisionSpec{Blueprint: bp.Name, Revision: next, Hash: hash, Template: renderedSpec(bp.Spec)},
	}
	if err := r.c.Create(ctx, &rev); err != nil {
		if apierrors.IsAlreadyExists(err) {
			// Made by an earlier pass the cache has not seen yet: the
			// same spec is the same revision.
			existing := corev1alpha1.BlueprintRevision{}
			if gerr := r.mgr.GetAPIReader().Get(ctx, client.ObjectKey{Name: rev.Name}, &existing); gerr == nil && existing.Spec.Hash == hash {
				return append(revs, existing), nil
			}
			return nil, fmt.Errorf("revision %s exists already with another spec: retrying once the cache has it", rev.Name)
		}
		return nil, fmt.Errorf("creating revision %s: %w", rev.Name, err)
	}
	return append(revs, rev), nil
}

// pruneRevisions deletes revisions no instance runs, except the newest
// keptRevisions.
func (r *Controller) pruneRevisions(ctx context.Context, revs []corev1alpha1.BlueprintRevision, inUse map[int64]bool) error {
	for i, rev := range revs {
		if i >= len(revs)-keptRevisions || inUse[rev.Spec.Revision] {
			continue
		}
		if err := r.c.Delete(ctx, &revs[i]); client.IgnoreNotFound(err) != nil {
			return err
		}
	}
	return nil
}

// compiledRevision returns a revision compiled, from the kind's cache or
// read and compiled now.
func (ks *kindState) compiledRevision(ctx context.Context, c client.Reader, revision int64) (*Compiled, error) {
	ks.mu.Lock()
	compiled := ks.revisions[revision]
	ks.mu.Unlock()
	if compiled != nil {
		return compiled, nil
	}
	rev := &corev1alpha1.BlueprintRevision{}
	if err := c.Get(ctx, client.ObjectKey{Name: RevisionName(ks.blueprint, revision)}, rev); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("revision %d of Blueprint %s does not exist", revision, ks.blueprint)
		}
		return nil, err
	}
	compiled, err := Compile(&corev1alpha1.Blueprint{ObjectMeta: metav1.ObjectMeta{Name: ks.blueprint}, Spec: rev.Spec.Template})
	if err != nil {
		return nil, fmt.Errorf("revision %d of Blueprint %s does not compile: %w", revision, ks.blueprint, err)
	}
	ks.mu.Lock()
	ks.revisions[revision] = compiled
	ks.mu.Unlock()
	return compiled, nil
}

// revisionOf reads an instance's revision label (0 when it has none).
func revisionOf(o metav1.Object) int64 {
	n, err := strconv.ParseInt(o.GetLabels()[corev1alpha1.BlueprintRevisionLabel], 10, 64)
	if err != nil || n < 1 {
		return 0
	}
	return n
}

// checkSchemaKeepsRevisions refuses a schema change that would break a
// revision instances still run. The CRD has one schema for all instances:
// an instance still on revision 2 is rendered by revision 2's templates
// against the new schema, so a field they read must stay until no
// instance runs revision 2. inUse counts the instances per revision.
func checkSchemaKeepsRevisions(bp *corev1alpha1.Blueprint, revs []corev1alpha1.BlueprintRevision, inUse map[int64]int32) error {
	var problems []string
	for _, rev := range revs {
		n := inUse[rev.Spec.Revision]
		if n == 0 || string(rev.Spec.Template.Schema.Raw) == string(bp.Spec.Schema.Raw) {
			continue
		}
		old := rev.Spec.Template.DeepCopy()
		old.Schema = bp.Spec.Schema
		if _, err := Compile(&corev1alpha1.Blueprint{ObjectMeta: metav1.ObjectMeta{Name: bp.Name}, Spec: *old}); err != nil {
			problems = append(problems, fmt.Sprintf("revision %d, which %d instance(s) still run, does not compile against it: %v", rev.Spec.Revision, n, err))
		}
	}
	if len(problems) == 0 {
		return nil
	}
	return fmt.Errorf("the new schema would break instances on older revisions (the kind has one schema for all its instances): %s; keep what they read in the schema until no instance runs those revisions (infraplane fleet status %s), then remove it",
		strings.Join(problems, "; "), bp.Name)
}

// inUseCounts counts the instances per revision, from a Blueprint's status.
func inUseCounts(st corev1alpha1.BlueprintStatus) map[int64]int32 {
	out := map[int64]int32{}
	for _, c := range st.Revisions {
		out[c.Revision] += c.Instances
	}
	return out
}

// listRevisions lists a Blueprint's revisions, oldest first.
func listRevisions(ctx context.Context, c client.Reader, name string) ([]corev1alpha1.BlueprintRevision, error) {
	list := &corev1alpha1.BlueprintRevisionList{}
	if err := c.List(ctx, list, client.MatchingLabels{corev1alpha1.BlueprintLabel: name}); err != nil {
		return nil, err
	}
	revs := list.Items
	slices.SortFunc(revs, func(a, b corev1alpha1.BlueprintRevision) int { return int(a.Spec.Revision - b.Spec.Revision) })
	return revs, nil
}
