package blueprint

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
	"github.com/infraplane/infraplane/internal/breakglass"
)

// ValidatePath serves the Blueprint validation webhook.
const ValidatePath = "/blueprint/validate"

// WebhookConfigName names the ValidatingWebhookConfiguration.
const WebhookConfigName = "infraplane-blueprint"

// Validate refuses a Blueprint that does not compile, naming each
// resource, field and expression at fault, and (with a reader) a schema
// change that would break the revisions instances still run.
func Validate(reader client.Reader) admission.Handler {
	return admission.HandlerFunc(func(ctx context.Context, req admission.Request) admission.Response {
		bp := &corev1alpha1.Blueprint{}
		if err := json.Unmarshal(req.Object.Raw, bp); err != nil {
			return admission.Errored(http.StatusBadRequest, err)
		}
		if len(req.OldObject.Raw) > 0 {
			old := &corev1alpha1.Blueprint{}
			if err := json.Unmarshal(req.OldObject.Raw, old); err != nil {
				return admission.Errored(http.StatusBadRequest, err)
			}
			if from, to := old.Spec.GroupVersionKind(), bp.Spec.GroupVersionKind(); from != to || old.Spec.Plural != bp.Spec.Plural {
				return admission.Denied(fmt.Sprintf("Blueprint %s: group, version, kind and plural cannot change (from %s to %s): create a new Blueprint", bp.Name, from, to))
			}
		}
		if _, err := Compile(bp); err != nil {
			return admission.Denied(fmt.Sprintf("Blueprint %s does not compile: %v", bp.Name, err))
		}
		if len(req.OldObject.Raw) > 0 && reader != nil {
			old := &corev1alpha1.Blueprint{}
			if err := json.Unmarshal(req.OldObject.Raw, old); err != nil {
				return admission.Errored(http.StatusBadRequest, err)
			}
			revs, err := listRevisions(ctx, reader, bp.Name)
			if err != nil {
				return admission.Errored(http.StatusInternalServerError, err)
			}
			if err := checkSchemaKeepsRevisions(bp, revs, inUseCounts(old.Status)); err != nil {
				return admission.Denied(fmt.Sprintf("Blueprint %s: %v", bp.Name, err))
			}
		}
		return admission.Allowed("")
	})
}

// Webhook is the validation webhook, served by the break-glass webhook
// server.
func Webhook(reader client.Reader) breakglass.ExtraWebhook {
	return breakglass.ExtraWebhook{Path: ValidatePath, Handler: Validate(reader), Register: Register}
}

// +kubebuilder:rbac:groups=admissionregistration.k8s.io,resources=validatingwebhookconfigurations,verbs=get;list;watch;create
// +kubebuilder:rbac:groups=admissionregistration.k8s.io,resources=validatingwebhookconfigurations,resourceNames=infraplane-blueprint,verbs=update

// Register installs the ValidatingWebhookConfiguration for Blueprints.
func Register(ctx context.Context, c client.Client, ep breakglass.Endpoint) error {
	val := &admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: WebhookConfigName}}
	_, err := controllerutil.CreateOrUpdate(ctx, c, val, func() error {
		val.Webhooks = []admissionregistrationv1.ValidatingWebhook{{
			Name:         "validate.blueprint.infraplane.dev",
			ClientConfig: ep.ClientConfig(ValidatePath),
			Rules: []admissionregistrationv1.RuleWithOperations{{
				Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update},
				Rule: admissionregistrationv1.Rule{
					APIGroups: []string{corev1alpha1.GroupVersion.Group}, APIVersions: []string{"*"},
					Resources: []string{"blueprints"}, Scope: ptr.To(admissionregistrationv1.ClusterScope),
				},
			}},
			FailurePolicy:           ptr.To(admissionregistrationv1.Fail),
			SideEffects:             ptr.To(admissionregistrationv1.SideEffectClassNone),
			AdmissionReviewVersions: []string{"v1"},
			TimeoutSeconds:          ptr.To[int32](10),
		}}
		return nil
	})
	if err != nil {
		return fmt.Errorf("installing ValidatingWebhookConfiguration %s: %w", WebhookConfigName, err)
	}
	return nil
}
