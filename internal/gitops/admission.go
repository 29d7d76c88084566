package gitops

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
)

// A GitSource decides what a team's repository does to the cluster and the
// cloud: where it points, with which credentials, as whom, into which
// namespace, how much it may prune. Those are the platform team's to set.
// A team's editor may still ask for a sync now, or confirm a prune the
// mass-deletion guard held: both are annotations, so the editor role has
// "patch" on gitsources and this webhook allows a person without the
// "configure" verb to change those two annotations and nothing else.

// ValidateGitSourcePath is where the GitSource webhook is served.
const ValidateGitSourcePath = "/gitsource/validate"

// ConfigureVerb is the RBAC verb (on gitsources, in the GitSource's
// namespace) needed to change anything of a GitSource but the sync
// annotations. infraplane-platform-admin has it (verbs "*").
const ConfigureVerb = "configure"

// syncAnnotations are what a person without ConfigureVerb may change.
var syncAnnotations = []string{corev1alpha1.RequestSyncAnnotation, corev1alpha1.ConfirmPruneAnnotation}

// ValidateGitSource refuses GitSources that would apply outside their own
// namespace (outside the platform namespace), and changes beyond the sync
// annotations by anyone RBAC does not allow to configure GitSources. authz
// creates SubjectAccessReviews.
func ValidateGitSource(authz client.Client, platformNamespace string) admission.Handler {
	if platformNamespace == "" {
		platformNamespace = DefaultPlatformNamespace
	}
	return admission.HandlerFunc(func(ctx context.Context, req admission.Request) admission.Response {
		gs := &corev1alpha1.GitSource{}
		if err := json.Unmarshal(req.Object.Raw, gs); err != nil {
			return admission.Errored(http.StatusBadRequest, err)
		}
		if t := gs.Spec.TargetNamespace; t != "" && t != req.Namespace && req.Namespace != platformNamespace {
			return admission.Denied(fmt.Sprintf("GitSource %s: spec.targetNamespace %q: a GitSource applies only to its own namespace %q; only GitSources in the platform namespace %q may target another",
				gs.Name, t, req.Namespace, platformNamespace))
		}
		if req.Operation != admissionv1.Update {
			return admission.Allowed("") // creating and deleting are RBAC's verbs already
		}
		old := &corev1alpha1.GitSource{}
		if err := json.Unmarshal(req.OldObject.Raw, old); err != nil {
			return admission.Errored(http.StatusBadRequest, err)
		}
		changed := configChanges(old, gs)
		if len(changed) == 0 {
			return admission.Allowed("")
		}
		ok, err := mayConfigure(ctx, authz, req)
		if err != nil {
			return admission.Errored(http.StatusInternalServerError, fmt.Errorf("asking RBAC whether %s may configure GitSources: %w", req.UserInfo.Username, err))
		}
		if ok {
			return admission.Allowed("")
		}
		return admission.Denied(fmt.Sprintf("GitSource %s: you may request a sync (`infraplane sync %s -n %s`, annotation %s) or confirm a held prune (`infraplane sync %s -n %s --confirm`, annotation %s); "+
			"where a GitSource points, its credentials, target, service account, prune limits and labels are the platform team's (RBAC verb %q on gitsources); refused change of %s",
			gs.Name, gs.Name, gs.Namespace, corev1alpha1.RequestSyncAnnotation, gs.Name, gs.Namespace, corev1alpha1.ConfirmPruneAnnotation, ConfigureVerb, strings.Join(changed, ", ")))
	})
}

// configChanges lists what changed between two versions of a GitSource
// beyond the sync annotations and what the API server maintains.
func configChanges(old, cur *corev1alpha1.GitSource) []string {
	var out []string
	a, b := specFields(old.Spec), specFields(cur.Spec)
	for _, k := range unionKeys(a, b) {
		if !reflect.DeepEqual(a[k], b[k]) {
			out = append(out, "spec."+k)
		}
	}
	strip := func(m map[string]string) map[string]string {
		o := map[string]string{}
		for k, v := range m {
			if !slices.Contains(syncAnnotations, k) && k != "kubectl.kubernetes.io/last-applied-configuration" {
				o[k] = v
			}
		}
		return o
	}
	if !reflect.DeepEqual(strip(old.Annotations), strip(cur.Annotations)) {
		out = append(out, "metadata.annotations")
	}
	if !reflect.DeepEqual(emptyNil(old.Labels), emptyNil(cur.Labels)) {
		out = append(out, "metadata.labels")
	}
	if !slices.Equal(old.Finalizers, cur.Finalizers) {
		out = append(out, "metadata.finalizers")
	}
	if !reflect.DeepEqual(old.OwnerReferences, cur.OwnerReferences) {
		out = append(out, "metadata.ownerReferences")
	}
	return out
}

func specFields(s corev1alpha1.GitSourceSpec) map[string]any {
	b, _ := json.Marshal(s)
	m := map[string]any{}
	_ = json.Unmarshal(b, &m)
	return m
}

func unionKeys(a, b map[string]any) []string {
	var keys []string
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

func emptyNil(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return m
}

// +kubebuilder:rbac:groups=authorization.k8s.io,resources=subjectaccessreviews,verbs=create
// +kubebuilder:rbac:groups=admissionregistration.k8s.io,resources=validatingwebhookconfigurations,verbs=get;list;watch;create
// +kubebuilder:rbac:groups=admissionregistration.k8s.io,resources=validatingwebhookconfigurations,resourceNames=infraplane-gitsources,verbs=update

// mayConfigure asks the API server's authorizer whether the requester may
// configure GitSources in the request's namespace.
func mayConfigure(ctx context.Context, c client.Client, req admission.Request) (bool, error) {
	extra := map[string]authorizationv1.ExtraValue{}
	for k, v := range req.UserInfo.Extra {
		extra[k] = authorizationv1.ExtraValue(v)
	}
	sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User: req.UserInfo.Username, Groups: req.UserInfo.Groups, UID: req.UserInfo.UID, Extra: extra,
		ResourceAttributes: &authorizationv1.ResourceAttributes{
			Namespace: req.Namespace, Verb: ConfigureVerb, Group: corev1alpha1.GroupVersion.Group, Resource: "gitsources", Name: req.Name,
		},
	}}
	if err := c.Create(ctx, sar); err != nil {
		return false, err
	}
	return sar.Status.Allowed, nil
}

// RegisterGitSourceWebhook installs the ValidatingWebhookConfiguration for
// GitSources, calling the webhook server as cc says. Exempt users (the
// controllers, which write only finalizers and status) are not sent to it:
// their writes must not depend on the webhook, nor need the configure verb.
func RegisterGitSourceWebhook(ctx context.Context, c client.Client, cc admissionregistrationv1.WebhookClientConfig, exempt []string) error {
	val := &admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "infraplane-gitsources"}}
	var conds []admissionregistrationv1.MatchCondition
	if len(exempt) > 0 {
		quoted := make([]string, len(exempt))
		for i, u := range exempt {
			quoted[i] = strconv.Quote(u)
		}
		conds = []admissionregistrationv1.MatchCondition{{Name: "not-infraplane", Expression: fmt.Sprintf("!(request.userInfo.username in [%s])", strings.Join(quoted, ", "))}}
	}
	_, err := controllerutil.CreateOrUpdate(ctx, c, val, func() error {
		val.Webhooks = []admissionregistrationv1.ValidatingWebhook{{
			Name:         "validate.gitsource.infraplane.dev",
			ClientConfig: cc,
			Rules: []admissionregistrationv1.RuleWithOperations{{
				Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update},
				Rule: admissionregistrationv1.Rule{
					APIGroups: []string{corev1alpha1.GroupVersion.Group}, APIVersions: []string{"*"},
					Resources: []string{"gitsources"}, Scope: ptr.To(admissionregistrationv1.NamespacedScope),
				},
			}},
			FailurePolicy:           ptr.To(admissionregistrationv1.Fail),
			SideEffects:             ptr.To(admissionregistrationv1.SideEffectClassNone),
			AdmissionReviewVersions: []string{"v1"},
			MatchConditions:         conds,
			TimeoutSeconds:          ptr.To[int32](10),
		}}
		return nil
	})
	if err != nil {
		return fmt.Errorf("installing ValidatingWebhookConfiguration infraplane-gitsources: %w", err)
	}
	return nil
}
