package breakglass_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
	"github.com/infraplane/infraplane/internal/testenv"
)

// A Blueprint the platform GitSource applied is guarded like any object
// from git: a platform admin's direct edit or delete is refused, with
// where to change it instead (a break-glass cannot cover cluster-scoped
// objects).
func TestGitManagedBlueprintIsGuarded(t *testing.T) {
	ctx := context.Background()
	role := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "infraplane-test-platform"},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{"infraplane.dev"}, Resources: []string{"blueprints"}, Verbs: []string{"get", "list", "watch", "update", "patch", "delete"}}},
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "infraplane-test-platform"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: "platform"}},
	}
	for _, o := range []client.Object{role, binding} {
		if err := env.Client.Create(ctx, o); err != nil && !strings.Contains(err.Error(), "already exists") {
			t.Fatal(err)
		}
	}
	carol := userClient(t, "carol@example.com", "platform")
	// The platform GitSource the Blueprint's label names (suspended: the
	// Blueprint is made here): a GitSource that does not exist guards nothing.
	platformNS := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "infraplane-system"}}
	if err := env.Client.Create(ctx, platformNS); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	src := &corev1alpha1.GitSource{ObjectMeta: metav1.ObjectMeta{Name: "platform", Namespace: "infraplane-system"},
		Spec: corev1alpha1.GitSourceSpec{URL: "/nonexistent", Suspend: true}}
	if err := env.Client.Create(ctx, src); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), src) })

	bp := &corev1alpha1.Blueprint{
		ObjectMeta: metav1.ObjectMeta{Name: "guarded", Labels: map[string]string{corev1alpha1.SourceLabel: "infraplane-system.platform"}},
		Spec: corev1alpha1.BlueprintSpec{
			Group: "guard.infraplane.dev", Version: "v1alpha1", Kind: "Guarded",
			Schema: runtime.RawExtension{Raw: []byte(`{"type":"object","properties":{"team":{"type":"string"}}}`)},
			Resources: []corev1alpha1.BlueprintResource{{ID: "topic", Template: runtime.RawExtension{Raw: []byte(
				`{"apiVersion":"pubsub.infraplane.dev/v1alpha1","kind":"Topic","metadata":{"name":"${metadata.name}"}}`)}}},
		},
	}
	env.Create(t, bp)
	t.Cleanup(func() { _ = env.Client.Delete(ctx, bp) })

	// The webhook configuration may be re-registered as Blueprints come:
	// wait until the edit is refused.
	var err error
	testenv.Eventually(t, testenv.WaitTimeout, func() error {
		live := &corev1alpha1.Blueprint{}
		if gerr := carol.Get(ctx, client.ObjectKeyFromObject(bp), live); gerr != nil {
			return gerr
		}
		live.Spec.Rollout = &corev1alpha1.BlueprintRollout{Paused: true}
		live.Spec.Plural = ""
		live.Spec.Schema = runtime.RawExtension{Raw: []byte(`{"type":"object","properties":{"team":{"type":"string"},"tier":{"type":"string"}}}`)}
		err = carol.Update(ctx, live)
		switch {
		case err == nil:
			return fmt.Errorf("a direct edit of a git-managed Blueprint was allowed")
		case apierrors.IsConflict(err):
			return err // the controller wrote in between: again
		}
		return nil
	})
	for _, want := range []string{"Blueprint/guarded is managed by git (GitSource infraplane-system/platform)", "infraplane fleet plan"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("refusal does not say %q: %v", want, err)
		}
	}
	if err := carol.Delete(ctx, bp); err == nil || !strings.Contains(err.Error(), "managed by git") {
		t.Errorf("delete: %v", err)
	}
	// Pausing its rollout (infraplane fleet pause) is allowed.
	testenv.Eventually(t, testenv.WaitTimeout, func() error {
		live := &corev1alpha1.Blueprint{}
		if err := carol.Get(ctx, client.ObjectKeyFromObject(bp), live); err != nil {
			return err
		}
		live.Spec.Rollout = &corev1alpha1.BlueprintRollout{Paused: true}
		return carol.Update(ctx, live)
	})
}
