// Package tenant onboards a team: its namespace (and the ProviderConfig it
// uses), who of its people may do what there (RoleBindings to the
// infraplane ClusterRoles, never ClusterRoleBindings), the ServiceAccount
// its repository applies as, and its GitSource. `infraplane tenant create`,
// `infraplane up` (for its one default namespace) and the tests use it, so
// there is one definition of what a team gets.
package tenant

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
	"github.com/infraplane/infraplane/config/rbac"
	"github.com/infraplane/infraplane/internal/gitops"
)

// The ClusterRoles of config/rbac/people.yaml a team's bindings refer to.
const (
	ViewerRole         = "infraplane-viewer"
	EditorRole         = "infraplane-editor"
	OncallRole         = "infraplane-oncall"
	SyncerRole         = "infraplane-gitops"
	PlatformSyncerRole = "infraplane-gitops-platform"
)

// TenantLabel marks what onboarding wrote, with the team's name.
const TenantLabel = "infraplane.dev/tenant"

// Team is what a platform team says about a new team.
type Team struct {
	// Namespace is the team's namespace (and its name).
	Namespace string
	// ViewerGroups, EditorGroups and OncallGroups are the identity
	// provider's groups bound to the viewer, editor and on-call roles in
	// the namespace.
	ViewerGroups, EditorGroups, OncallGroups []string
	// ProviderConfig the namespace's objects use (annotation); empty: the
	// default one.
	ProviderConfig string
	// Repo, if set, makes a GitSource (named GitSource, default the
	// namespace's name) for the repository: Branch (default main) and Path
	// (default "."), with git credentials from the Secret CredentialsSecret
	// (optional; the platform team creates it).
	Repo, Branch, Path, GitSource, CredentialsSecret string
	// Platform says this is the platform namespace: its syncer may apply
	// Blueprints and target any namespace (a ClusterRoleBinding).
	Platform bool
}

// Objects are what onboarding writes, in the order to write them. The
// GitSource's push-hook Secret is not among them: HookSecret makes it once.
func Objects(t Team) ([]client.Object, error) {
	if t.Namespace == "" {
		return nil, fmt.Errorf("a team needs a namespace")
	}
	labels := map[string]string{TenantLabel: t.Namespace}
	meta := func(name string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: name, Namespace: t.Namespace, Labels: labels}
	}
	ns := &corev1.Namespace{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"},
		ObjectMeta: metav1.ObjectMeta{Name: t.Namespace, Labels: labels},
	}
	if t.ProviderConfig != "" {
		ns.Annotations = map[string]string{corev1alpha1.NamespaceAnnotation: t.ProviderConfig}
	}
	out := []client.Object{ns,
		&corev1.ServiceAccount{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"}, ObjectMeta: meta(gitops.DefaultServiceAccount)},
	}
	syncer := []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: gitops.DefaultServiceAccount, Namespace: t.Namespace}}
	if t.Platform {
		out = append(out, &rbacv1.ClusterRoleBinding{
			TypeMeta:   metav1.TypeMeta{APIVersion: rbacv1.SchemeGroupVersion.String(), Kind: "ClusterRoleBinding"},
			ObjectMeta: metav1.ObjectMeta{Name: PlatformSyncerRole + "-" + t.Namespace, Labels: labels},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: PlatformSyncerRole},
			Subjects:   syncer,
		})
	} else {
		out = append(out, roleBinding(meta(SyncerRole), SyncerRole, syncer))
	}
	for _, b := range []struct {
		role   string
		groups []string
	}{{ViewerRole, t.ViewerGroups}, {EditorRole, t.EditorGroups}, {OncallRole, t.OncallGroups}} {
		if len(b.groups) == 0 {
			continue
		}
		var subjects []rbacv1.Subject
		for _, g := range b.groups {
			subjects = append(subjects, rbacv1.Subject{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: g})
		}
		out = append(out, roleBinding(meta(b.role+"s"), b.role, subjects))
	}
	if t.Repo != "" {
		name := t.GitSource
		if name == "" {
			name = t.Namespace
		}
		branch := t.Branch
		if branch == "" {
			branch = "main"
		}
		gs := &corev1alpha1.GitSource{
			TypeMeta:   metav1.TypeMeta{APIVersion: corev1alpha1.GroupVersion.String(), Kind: "GitSource"},
			ObjectMeta: meta(name),
			Spec: corev1alpha1.GitSourceSpec{
				URL: t.Repo, Ref: corev1alpha1.GitRef{Branch: branch}, Path: t.Path,
				ServiceAccountName: gitops.DefaultServiceAccount,
				WebhookSecretRef:   &corev1alpha1.LocalObjectReference{Name: HookSecretName(name)},
			},
		}
		if t.CredentialsSecret != "" {
			gs.Spec.SecretRef = &corev1alpha1.LocalObjectReference{Name: t.CredentialsSecret}
		}
		out = append(out, gs)
	}
	return out, nil
}

func roleBinding(meta metav1.ObjectMeta, role string, subjects []rbacv1.Subject) *rbacv1.RoleBinding {
	return &rbacv1.RoleBinding{
		TypeMeta:   metav1.TypeMeta{APIVersion: rbacv1.SchemeGroupVersion.String(), Kind: "RoleBinding"},
		ObjectMeta: meta,
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
		Subjects:   subjects,
	}
}

// HookSecretName is the Secret holding a GitSource's push-hook token.
func HookSecretName(gitSource string) string { return gitSource + "-hook" }

// FieldManager is the server-side apply field manager of onboarding.
const FieldManager = "infraplane-tenant"

// Apply writes objs with server-side apply (again and again: it is how a
// team's set-up is corrected), and makes the push-hook Secret of each
// GitSource among them if it does not exist yet (its token is never
// rotated by a re-run).
func Apply(ctx context.Context, c client.Client, objs []client.Object) error {
	for _, o := range objs {
		//nolint:staticcheck // server-side apply of typed objects
		if err := c.Patch(ctx, o, client.Apply, client.FieldOwner(FieldManager), client.ForceOwnership); err != nil {
			return fmt.Errorf("applying %s %s: %w", o.GetObjectKind().GroupVersionKind().Kind, o.GetName(), err)
		}
		if gs, ok := o.(*corev1alpha1.GitSource); ok && gs.Spec.WebhookSecretRef != nil {
			if err := HookSecret(ctx, c, gs.Namespace, gs.Spec.WebhookSecretRef.Name); err != nil {
				return err
			}
		}
	}
	return nil
}

// HookSecret creates the Secret name with a random "token" unless it
// exists.
func HookSecret(ctx context.Context, c client.Client, namespace, name string) error {
	buf := make([]byte, 24)
	if _, err := rand.Read(buf); err != nil {
		return err
	}
	sec := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: map[string]string{TenantLabel: namespace}},
		StringData: map[string]string{"token": hex.EncodeToString(buf)},
	}
	if err := c.Create(ctx, sec); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating the push-hook Secret %s/%s: %w", namespace, name, err)
	}
	return nil
}

// legacyBindings are the cluster-wide bindings of people's roles that
// earlier versions installed: a team's people are bound per namespace now.
var legacyBindings = []string{"infraplane-viewers", "infraplane-editors"}

// InstallRoles applies config/rbac/people.yaml (the ClusterRoles and the
// platform team's binding) and deletes the cluster-wide bindings earlier
// versions made for viewers and editors.
func InstallRoles(ctx context.Context, c client.Client) error {
	var objs []*unstructured.Unstructured
	for _, doc := range strings.Split(string(rbac.People), "\n---\n") {
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
			return fmt.Errorf("config/rbac/people.yaml: %w", err)
		}
		if len(u.Object) > 0 {
			objs = append(objs, u)
		}
	}
	// All at once: none depends on another (a binding may name a role
	// not there yet), and up's start waits for them (each is a round
	// trip the API server spends mostly on work of its own).
	g, gctx := errgroup.WithContext(ctx)
	for _, u := range objs {
		g.Go(func() error {
			//nolint:staticcheck // server-side apply
			if err := c.Patch(gctx, u, client.Apply, client.FieldOwner(FieldManager), client.ForceOwnership); err != nil {
				return fmt.Errorf("applying %s %s: %w", u.GetKind(), u.GetName(), err)
			}
			return nil
		})
	}
	for _, name := range legacyBindings {
		g.Go(func() error {
			b := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name}}
			if err := c.Delete(gctx, b); client.IgnoreNotFound(err) != nil {
				return fmt.Errorf("deleting the cluster-wide binding %s: %w", name, err)
			}
			return nil
		})
	}
	return g.Wait()
}
