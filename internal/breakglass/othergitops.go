package breakglass

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
)

// Objects that another GitOps tool applies (docs/breakglass.md, "With
// Flux and Argo CD"). An object carrying infraplane's own source label is
// infraplane's, whatever other labels it has.

// Flux's marks and its per-object switch.
const (
	fluxKustomizationName      = "kustomize.toolkit.fluxcd.io/name"
	fluxKustomizationNamespace = "kustomize.toolkit.fluxcd.io/namespace"
	fluxHelmReleaseName        = "helm.toolkit.fluxcd.io/name"
	fluxHelmReleaseNamespace   = "helm.toolkit.fluxcd.io/namespace"

	// FluxReconcileAnnotation set to FluxReconcileDisabled on an object in
	// the cluster makes Flux's kustomize-controller leave it alone.
	FluxReconcileAnnotation = "kustomize.toolkit.fluxcd.io/reconcile"
	FluxReconcileDisabled   = "disabled"
	// FluxDisabledByAnnotation names the break-glass that set
	// FluxReconcileAnnotation, so its end removes only what it set.
	FluxDisabledByAnnotation = "breakglass.infraplane.dev/flux-reconcile-disabled-by"
)

// Argo CD's marks: the legacy tracking label and the tracking annotation.
const (
	argoInstanceLabel      = "app.kubernetes.io/instance"
	argoTrackingAnnotation = "argocd.argoproj.io/tracking-id"
)

// TargetReturned: a Flux-managed target whose window ended; Flux applies
// its own source to it again. infraplane cannot compare it with that
// source.
const TargetReturned corev1alpha1.TargetState = "Returned"

// fluxKustomization returns the Flux Kustomization that applied u, if any.
func fluxKustomization(u *unstructured.Unstructured) (ns, name string, ok bool) {
	l := u.GetLabels()
	if l[corev1alpha1.SourceLabel] != "" || l[fluxKustomizationName] == "" {
		return "", "", false
	}
	return l[fluxKustomizationNamespace], l[fluxKustomizationName], true
}

// otherGitOpsRefusal says why a break-glass cannot cover u, or "": Argo CD
// and Flux's helm-controller have no way to leave one object alone, so
// they would undo the edits under the on-call's feet.
func otherGitOpsRefusal(u *unstructured.Unstructured) string {
	l, a := u.GetLabels(), u.GetAnnotations()
	if l[corev1alpha1.SourceLabel] != "" {
		return ""
	}
	obj := u.GetKind() + "/" + u.GetName()
	if name := l[fluxHelmReleaseName]; name != "" {
		ns := l[fluxHelmReleaseNamespace]
		return fmt.Sprintf("%s is managed by Flux HelmRelease %s/%s: helm-controller cannot be told to leave one object alone, so its next upgrade or drift correction would undo a break-glass edit. "+
			"Change it in git; or suspend the release (`flux suspend helmrelease %s -n %s`), edit the object directly (infraplane does not guard objects its own GitSources did not apply), put the change in git, then `flux resume helmrelease %s -n %s`",
			obj, ns, name, name, ns, name, ns)
	}
	app, mark, caveat := "", "", ""
	switch {
	case a[argoTrackingAnnotation] != "":
		// <app>:<group>/<kind>:<namespace>/<name>; <app> is <namespace>_<name> for Applications outside Argo CD's namespace.
		app, _, _ = strings.Cut(a[argoTrackingAnnotation], ":")
		mark = "annotation " + argoTrackingAnnotation
	case l[argoInstanceLabel] != "":
		app, mark = l[argoInstanceLabel], "label "+argoInstanceLabel
		// The label is also Helm's convention; say how to get past a false match.
		caveat = fmt.Sprintf(" (Helm charts set %s too: if Argo CD does not manage this object, remove that label and open the break-glass again.)", argoInstanceLabel)
	default:
		return ""
	}
	return fmt.Sprintf("%s is managed by Argo CD Application %q (%s): Argo CD cannot be told to skip one object, and with automated sync and self-heal it reverts a direct edit at once, so a break-glass would not hold. "+
		"Change it in git; or turn automated sync off for the Application (`argocd app set %s --sync-policy none`), edit the object directly (infraplane does not guard objects its own GitSources did not apply), put the change in git, then turn automated sync on again.%s",
		obj, app, mark, app, caveat)
}

// targetObject reads a target; nil when it is gone.
func (r *Reconciler) targetObject(ctx context.Context, ns string, t corev1alpha1.BreakGlassTargetStatus) (*unstructured.Unstructured, error) {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion(t.APIVersion)
	u.SetKind(t.Kind)
	if err := r.client.Get(ctx, client.ObjectKey{Namespace: ns, Name: t.Name}, u); err != nil {
		return nil, client.IgnoreNotFound(err)
	}
	return u, nil
}

// annotate merge-patches annotations (nil removes one), failing if the
// object changed since it was read.
func (r *Reconciler) annotate(ctx context.Context, u *unstructured.Unstructured, ann map[string]any) error {
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"resourceVersion": u.GetResourceVersion(), "annotations": ann}})
	if err != nil {
		return err
	}
	return r.client.Patch(ctx, u, client.RawPatch(types.MergePatchType, patch))
}

// disableFlux switches Flux's reconcile off on the Flux-managed targets
// for the window, unless someone else already has (then it is left as it
// is). It returns what it did, for the ledger.
func (r *Reconciler) disableFlux(ctx context.Context, bg *corev1alpha1.BreakGlass, targets []corev1alpha1.BreakGlassTargetStatus) ([]string, error) {
	var done []string
	for i := range targets {
		t := &targets[i]
		if t.Instance != "" {
			continue
		}
		u, err := r.targetObject(ctx, bg.Namespace, *t)
		if err != nil {
			return nil, err
		}
		if u == nil {
			continue
		}
		ns, name, ok := fluxKustomization(u)
		if !ok {
			continue
		}
		a := u.GetAnnotations()
		if a[FluxReconcileAnnotation] == FluxReconcileDisabled && a[FluxDisabledByAnnotation] != bg.Name {
			t.Message = fmt.Sprintf("managed by Flux Kustomization %s/%s, whose reconcile of it was already disabled (%s: %s, not set by this break-glass): left as it is", ns, name, FluxReconcileAnnotation, FluxReconcileDisabled)
			continue
		}
		if a[FluxDisabledByAnnotation] != bg.Name {
			if err := r.annotate(ctx, u, map[string]any{FluxReconcileAnnotation: FluxReconcileDisabled, FluxDisabledByAnnotation: bg.Name}); err != nil {
				return nil, fmt.Errorf("disabling Flux's reconcile of %s/%s: %w", t.Kind, t.Name, err)
			}
		}
		t.Message = fmt.Sprintf("managed by Flux Kustomization %s/%s: Flux's reconcile of it is disabled for the window (%s: %s)", ns, name, FluxReconcileAnnotation, FluxReconcileDisabled)
		done = append(done, fmt.Sprintf("%s/%s (Kustomization %s/%s)", t.Kind, t.Name, ns, name))
	}
	return done, nil
}

// enableFlux removes the annotations this break-glass set; it is called
// on every reconcile of an ended break-glass, so a failed attempt is
// retried. It returns the targets it changed.
func (r *Reconciler) enableFlux(ctx context.Context, bg *corev1alpha1.BreakGlass, all bool) ([]string, error) {
	var done []string
	for _, t := range bg.Status.Targets {
		if t.Instance != "" || (!all && t.State != TargetReturned) {
			continue
		}
		u, err := r.targetObject(ctx, bg.Namespace, t)
		if err != nil {
			return done, err
		}
		if u == nil || u.GetAnnotations()[FluxDisabledByAnnotation] != bg.Name {
			continue
		}
		if err := r.annotate(ctx, u, map[string]any{FluxReconcileAnnotation: nil, FluxDisabledByAnnotation: nil}); err != nil {
			return done, fmt.Errorf("enabling Flux's reconcile of %s/%s again: %w", t.Kind, t.Name, err)
		}
		done = append(done, t.Kind+"/"+t.Name)
	}
	return done, nil
}

// judgeFlux sets the end state of a Flux-managed target: infraplane cannot
// read Flux's source, so there is nothing to compare and nothing to hold;
// the report says what Flux will do. ok is false for other targets.
func (r *Reconciler) judgeFlux(ctx context.Context, bg *corev1alpha1.BreakGlass, t *corev1alpha1.BreakGlassTargetStatus) (ok bool, err error) {
	if t.Instance != "" {
		return false, nil
	}
	u, err := r.targetObject(ctx, bg.Namespace, *t)
	if err != nil || u == nil {
		return false, err
	}
	ns, name, ok := fluxKustomization(u)
	if !ok {
		return false, nil
	}
	t.Fields, t.Revision = nil, ""
	t.State = TargetReturned
	if a := u.GetAnnotations(); a[FluxReconcileAnnotation] == FluxReconcileDisabled && a[FluxDisabledByAnnotation] != bg.Name {
		t.Message = fmt.Sprintf("managed by Flux Kustomization %s/%s; its reconcile of this object stays disabled (%s: %s was set by someone else): Flux applies nothing to it until that annotation is removed. infraplane cannot compare it with Flux's source",
			ns, name, FluxReconcileAnnotation, FluxReconcileDisabled)
		return true, nil
	}
	last := ""
	if rev := r.fluxRevision(ctx, ns, name, u); rev != "" {
		t.Revision = rev
		last = " (last applied: " + rev + ")"
	}
	t.Message = fmt.Sprintf("managed by Flux Kustomization %s/%s, not by an infraplane GitSource, so infraplane cannot compare it with git. Flux's reconcile of it is enabled again: at its next reconcile Flux applies its source%s, which undoes this window's edits unless git has them by then. "+
		"To keep them, commit them to the Kustomization's repository; to undo them now, `flux reconcile kustomization %s -n %s`", ns, name, last, name, ns)
	return true, nil
}

// Flux's Kustomizations are read for their last applied revision.
//
// +kubebuilder:rbac:groups=kustomize.toolkit.fluxcd.io,resources=kustomizations,verbs=get

// fluxRevision is the Kustomization's status.lastAppliedRevision, or ""
// when it cannot be read (Flux not installed, no permission) or does not
// list target in its inventory. The labels that name the Kustomization are
// the target's own, which its team can set to anything: without the
// inventory check, a team could read another team's Kustomization through
// a break-glass report.
func (r *Reconciler) fluxRevision(ctx context.Context, ns, name string, target *unstructured.Unstructured) string {
	k := &unstructured.Unstructured{}
	k.SetAPIVersion("kustomize.toolkit.fluxcd.io/v1")
	k.SetKind("Kustomization")
	if err := r.client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, k); err != nil {
		return ""
	}
	// Flux's inventory ids are <namespace>_<name>_<group>_<kind>.
	gvk := target.GroupVersionKind()
	want := target.GetNamespace() + "_" + target.GetName() + "_" + gvk.Group + "_" + gvk.Kind
	entries, _, _ := unstructured.NestedSlice(k.Object, "status", "inventory", "entries")
	listed := false
	for _, e := range entries {
		if m, ok := e.(map[string]any); ok && m["id"] == want {
			listed = true
			break
		}
	}
	if !listed {
		return ""
	}
	rev, _, _ := unstructured.NestedString(k.Object, "status", "lastAppliedRevision")
	return rev
}
