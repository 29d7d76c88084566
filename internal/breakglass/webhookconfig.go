package breakglass

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
)

// The controller registers its webhooks itself (every replica, at start,
// and again when Blueprints change the guarded API groups): read through
// the cache, create, and update only its own configurations.
//
// +kubebuilder:rbac:groups=admissionregistration.k8s.io,resources=validatingwebhookconfigurations;mutatingwebhookconfigurations,verbs=get;list;watch;create
// +kubebuilder:rbac:groups=admissionregistration.k8s.io,resources=validatingwebhookconfigurations;mutatingwebhookconfigurations,resourceNames=infraplane-breakglass,verbs=update

// WebhookConfigName names both webhook configurations infraplane installs.
const WebhookConfigName = "infraplane-breakglass"

// Endpoint says how the API server reaches the webhook server: a URL
// (loopback in `infraplane up`) or a Service (in a cluster), and the CA
// that signed its serving certificate.
type Endpoint struct {
	URL      string // base URL, e.g. https://127.0.0.1:9443
	Service  *admissionregistrationv1.ServiceReference
	CABundle []byte
	// Rotated, if set, delivers a new CABundle (a renewed CA): the
	// configurations are installed again with it.
	Rotated <-chan []byte
}

// ClientConfig is how the API server calls the handler at path.
func (e Endpoint) ClientConfig(path string) admissionregistrationv1.WebhookClientConfig {
	return e.clientConfig(path)
}

func (e Endpoint) clientConfig(path string) admissionregistrationv1.WebhookClientConfig {
	cc := admissionregistrationv1.WebhookClientConfig{CABundle: e.CABundle}
	if e.Service != nil {
		s := *e.Service
		s.Path = ptr.To(path)
		cc.Service = &s
	} else {
		cc.URL = ptr.To(strings.TrimSuffix(e.URL, "/") + path)
	}
	return cc
}

// exemptCondition skips the webhook for infraplane's own identities and the
// API server's controllers: their writes are the system working, and they
// must not depend on the webhook being up.
func exemptCondition(exempt []string) []admissionregistrationv1.MatchCondition {
	if len(exempt) == 0 {
		return nil
	}
	quoted := make([]string, len(exempt))
	for i, u := range exempt {
		quoted[i] = fmt.Sprintf("%q", u)
	}
	return []admissionregistrationv1.MatchCondition{{
		Name:       "not-infraplane-or-system",
		Expression: fmt.Sprintf("!(request.userInfo.username in [%s])", strings.Join(quoted, ", ")),
	}}
}

// Register installs (or updates) the webhook configurations: BreakGlass
// stamping and validation, and the guard on the objects of every managed
// kind and Blueprint kind that carry a GitSource's label, and on
// Blueprint children.
func Register(ctx context.Context, c client.Client, ep Endpoint, kinds Kinds, exempt []string) error {
	fail := ptr.To(admissionregistrationv1.Fail)
	none := ptr.To(admissionregistrationv1.SideEffectClassNone)
	bgRule := func(ops ...admissionregistrationv1.OperationType) []admissionregistrationv1.RuleWithOperations {
		return []admissionregistrationv1.RuleWithOperations{{
			Operations: ops,
			Rule: admissionregistrationv1.Rule{
				APIGroups: []string{corev1alpha1.GroupVersion.Group}, APIVersions: []string{"*"},
				Resources: []string{"breakglasses"}, Scope: ptr.To(admissionregistrationv1.NamespacedScope),
			},
		}}
	}
	groups := guardedGroups(ctx, c, kinds)
	// GitOps-managed objects, and Blueprint children (guarded when their
	// instance is GitOps-managed: the handler reads it).
	hasLabel := func(l string) string {
		return fmt.Sprintf("(object != null && has(object.metadata.labels) && %[1]q in object.metadata.labels) || (oldObject != null && has(oldObject.metadata.labels) && %[1]q in oldObject.metadata.labels)", l)
	}
	hasSource := hasLabel(corev1alpha1.SourceLabel) + " || " + hasLabel(corev1alpha1.BlueprintInstanceLabel)

	mut := &admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: WebhookConfigName}}
	if _, err := controllerutil.CreateOrUpdate(ctx, c, mut, func() error {
		mut.Webhooks = []admissionregistrationv1.MutatingWebhook{{
			Name:                    "stamp.breakglass.infraplane.dev",
			ClientConfig:            ep.clientConfig(MutateBreakGlassPath),
			Rules:                   bgRule(admissionregistrationv1.Create, admissionregistrationv1.Update),
			FailurePolicy:           fail,
			SideEffects:             none,
			AdmissionReviewVersions: []string{"v1"},
			MatchConditions:         exemptCondition(exempt),
			TimeoutSeconds:          ptr.To[int32](10),
		}}
		return nil
	}); err != nil {
		return fmt.Errorf("installing MutatingWebhookConfiguration %s: %w", WebhookConfigName, err)
	}
	val := &admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: WebhookConfigName}}
	if _, err := controllerutil.CreateOrUpdate(ctx, c, val, func() error {
		val.Webhooks = []admissionregistrationv1.ValidatingWebhook{
			{
				Name:                    "delete.breakglass.infraplane.dev",
				ClientConfig:            ep.clientConfig(ValidateBreakGlassPath),
				Rules:                   bgRule(admissionregistrationv1.Delete),
				FailurePolicy:           fail,
				SideEffects:             none,
				AdmissionReviewVersions: []string{"v1"},
				MatchConditions:         exemptCondition(exempt),
				TimeoutSeconds:          ptr.To[int32](10),
			},
			{
				Name:         "guard.managed.infraplane.dev",
				ClientConfig: ep.clientConfig(GuardPath),
				Rules: []admissionregistrationv1.RuleWithOperations{{
					Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Update, admissionregistrationv1.Delete},
					Rule: admissionregistrationv1.Rule{
						APIGroups: groups, APIVersions: []string{"*"}, Resources: []string{"*"},
						Scope: ptr.To(admissionregistrationv1.NamespacedScope),
					},
				}, {
					// Blueprints a platform GitSource applied.
					Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Update, admissionregistrationv1.Delete},
					Rule: admissionregistrationv1.Rule{
						APIGroups: []string{corev1alpha1.GroupVersion.Group}, APIVersions: []string{"*"}, Resources: []string{"blueprints"},
						Scope: ptr.To(admissionregistrationv1.ClusterScope),
					},
				}},
				FailurePolicy:           fail,
				SideEffects:             none,
				AdmissionReviewVersions: []string{"v1"},
				MatchConditions: append(exemptCondition(exempt), admissionregistrationv1.MatchCondition{
					Name: "managed-by-git", Expression: hasSource,
				}),
				TimeoutSeconds: ptr.To[int32](10),
			},
		}
		return nil
	}); err != nil {
		return fmt.Errorf("installing ValidatingWebhookConfiguration %s: %w", WebhookConfigName, err)
	}
	return nil
}

// guardedGroups are the API groups the guard watches: the managed kinds'
// and those of the kinds Blueprints define (their instances are
// GitOps-managed like any other object).
func guardedGroups(ctx context.Context, c client.Reader, kinds Kinds) []string {
	var groups []string
	add := func(k Kinds) {
		for _, gvk := range k {
			if !slices.Contains(groups, gvk.Group) {
				groups = append(groups, gvk.Group)
			}
		}
	}
	add(kinds)
	add(blueprintKinds(ctx, c, kinds))
	slices.Sort(groups)
	return groups
}

// guardGroups installs the webhook configurations again when Blueprints
// add or remove an API group: Blueprints come and go while infraplane
// runs, and a rule cannot name a group it does not know.
type guardGroups struct {
	c      client.Client
	ep     Endpoint
	kinds  Kinds
	exempt []string
	// registered is closed once the webhook server answers and the first
	// registration is done: before that, no rule may point at it.
	registered <-chan struct{}

	mu   sync.Mutex
	last string
}

// rotate installs the configurations again with a new CA bundle, and
// keeps it for later installs.
func (g *guardGroups) rotate(ctx context.Context, bundle []byte, extra func(context.Context, Endpoint) error) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.ep.CABundle = bundle
	if err := Register(ctx, g.c, g.ep, g.kinds, g.exempt); err != nil {
		return err
	}
	return extra(ctx, g.ep)
}

func (g *guardGroups) Reconcile(ctx context.Context, _ reconcile.Request) (reconcile.Result, error) {
	select {
	case <-g.registered:
	default:
		return reconcile.Result{RequeueAfter: time.Second}, nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	groups := strings.Join(guardedGroups(ctx, g.c, g.kinds), ",")
	if groups == g.last {
		return reconcile.Result{}, nil
	}
	if err := Register(ctx, g.c, g.ep, g.kinds, g.exempt); err != nil {
		return reconcile.Result{}, err
	}
	g.last = groups
	return reconcile.Result{}, nil
}
