package blueprint

import (
	"context"
	"fmt"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
)

// Labels that aggregate a ClusterRole into the people's and the syncer's
// roles (config/rbac/people.yaml).
const (
	AggregateToViewer         = "infraplane.dev/aggregate-to-viewer"
	AggregateToEditor         = "infraplane.dev/aggregate-to-editor"
	AggregateToOncall         = "infraplane.dev/aggregate-to-oncall"
	AggregateToPlatformAdmin  = "infraplane.dev/aggregate-to-platform-admin"
	AggregateToGitOps         = "infraplane.dev/aggregate-to-gitops"
	AggregateToGitOpsPlatform = "infraplane.dev/aggregate-to-gitops-platform"
)

// roles are the ClusterRoles of a Blueprint's kind: view (aggregated into
// every people's role) and edit (into the editors', on-call's and platform
// admins', and the GitOps syncer's), so a team can use the new kind as it
// uses infraplane's own, by hand or from its repository.
// They are owned by the Blueprint and go with it.
func (c *Compiled) roles(bp *corev1alpha1.Blueprint) []*rbacv1.ClusterRole {
	owner := []metav1.OwnerReference{{
		APIVersion: corev1alpha1.GroupVersion.String(), Kind: "Blueprint",
		Name: bp.Name, UID: bp.UID, BlockOwnerDeletion: ptr.To(true),
	}}
	role := func(suffix string, labels map[string]string, verbs ...string) *rbacv1.ClusterRole {
		labels[corev1alpha1.BlueprintLabel] = bp.Name
		return &rbacv1.ClusterRole{
			TypeMeta:   metav1.TypeMeta{APIVersion: rbacv1.SchemeGroupVersion.String(), Kind: "ClusterRole"},
			ObjectMeta: metav1.ObjectMeta{Name: "infraplane-blueprint-" + bp.Name + "-" + suffix, Labels: labels, OwnerReferences: owner},
			Rules: []rbacv1.PolicyRule{{
				APIGroups: []string{c.GVK.Group},
				Resources: []string{c.Plural},
				Verbs:     verbs,
			}},
		}
	}
	return []*rbacv1.ClusterRole{
		role("view", map[string]string{AggregateToViewer: "true", AggregateToEditor: "true", AggregateToOncall: "true", AggregateToPlatformAdmin: "true",
			AggregateToGitOps: "true", AggregateToGitOpsPlatform: "true"}, "get", "list", "watch"),
		role("edit", map[string]string{AggregateToEditor: "true", AggregateToOncall: "true", AggregateToPlatformAdmin: "true",
			AggregateToGitOps: "true", AggregateToGitOpsPlatform: "true"}, "create", "update", "patch", "delete", "deletecollection"),
	}
}

// applyRoles installs the kind's ClusterRoles.
func (r *Controller) applyRoles(ctx context.Context, bp *corev1alpha1.Blueprint, compiled *Compiled) error {
	for _, role := range compiled.roles(bp) {
		//nolint:staticcheck // server-side apply of a typed object
		if err := r.c.Patch(ctx, role, client.Apply, client.FieldOwner(FieldManager), client.ForceOwnership); err != nil {
			return fmt.Errorf("installing ClusterRole %s: %w", role.Name, err)
		}
	}
	return nil
}
