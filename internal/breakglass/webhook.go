package breakglass

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
	"github.com/infraplane/infraplane/internal/gitops"
)

// Webhook paths.
const (
	MutateBreakGlassPath   = "/breakglass/mutate"
	ValidateBreakGlassPath = "/breakglass/validate"
	GuardPath              = "/managed/guard"
)

// DefaultMaxDuration caps a break-glass unless configured otherwise.
const DefaultMaxDuration = 8 * time.Hour

// Webhook decides who may write what.
type Webhook struct {
	// Index reads break-glasses from the cache.
	Index *Index
	// Live reads without the cache: a break-glass opened a moment ago may
	// not be in the cache yet, and a denial is worth one extra read.
	Live client.Reader
	// Kinds the break-glass may cover.
	Kinds Kinds
	// MaxDuration caps spec.duration (DefaultMaxDuration when 0).
	MaxDuration time.Duration
	// AdminGroups may edit GitOps-managed objects directly without a
	// break-glass (their edits are still recorded). Empty by default.
	AdminGroups []string
	// Exempt users write GitOps-managed objects as part of their job: the
	// syncer and controllers, the API server's own controllers (namespace
	// deletion, garbage collection).
	Exempt []string
	// Edits, if set, records every direct edit of a GitOps-managed object
	// the guard allows, once it is seen on the object (controller mode;
	// see edits.go).
	Edits Recorder
	// ConfirmWithin is how long an allowed edit is watched for
	// (DefaultConfirmWithin when 0).
	ConfirmWithin time.Duration

	edits edits
}

func (w *Webhook) maxDuration() time.Duration {
	if w.MaxDuration > 0 {
		return w.MaxDuration
	}
	return DefaultMaxDuration
}

// MutateBreakGlass stamps who opened, closed, reverted or backported a
// break-glass from the request's authenticated user, and refuses bad
// break-glasses with a message that says what to do.
func (w *Webhook) MutateBreakGlass() admission.Handler {
	return admission.HandlerFunc(func(ctx context.Context, req admission.Request) admission.Response {
		bg := &corev1alpha1.BreakGlass{}
		if err := json.Unmarshal(req.Object.Raw, bg); err != nil {
			return admission.Errored(http.StatusBadRequest, err)
		}
		user := req.UserInfo.Username
		ann := bg.Annotations
		if ann == nil {
			ann = map[string]string{}
		}
		switch req.Operation {
		case admissionv1.Create:
			if msg := w.checkNew(ctx, bg); msg != "" {
				return admission.Denied(msg)
			}
			ann[corev1alpha1.OpenedByAnnotation] = user
			for _, k := range []string{corev1alpha1.ClosedByAnnotation, corev1alpha1.RevertByAnnotation, corev1alpha1.BackportByAnnotation} {
				delete(ann, k)
			}
			if bg.Spec.Closed {
				ann[corev1alpha1.ClosedByAnnotation] = user
			}
		case admissionv1.Update:
			old := &corev1alpha1.BreakGlass{}
			if err := json.Unmarshal(req.OldObject.Raw, old); err != nil {
				return admission.Errored(http.StatusBadRequest, err)
			}
			a, b := old.Spec, bg.Spec
			a.Closed, b.Closed = false, false
			if !reflect.DeepEqual(a, b) {
				return admission.Denied(fmt.Sprintf("break-glass %s: only spec.closed may change once it is open; for another scope, reason or duration close it (`infraplane breakglass close %s`) and open a new one", bg.Name, bg.Name))
			}
			stamp := func(by, what string, changed bool) {
				switch {
				case changed:
					ann[by] = user
				case old.Annotations[by] != "":
					ann[by] = old.Annotations[by]
				default:
					delete(ann, by)
				}
			}
			stamp(corev1alpha1.OpenedByAnnotation, "", false)
			stamp(corev1alpha1.ClosedByAnnotation, "", bg.Spec.Closed && !old.Spec.Closed)
			stamp(corev1alpha1.RevertByAnnotation, "", ann[corev1alpha1.RevertAnnotation] != old.Annotations[corev1alpha1.RevertAnnotation])
			stamp(corev1alpha1.BackportByAnnotation, "", ann[corev1alpha1.BackportAnnotation] != old.Annotations[corev1alpha1.BackportAnnotation])
		default:
			return admission.Allowed("")
		}
		bg.Annotations = ann
		out, err := json.Marshal(bg)
		if err != nil {
			return admission.Errored(http.StatusInternalServerError, err)
		}
		return admission.PatchResponseFromRaw(req.Object.Raw, out)
	})
}

// checkNew returns why a new break-glass is refused, or "".
func (w *Webhook) checkNew(ctx context.Context, bg *corev1alpha1.BreakGlass) string {
	prefix := "break-glass: "
	if bg.Name != "" {
		prefix = "break-glass " + bg.Name + ": "
	}
	if d := bg.Spec.Duration.Duration; d > w.maxDuration() {
		return fmt.Sprintf("%sduration %s is longer than the %s the platform allows (--breakglass-max-duration); open it for less and open another if the incident lasts", prefix, d, w.maxDuration())
	}
	var problems []string
	var covered []*unstructured.Unstructured
	kinds, instanceKinds := coverable(ctx, w.Live, w.Kinds)
	for _, t := range bg.Spec.Targets {
		gvk, ok := kinds.lookup(t.Kind)
		if !ok {
			problems = append(problems, fmt.Sprintf("target %s/%s: unknown kind %q (a break-glass covers %s)", t.Kind, t.Name, t.Kind, describeKinds(w.Kinds, instanceKinds)))
			continue
		}
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(gvk)
		if err := w.Live.Get(ctx, client.ObjectKey{Namespace: bg.Namespace, Name: t.Name}, u); err != nil {
			switch {
			case apierrors.IsNotFound(err):
				problems = append(problems, fmt.Sprintf("target %s/%s: no such %s in namespace %s", t.Kind, t.Name, gvk.Kind, bg.Namespace))
			case meta.IsNoMatchError(err):
				problems = append(problems, fmt.Sprintf("target %s/%s: kind %s is not served yet: is its Blueprint Ready? (kubectl get blueprints)", t.Kind, t.Name, gvk.Kind))
			default:
				problems = append(problems, fmt.Sprintf("target %s/%s: %v", t.Kind, t.Name, err))
			}
			continue
		}
		// A child is covered through its instance, never alone: the
		// instance controller would write it back at once.
		if ref := parentRef(u); ref != nil {
			if _, ok := instanceKinds[ref.Kind]; ok {
				problems = append(problems, fmt.Sprintf("target %s/%s is made by %s/%s (an instance of a Blueprint): open the break-glass on the instance, which covers its children (--target %s/%s)",
					gvk.Kind, t.Name, ref.Kind, ref.Name, strings.ToLower(ref.Kind), ref.Name))
				continue
			}
		}
		covered = append(covered, u)
	}
	if bg.Spec.Selector != nil {
		sel, err := metav1.LabelSelectorAsSelector(bg.Spec.Selector)
		if err != nil {
			problems = append(problems, "selector: "+err.Error())
		} else if sel.Empty() {
			problems = append(problems, "selector: an empty selector would cover every object in the namespace; name the labels")
		} else {
			n := 0
			for _, name := range sortedKinds(kinds) {
				list := &unstructured.UnstructuredList{}
				list.SetGroupVersionKind(kinds[name].GroupVersion().WithKind(name + "List"))
				if err := w.Live.List(ctx, list, client.InNamespace(bg.Namespace), client.MatchingLabelsSelector{Selector: sel}); err != nil {
					continue
				}
				for i := range list.Items {
					covered = append(covered, &list.Items[i])
					n++
				}
			}
			if n == 0 && err == nil {
				problems = append(problems, fmt.Sprintf("selector %s matches no object in namespace %s", sel, bg.Namespace))
			}
		}
	}
	if len(problems) > 0 {
		return prefix + strings.Join(problems, "; ")
	}
	for _, u := range covered {
		if msg := otherGitOpsRefusal(u); msg != "" {
			problems = append(problems, msg)
		}
	}
	if len(problems) > 0 {
		return prefix + strings.Join(problems, "; ")
	}
	// One active break-glass per object: two windows on one object would
	// make "who may edit" and "what diverged" ambiguous.
	for _, u := range covered {
		if other, err := w.Index.activeFrom(ctx, w.Live, u.GetKind(), u); err == nil && other != nil {
			problems = append(problems, fmt.Sprintf("%s/%s is already covered by break-glass %s; use it, or close it first (`infraplane breakglass close %s`)", u.GetKind(), u.GetName(), describe(other), other.Name))
		}
	}
	if len(problems) > 0 {
		return prefix + strings.Join(problems, "; ")
	}
	return ""
}

// ValidateBreakGlass refuses deleting a break-glass that still holds
// objects: the hold, and so the divergence, would be forgotten.
func (w *Webhook) ValidateBreakGlass() admission.Handler {
	return admission.HandlerFunc(func(ctx context.Context, req admission.Request) admission.Response {
		if req.Operation != admissionv1.Delete || len(req.OldObject.Raw) == 0 {
			return admission.Allowed("")
		}
		old := &corev1alpha1.BreakGlass{}
		if err := json.Unmarshal(req.OldObject.Raw, old); err != nil {
			return admission.Errored(http.StatusBadRequest, err)
		}
		if len(old.Status.Held) > 0 {
			return admission.Denied(fmt.Sprintf("break-glass %s holds %s, which differ from git; deleting it would forget that: backport (`infraplane breakglass backport %s`) or revert (`infraplane breakglass revert %s`) first",
				old.Name, strings.Join(old.Status.Held, ", "), old.Name, old.Name))
		}
		return admission.Allowed("")
	})
}

// Guard denies direct writes to the spec of GitOps-managed objects (and
// their deletion), except by the syncer, the opener of an active
// break-glass covering the object, and admin groups.
func (w *Webhook) Guard() admission.Handler {
	return admission.HandlerFunc(func(ctx context.Context, req admission.Request) admission.Response {
		if req.DryRun != nil && *req.DryRun {
			return admission.Allowed("") // changes nothing (infraplane plan runs as people)
		}
		user := req.UserInfo.Username
		if slices.Contains(w.Exempt, user) {
			return admission.Allowed("")
		}
		obj, old := &unstructured.Unstructured{}, &unstructured.Unstructured{}
		if len(req.Object.Raw) > 0 {
			if err := obj.UnmarshalJSON(req.Object.Raw); err != nil {
				return admission.Errored(http.StatusBadRequest, err)
			}
		}
		if len(req.OldObject.Raw) > 0 {
			if err := old.UnmarshalJSON(req.OldObject.Raw); err != nil {
				return admission.Errored(http.StatusBadRequest, err)
			}
		}
		subject := old
		if req.Operation == admissionv1.Create {
			subject = obj
		}
		source := old.GetLabels()[corev1alpha1.SourceLabel]
		if source == "" {
			source = obj.GetLabels()[corev1alpha1.SourceLabel]
		}
		// A child of a GitOps-managed Blueprint instance is guarded like the
		// instance: git holds it through the instance (blueprints.go).
		var inst *unstructured.Unstructured
		if source == "" && req.Operation != admissionv1.Create {
			var err error
			if inst, err = parentInstance(ctx, w.Live, subject); err != nil {
				return admission.Errored(http.StatusInternalServerError, fmt.Errorf("reading the Blueprint instance of %s/%s: %w", req.Kind.Kind, subject.GetName(), err))
			}
			if inst != nil {
				source = inst.GetLabels()[corev1alpha1.SourceLabel]
			}
			if source == "" {
				inst = nil
			}
		}
		if source == "" || (inst == nil && !w.guarded(ctx, req.Kind.Group, req.Kind.Kind)) {
			return admission.Allowed("")
		}
		// The syncer applies as a GitSource's ServiceAccount: its writes to
		// that GitSource's objects are git's, not direct edits. One object
		// has one GitSource: another's syncer is refused.
		if gs := syncerGitSource(req.UserInfo.Username, req.UserInfo.Extra); gs != "" && inst == nil {
			if strings.Replace(gs, "/", ".", 1) == source {
				return admission.Allowed("")
			}
			gsNS, gsName, _ := strings.Cut(source, ".")
			return admission.Denied(fmt.Sprintf("%s/%s is applied by GitSource %s/%s; one object has one GitSource: remove it from one of the two repositories (the other then prunes it or takes it over)",
				req.Kind.Kind, subject.GetName(), gsNS, gsName))
		}
		switch req.Operation {
		case admissionv1.Update:
			if reflect.DeepEqual(old.Object["spec"], obj.Object["spec"]) &&
				old.GetLabels()[corev1alpha1.SourceLabel] == obj.GetLabels()[corev1alpha1.SourceLabel] &&
				(inst == nil || reflect.DeepEqual(parentRef(old), parentRef(obj))) {
				return admission.Allowed("") // metadata only (finalizers, annotations)
			}
		case admissionv1.Delete:
		default:
			return admission.Allowed("")
		}
		kind := req.Kind.Kind
		// A GitSource that is gone guards nothing: its objects are released
		// (the syncer removes the label when it can; this covers the rest).
		if gone, err := w.sourceGone(ctx, source); err != nil {
			return admission.Errored(http.StatusInternalServerError, fmt.Errorf("reading GitSource %s: %w", source, err))
		} else if gone {
			return admission.Allowed("")
		}
		for _, g := range req.UserInfo.Groups {
			if slices.Contains(w.AdminGroups, g) {
				w.recordEdit(req, user, kind, old, obj, "")
				return admission.Allowed("").WithWarnings(fmt.Sprintf("%s/%s is managed by git (GitSource %s): your direct edit as a member of admin group %s is recorded, and the next sync overwrites it", kind, subject.GetName(), source, g))
			}
		}
		// A cluster-scoped object from git (a Blueprint from the platform
		// GitSource): break-glasses are namespaced and cannot cover it.
		// Pausing or tuning its rollout is an operational lever, not the
		// standard git holds: allowed (the syncer does not apply what git
		// leaves unset).
		if subject.GetNamespace() == "" && req.Operation == admissionv1.Update && onlyRolloutChanged(old, obj) {
			return admission.Allowed("").WithWarnings(fmt.Sprintf("%s/%s is managed by git (GitSource %s): only its rollout settings changed; a value git sets comes back at the next sync", kind, subject.GetName(), source))
		}
		if subject.GetNamespace() == "" {
			deniedEdits.WithLabelValues(kind).Inc()
			gsNS, gsName, _ := strings.Cut(source, ".")
			return admission.Denied(fmt.Sprintf("%s/%s is managed by git (GitSource %s/%s): change it in that repository (preview the fleet with infraplane fleet plan) and let the syncer apply it; for an emergency, infraplane fleet pause or rollback it, or a member of an admin group (--breakglass-admin-group) may edit it directly",
				kind, subject.GetName(), gsNS, gsName))
		}
		// A child is covered by name once the break-glass is open, and
		// through its instance before (the targets are not resolved yet).
		active := func(r client.Reader) (*corev1alpha1.BreakGlass, error) {
			bg, err := w.Index.activeFrom(ctx, r, kind, subject)
			if err != nil || bg != nil || inst == nil {
				return bg, err
			}
			return w.Index.activeFrom(ctx, r, inst.GetKind(), inst)
		}
		bg, err := active(nil)
		if err == nil && (bg == nil || OpenedBy(bg) != user) {
			bg, err = active(w.Live) // the cache may lag a break-glass opened just now
		}
		if err != nil {
			return admission.Errored(http.StatusInternalServerError, fmt.Errorf("reading break-glasses: %w", err))
		}
		if bg != nil && OpenedBy(bg) == user {
			w.recordEdit(req, user, kind, old, obj, bg.Name)
			against := "git"
			if inst != nil {
				against = fmt.Sprintf("what the Blueprint renders for %s/%s", inst.GetKind(), inst.GetName())
			}
			return admission.Allowed("").WithWarnings(fmt.Sprintf("break-glass %s: this edit is recorded; when the window closes it is compared with %s", describe(bg), against))
		}
		deniedEdits.WithLabelValues(kind).Inc()
		verb, todo := "edit", "change it in the repository and let the syncer apply it"
		if req.Operation == admissionv1.Delete {
			verb, todo = "delete", "remove it from the repository and let the syncer prune it"
		}
		gsNS, gsName, _ := strings.Cut(source, ".")
		if inst != nil {
			return admission.Denied(childDenied(req.Operation, kind, subject, inst, gsNS, gsName, bg))
		}
		if bg != nil {
			return admission.Denied(fmt.Sprintf("%s/%s is managed by git (GitSource %s/%s) and covered by break-glass %s: only %s may %s it directly; ask them, or change it in git",
				kind, subject.GetName(), gsNS, gsName, describe(bg), OpenedBy(bg), verb))
		}
		return admission.Denied(fmt.Sprintf("%s/%s is managed by git (GitSource %s/%s): %s. In an emergency, open a break-glass first: infraplane breakglass open --namespace %s --target %s/%s --reason \"<incident and why>\" --duration 1h",
			kind, subject.GetName(), gsNS, gsName, todo, subject.GetNamespace(), strings.ToLower(kind), subject.GetName()))
	})
}

// childDenied says why a direct write to a child of a GitOps-managed
// Blueprint instance is refused, and what to do instead.
func childDenied(op admissionv1.Operation, kind string, child, inst *unstructured.Unstructured, gsNS, gsName string, bg *corev1alpha1.BreakGlass) string {
	verb, todo := "edit", "change the instance in the repository (or its Blueprint) and let the controllers apply it"
	if op == admissionv1.Delete {
		verb, todo = "delete", "remove the instance from the repository, or the resource from its Blueprint"
	}
	what := fmt.Sprintf("%s/%s is made by %s/%s, an instance of a Blueprint that git manages (GitSource %s/%s)", kind, child.GetName(), inst.GetKind(), inst.GetName(), gsNS, gsName)
	if bg != nil {
		return fmt.Sprintf("%s, and is covered by break-glass %s: only %s may %s it directly; ask them, or change the instance in git", what, describe(bg), OpenedBy(bg), verb)
	}
	return fmt.Sprintf("%s: %s. In an emergency, open a break-glass on the instance (it covers its children) first: infraplane breakglass open --namespace %s --target %s/%s --reason \"<incident and why>\" --duration 1h",
		what, todo, inst.GetNamespace(), strings.ToLower(inst.GetKind()), inst.GetName())
}

// guarded reports whether the guard is about objects of a kind: the
// managed kinds and the Blueprint kinds. Another kind in a group a
// Blueprint shares (the rules name whole groups) is not its business.
// onlyRolloutChanged reports whether two versions of a Blueprint differ
// in spec.rollout at most (and keep their source label).
func onlyRolloutChanged(old, obj *unstructured.Unstructured) bool {
	strip := func(u *unstructured.Unstructured) any {
		spec, _ := u.Object["spec"].(map[string]any)
		out := map[string]any{}
		for k, v := range spec {
			if k != "rollout" {
				out[k] = v
			}
		}
		return out
	}
	return old.GetLabels()[corev1alpha1.SourceLabel] == obj.GetLabels()[corev1alpha1.SourceLabel] &&
		reflect.DeepEqual(strip(old), strip(obj))
}

func (w *Webhook) guarded(ctx context.Context, group, kind string) bool {
	if gvk, ok := w.Kinds[kind]; ok && gvk.Group == group {
		return true
	}
	if group == corev1alpha1.GroupVersion.Group && kind == "Blueprint" {
		return true // applied from git by a platform GitSource
	}
	var list corev1alpha1.BlueprintList
	if err := w.Index.Reader.List(ctx, &list); err != nil {
		return true // not knowing: guard it
	}
	for _, bp := range list.Items {
		if bp.Spec.Group == group && bp.Spec.Kind == kind {
			return true
		}
	}
	return false
}

// syncerGitSource returns the "namespace/name" of the GitSource whose
// syncer made a request, or "": the syncer impersonates the GitSource's
// ServiceAccount and sets the gitops.GitSourceExtra extra, which only an
// identity allowed to impersonate can set. The extra must name a GitSource
// of the ServiceAccount's own namespace.
func syncerGitSource(user string, extra map[string]authenticationv1.ExtraValue) string {
	vals := extra[gitops.GitSourceExtra]
	rest, ok := strings.CutPrefix(user, "system:serviceaccount:")
	if !ok || len(vals) != 1 {
		return ""
	}
	saNS, _, _ := strings.Cut(rest, ":")
	gsNS, _, ok := strings.Cut(vals[0], "/")
	if !ok || gsNS != saNS {
		return ""
	}
	return vals[0]
}

// sourceGone reports whether the GitSource a source label ("ns.name")
// names no longer exists.
func (w *Webhook) sourceGone(ctx context.Context, source string) (bool, error) {
	ns, name, ok := strings.Cut(source, ".")
	if !ok {
		return false, nil
	}
	err := w.Live.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &corev1alpha1.GitSource{})
	if apierrors.IsNotFound(err) {
		return true, nil
	}
	return false, err
}
