package postgres

import (
	"context"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	postgresv1 "github.com/infraplane/infraplane/api/postgres/v1alpha1"
	"github.com/infraplane/infraplane/internal/managed"
)

// BindRole binds the clients (Bind) and makes a change of a password
// Secret wake the Roles that use it, so a new value is applied at once.
func (c *Clients) BindRole(mgr ctrl.Manager, opts *managed.Options) {
	c.Bind(mgr, opts)
	opts.Wake = append(slices.Clone(opts.Wake), PasswordSecretWake(mgr.GetClient()))
}

// PasswordSecretWake maps a Secret to the Roles of its namespace whose
// spec.passwordSecretRef names it.
func PasswordSecretWake(c client.Reader) managed.Wake {
	role := schema.GroupKind{Group: postgresv1.GroupVersion.Group, Kind: "Role"}
	return managed.Wake{
		Source: &corev1.Secret{},
		Map: func(ctx context.Context, gk schema.GroupKind, obj client.Object) []types.NamespacedName {
			if gk != role {
				return nil
			}
			var roles postgresv1.RoleList
			if err := c.List(ctx, &roles, client.InNamespace(obj.GetNamespace())); err != nil {
				return nil
			}
			var out []types.NamespacedName
			for _, r := range roles.Items {
				if ref := r.Spec.PasswordSecretRef; ref != nil && ref.Name == obj.GetName() {
					out = append(out, types.NamespacedName{Namespace: r.Namespace, Name: r.Name})
				}
			}
			return out
		},
	}
}
