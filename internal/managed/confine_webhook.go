package managed

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/infraplane/infraplane/internal/provider"
)

// ConfinePath is where the confinement webhook is served.
const ConfinePath = "/managed/confine"

// ConfineWebhook refuses, when an object is applied, what the reconciler
// would refuse before any cloud call (confine.go): a namespace its
// ProviderConfig does not select, and references by full name ({external:
// projects/…}) outside the ProviderConfig's project and referenceProjects.
// It is early feedback, not the boundary: the reconciler checks the same
// (and more: where the resource itself lives) on every pass, so the webhook
// is registered with failurePolicy Ignore and never blocks writes when it
// is down.
func ConfineWebhook(providers *provider.Resolver, cache client.Reader) admission.Handler {
	return admission.HandlerFunc(func(ctx context.Context, req admission.Request) admission.Response {
		if req.Namespace == "" || len(req.Object.Raw) == 0 {
			return admission.Allowed("")
		}
		obj := &unstructured.Unstructured{}
		if err := obj.UnmarshalJSON(req.Object.Raw); err != nil {
			return admission.Errored(http.StatusBadRequest, err)
		}
		if !obj.GetDeletionTimestamp().IsZero() {
			return admission.Allowed("") // finalizer removal and status-free updates while deleting
		}
		spec, _ := obj.Object["spec"].(map[string]any)
		refs := ExternalRefs(spec, "spec")
		if req.Operation == admissionv1.Update && len(req.OldObject.Raw) > 0 {
			// An update is judged on the references it changes: other
			// changes (annotations, finalizers, other fields) of an object
			// that fell out of policy stay possible, and the controller
			// reports it.
			old := &unstructured.Unstructured{}
			if err := old.UnmarshalJSON(req.OldObject.Raw); err == nil {
				oldSpec, _ := old.Object["spec"].(map[string]any)
				if slices.Equal(ExternalRefs(oldSpec, "spec"), refs) {
					return admission.Allowed("")
				}
			}
		}
		// A namespace the cache does not have yet would be judged by the
		// default ProviderConfig: leave it to the controller.
		if err := cache.Get(ctx, client.ObjectKey{Name: req.Namespace}, &corev1.Namespace{}); err != nil {
			return admission.Allowed("")
		}
		prov, err := providers.ForNamespace(ctx, req.Namespace)
		if err != nil {
			if errors.As(err, new(*provider.NotPermittedError)) {
				return admission.Denied(fmt.Sprintf("%s %s: %v", req.Kind.Kind, obj.GetName(), err))
			}
			return admission.Allowed("") // the reconciler reports it
		}
		for _, ref := range refs {
			if err := prov.Confine(ref.Field, ref.Name, false); err != nil {
				return admission.Denied(fmt.Sprintf("%s %s: %v", req.Kind.Kind, obj.GetName(), err))
			}
		}
		return admission.Allowed("")
	})
}

// ExternalRef is a reference by full cloud name found in a spec.
type ExternalRef struct{ Field, Name string }

// ExternalRefs finds every {external: …} under a field named …Ref in m
// (an object's spec, with path "spec").
func ExternalRefs(m map[string]any, path string) []ExternalRef {
	var out []ExternalRef
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		child, ok := m[k].(map[string]any)
		if !ok {
			continue
		}
		p := path + "." + k
		if ext, ok := child["external"].(string); ok && ext != "" && strings.HasSuffix(strings.ToLower(k), "ref") {
			out = append(out, ExternalRef{Field: p + ".external", Name: ext})
			continue
		}
		out = append(out, ExternalRefs(child, p)...)
	}
	return out
}

// +kubebuilder:rbac:groups=admissionregistration.k8s.io,resources=validatingwebhookconfigurations,verbs=get;list;watch;create
// +kubebuilder:rbac:groups=admissionregistration.k8s.io,resources=validatingwebhookconfigurations,resourceNames=infraplane-confine,verbs=update

// RegisterConfineWebhook installs the ValidatingWebhookConfiguration for
// the managed kinds' groups, calling the webhook server as cc says; exempt
// users (the controllers) are not sent to it.
func RegisterConfineWebhook(ctx context.Context, c client.Client, cc admissionregistrationv1.WebhookClientConfig, groups []string, exempt []string) error {
	val := &admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "infraplane-confine"}}
	var conds []admissionregistrationv1.MatchCondition
	if len(exempt) > 0 {
		quoted := make([]string, len(exempt))
		for i, u := range exempt {
			quoted[i] = fmt.Sprintf("%q", u)
		}
		conds = []admissionregistrationv1.MatchCondition{{Name: "not-infraplane", Expression: fmt.Sprintf("!(request.userInfo.username in [%s])", strings.Join(quoted, ", "))}}
	}
	_, err := controllerutil.CreateOrUpdate(ctx, c, val, func() error {
		val.Webhooks = []admissionregistrationv1.ValidatingWebhook{{
			Name:         "confine.managed.infraplane.dev",
			ClientConfig: cc,
			Rules: []admissionregistrationv1.RuleWithOperations{{
				Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update},
				Rule: admissionregistrationv1.Rule{
					APIGroups: groups, APIVersions: []string{"*"},
					Resources: []string{"*"}, Scope: ptr.To(admissionregistrationv1.NamespacedScope),
				},
			}},
			// The reconciler enforces the same before any cloud call: a
			// webhook that is down must not stop every write.
			FailurePolicy:           ptr.To(admissionregistrationv1.Ignore),
			SideEffects:             ptr.To(admissionregistrationv1.SideEffectClassNone),
			AdmissionReviewVersions: []string{"v1"},
			MatchConditions:         conds,
			TimeoutSeconds:          ptr.To[int32](5),
		}}
		return nil
	})
	if err != nil {
		return fmt.Errorf("installing ValidatingWebhookConfiguration infraplane-confine: %w", err)
	}
	return nil
}
