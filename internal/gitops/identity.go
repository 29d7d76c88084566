package gitops

import (
	"context"
	"fmt"
	"sync"

	"github.com/fluxcd/pkg/ssa"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
)

// A repository is untrusted input: whatever it holds is applied with the
// rights of a ServiceAccount of the GitSource's own namespace, never with
// the controller's. The syncer impersonates that ServiceAccount for every
// write, dry run and prune, so Kubernetes RBAC (the infraplane-gitops role
// bound in the namespace) decides what a repository may create — the model
// of Flux's multi-tenancy lockdown.

// DefaultServiceAccount is the ServiceAccount a GitSource applies as when
// neither spec.serviceAccountName nor --default-service-account says
// otherwise. `infraplane tenant create` makes it in each team's namespace.
const DefaultServiceAccount = "infraplane-gitops"

// GitSourceExtra is the user extra the syncer sets when it impersonates a
// GitSource's ServiceAccount: the GitSource's "namespace/name". Only an
// identity allowed to impersonate (the controller) can set an extra, so the
// admission guard trusts it to tell the syncer's writes from a person's —
// a Pod running as the same ServiceAccount does not carry it.
const GitSourceExtra = "infraplane.dev/gitsource"

// ServiceAccountUser is the user name of a ServiceAccount.
func ServiceAccountUser(namespace, name string) string {
	return "system:serviceaccount:" + namespace + ":" + name
}

// Impersonating a GitSource's ServiceAccount, with the extra that marks
// the syncer. Groups are not impersonated: for a ServiceAccount the API
// server adds the groups its token would carry, and the right to
// impersonate groups would be the right to be anyone (system:masters).
//
// +kubebuilder:rbac:groups="",resources=serviceaccounts,verbs=impersonate
// +kubebuilder:rbac:groups=authentication.k8s.io,resources=userextras/infraplane.dev/gitsource,verbs=impersonate

// tenant is the identity one sync applies as: a client and a server-side
// apply manager that impersonate the GitSource's ServiceAccount.
type tenant struct {
	user    string // system:serviceaccount:ns:name
	account string // ns/name, for messages
	client  client.Client
	rm      *ssa.ResourceManager
}

// tenants builds and keeps one impersonating client per GitSource identity
// (their HTTP connections are reused from sync to sync).
type tenants struct {
	base   *rest.Config
	scheme *runtime.Scheme
	mapper meta.RESTMapper

	mu      sync.Mutex
	clients map[string]client.Client // key: user + "\x00" + gitsource
}

func newTenants(base *rest.Config, scheme *runtime.Scheme, mapper meta.RESTMapper) *tenants {
	return &tenants{base: base, scheme: scheme, mapper: mapper, clients: map[string]client.Client{}}
}

func (t *tenants) clientFor(namespace, account, gitsource string) (client.Client, error) {
	user := ServiceAccountUser(namespace, account)
	key := user + "\x00" + gitsource
	t.mu.Lock()
	defer t.mu.Unlock()
	if c, ok := t.clients[key]; ok {
		return c, nil
	}
	cfg := rest.CopyConfig(t.base)
	cfg.Impersonate = rest.ImpersonationConfig{
		// No Groups: the API server gives an impersonated ServiceAccount
		// the groups its token would carry (system:serviceaccounts, …:ns,
		// system:authenticated), so RoleBindings to "all service accounts
		// of the namespace" apply as they would.
		UserName: user,
		Extra:    map[string][]string{GitSourceExtra: {gitsource}},
	}
	c, err := client.New(cfg, client.Options{Scheme: t.scheme, Mapper: t.mapper})
	if err != nil {
		return nil, err
	}
	t.clients[key] = c
	return c, nil
}

// identityError is a sync refused because the GitSource has no identity
// to apply as; the message says what to do.
type identityError struct{ msg string }

func (e identityError) Error() string { return e.msg }

// tenantFor resolves the identity gs applies as: spec.serviceAccountName,
// else the controller's default, which must exist in gs's namespace.
func (s *Syncer) tenantFor(ctx context.Context, gs *corev1alpha1.GitSource) (*tenant, error) {
	name := gs.Spec.ServiceAccountName
	if name == "" {
		name = s.opts.DefaultServiceAccount
	}
	if name == "" {
		return nil, identityError{"no ServiceAccount to apply as: set spec.serviceAccountName to a ServiceAccount of this namespace (bound to the infraplane-gitops ClusterRole), or run the controller with --default-service-account"}
	}
	sa := &corev1.ServiceAccount{}
	if err := s.reader.Get(ctx, client.ObjectKey{Namespace: gs.Namespace, Name: name}, sa); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, identityError{fmt.Sprintf("ServiceAccount %s/%s, which this GitSource applies as, does not exist: the platform team creates it and binds its role (`infraplane tenant create %s`, docs/tenancy.md)", gs.Namespace, name, gs.Namespace)}
		}
		return nil, fmt.Errorf("reading ServiceAccount %s/%s: %w", gs.Namespace, name, err)
	}
	c, err := s.tenants.clientFor(gs.Namespace, name, gs.Namespace+"/"+gs.Name)
	if err != nil {
		return nil, err
	}
	rm := ssa.NewResourceManager(c, nil, ssa.Owner{Field: FieldManager, Group: "infraplane.dev"})
	rm.SetConcurrency(8)
	return &tenant{user: ServiceAccountUser(gs.Namespace, name), account: gs.Namespace + "/" + name, client: c, rm: rm}, nil
}

// checkTarget refuses a GitSource that would apply to a namespace other
// than its own: only the platform namespace's sources may.
func (s *Syncer) checkTarget(gs *corev1alpha1.GitSource) error {
	target := gs.Spec.TargetNamespace
	if target == "" || target == gs.Namespace || s.platform(gs) {
		return nil
	}
	return identityError{fmt.Sprintf("spec.targetNamespace %q: a GitSource applies only to its own namespace %q; only GitSources in the platform namespace %q may target another", target, gs.Namespace, s.opts.PlatformNamespace)}
}

// whatTenantsMay says, after an RBAC refusal of a tenant identity, whose
// rights the sync used and what they cover.
func whatTenantsMay(tn *tenant) string {
	return fmt.Sprintf("this GitSource applies as ServiceAccount %s: its role (infraplane-gitops) allows infraplane's kinds, the kinds Blueprints define and ConfigMaps in its own namespace; anything else is the platform team's", tn.account)
}
