package provider

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
	"github.com/infraplane/infraplane/internal/conditions"
)

// Reasons of a ProviderConfig's Ready condition.
const (
	ReasonValid   = "Valid"
	ReasonInvalid = "Invalid"
)

// invalidRecheck is how often an unusable ProviderConfig is checked again
// (a Secret it names may be created later; Secrets are not watched).
const invalidRecheck = time.Minute

// +kubebuilder:rbac:groups=infraplane.dev,resources=providerconfigs,verbs=get;list;watch
// +kubebuilder:rbac:groups=infraplane.dev,resources=providerconfigs/status,verbs=get;patch

// StatusReconciler reports on each ProviderConfig whether it is usable, in
// the conditions every infraplane kind has (Ready; Stalled when not), so
// kstatus and `kubectl wait` can tell. It checks what can be checked
// without a cloud call: the namespace selector and the Secrets it names.
type StatusReconciler struct {
	client client.Client
	reader client.Reader // uncached: Secrets of any namespace
}

// SetupStatus registers the ProviderConfig status controller.
func SetupStatus(mgr ctrl.Manager) error {
	r := &StatusReconciler{client: mgr.GetClient(), reader: mgr.GetAPIReader()}
	return ctrl.NewControllerManagedBy(mgr).
		Named("ProviderConfigStatus").
		For(&corev1alpha1.ProviderConfig{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Complete(r)
}

// Reconcile checks one ProviderConfig and writes its conditions.
func (r *StatusReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	pc := &corev1alpha1.ProviderConfig{}
	if err := r.client.Get(ctx, req.NamespacedName, pc); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !pc.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}
	problems, err := r.check(ctx, pc)
	if err != nil {
		return ctrl.Result{}, err
	}
	before := pc.DeepCopy()
	conds, gen := &pc.Status.Conditions, pc.Generation
	res := ctrl.Result{}
	if len(problems) == 0 {
		conditions.Set(conds, gen, commonv1.TypeReady, true, ReasonValid, fmt.Sprintf("project %s", pc.Spec.ProjectID))
		conditions.Settled(conds)
	} else {
		msg := strings.Join(problems, "; ")
		conditions.Set(conds, gen, commonv1.TypeReady, false, ReasonInvalid, msg)
		conditions.Stalled(conds, gen, ReasonInvalid, msg)
		res.RequeueAfter = invalidRecheck
	}
	pc.Status.ObservedGeneration = gen
	if equality.Semantic.DeepEqual(before.Status, pc.Status) {
		return res, nil
	}
	if err := r.client.Status().Patch(ctx, pc, client.MergeFrom(before)); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	return res, nil
}

// check lists what makes the ProviderConfig unusable, each naming the
// field and how to fix it.
func (r *StatusReconciler) check(ctx context.Context, pc *corev1alpha1.ProviderConfig) ([]string, error) {
	var problems []string
	if sel := pc.Spec.NamespaceSelector; sel != nil {
		if _, err := metav1.LabelSelectorAsSelector(sel); err != nil {
			problems = append(problems, "spec.namespaceSelector: "+err.Error())
		}
	}
	secret := func(field string, ref *corev1alpha1.SecretReference) error {
		if ref == nil || ref.Name == "" {
			problems = append(problems, field+" is unset")
			return nil
		}
		err := r.reader.Get(ctx, client.ObjectKey{Namespace: ref.Namespace, Name: ref.Name}, &corev1.Secret{})
		if apierrors.IsNotFound(err) {
			problems = append(problems, fmt.Sprintf("%s: Secret %s/%s does not exist", field, ref.Namespace, ref.Name))
			return nil
		}
		return err
	}
	c := pc.Spec.Credentials
	switch c.Source {
	case corev1alpha1.CredentialsSecretKey:
		if err := secret("spec.credentials.secretRef", c.SecretRef); err != nil {
			return nil, err
		}
	case corev1alpha1.CredentialsImpersonate:
		if c.ServiceAccount == "" {
			problems = append(problems, "spec.credentials.serviceAccount is unset (source ImpersonateServiceAccount)")
		}
	}
	if pg := pc.Spec.Postgres; pg != nil {
		if err := secret("spec.postgres.credentialsSecretRef", &pg.CredentialsSecretRef); err != nil {
			return nil, err
		}
	}
	return problems, nil
}
