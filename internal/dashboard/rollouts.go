package dashboard

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
)

// The fleet rollout pages: /rollouts, each Blueprint's instances per
// revision and where its rollout stands; /rollouts/{blueprint}, one in
// depth. They show what `infraplane fleet status` prints, read as the
// person: someone who may not list Blueprints is told so.
//
// Tenancy: a Blueprint's status.rollout lists failed instances of every
// team with their messages, and its message names instances too. A
// person who may read only some namespaces sees the failures in those,
// and how many were left out; a message naming an instance elsewhere is
// withheld (docs/dashboard.md).

// Rollout defaults, as the Blueprint controller applies them
// (internal/blueprint: DefaultCanary, DefaultBatchSize,
// DefaultProgressDeadline; not imported, it would link the controllers
// into the dashboard).
const (
	defaultCanary           = 1
	defaultBatchSize        = "25%"
	defaultProgressDeadline = 10 * time.Minute
)

type rolloutView struct {
	Name, Kind, Group string
	Latest, Stable    int64
	Instances, Ready  int32
	// Phase, Revision, Updated, Total, Message: status.rollout; Phase is
	// "" without a rollout.
	Phase    string
	Revision int64
	Updated  int32
	Total    int32
	Message  string
	// MessageWithheld: the message names instances in namespaces the
	// person may not read.
	MessageWithheld bool
	StageStartedAt  *time.Time
	// HaltsAt is when the current stage's instances halt the rollout if
	// they are not Ready by then.
	HaltsAt   *time.Time
	Revisions []revisionView
	Failed    []failureView
	// LeftOut counts failures in namespaces the person may not read.
	LeftOut int
	Stages  []string
	Paused  bool
}

type revisionView struct {
	Revision         int64
	Instances, Ready int32
	Total            int32
	Latest, Stable   bool
}

type failureView struct {
	Namespace, Name, Message, URL string
}

type rolloutsData struct {
	// Forbidden: the person may not list (or read) Blueprints.
	Forbidden  bool
	Blueprints []*rolloutView
	One        *rolloutView
}

// instanceKey finds namespace/name pairs in a rollout message (the way
// the Blueprint controller names instances), preceded by the start or a
// character no name has.
var instanceKey = regexp.MustCompile(`(?:^|[^A-Za-z0-9._/-])([a-z0-9][-a-z0-9]*)/[a-z0-9][-a-z0-9.]*`)

// rolloutViewOf is a Blueprint's rollout as the person may see it.
func rolloutViewOf(b *corev1alpha1.Blueprint, sc *scope) *rolloutView {
	v := &rolloutView{Name: b.Name, Kind: b.Spec.Kind, Group: b.Spec.Group, Latest: b.Status.LatestRevision, Stable: b.Status.StableRevision,
		Instances: b.Status.Instances, Ready: b.Status.ReadyInstances}
	canary, batch, deadline := int32(defaultCanary), defaultBatchSize, defaultProgressDeadline
	if ro := b.Spec.Rollout; ro != nil {
		if ro.Canary != nil {
			canary = *ro.Canary
		}
		if ro.BatchSize != nil {
			batch = ro.BatchSize.String()
		}
		if ro.ProgressDeadline != nil && ro.ProgressDeadline.Duration > 0 {
			deadline = ro.ProgressDeadline.Duration
		}
		v.Paused = ro.Paused
	}
	if canary > 0 {
		v.Stages = append(v.Stages, fmt.Sprintf("Canary: %d instance(s) first (those labelled infraplane.dev/canary=true, then Ready ones by namespace and name)", canary))
	}
	v.Stages = append(v.Stages,
		fmt.Sprintf("Batches: %s of the instances at a time, each once the previous stage is Ready", batch),
		fmt.Sprintf("Progress deadline: %s; an instance not Ready on the new revision within it, or one that fails, halts the rollout", deadline))
	if v.Paused {
		v.Stages = append(v.Stages, "Paused (spec.rollout.paused): no instance moves to a new revision; new instances get the latest")
	}
	if ro := b.Status.Rollout; ro != nil {
		v.Phase, v.Revision, v.Updated, v.Total = ro.Phase, ro.Revision, ro.Updated, ro.Total
		v.Message, v.MessageWithheld = visibleMessage(sc, ro.Message)
		if ro.StageStartedAt != nil {
			t := ro.StageStartedAt.Time
			v.StageStartedAt = &t
			if ro.Phase == corev1alpha1.RolloutCanary || ro.Phase == corev1alpha1.RolloutProgressing {
				h := t.Add(deadline)
				v.HaltsAt = &h
			}
		}
		var shown []corev1alpha1.InstanceFailure
		shown, v.LeftOut = visibleFailures(sc, ro.Failed)
		for _, f := range shown {
			v.Failed = append(v.Failed, failureView{Namespace: f.Namespace, Name: f.Name, Message: f.Message, URL: instanceURL(b, f.Namespace, f.Name)})
		}
	}
	var total int32
	for _, c := range b.Status.Revisions {
		total += c.Instances
	}
	for _, c := range b.Status.Revisions {
		v.Revisions = append(v.Revisions, revisionView{Revision: c.Revision, Instances: c.Instances, Ready: c.Ready, Total: total,
			Latest: c.Revision == b.Status.LatestRevision, Stable: c.Revision == b.Status.StableRevision})
	}
	return v
}

// inScope is whether the person may read namespace ns.
func inScope(sc *scope, ns string) bool { return sc.all || slices.Contains(sc.namespaces, ns) }

// visibleFailures are the failures in namespaces the person may read,
// and how many others there were.
func visibleFailures(sc *scope, failed []corev1alpha1.InstanceFailure) ([]corev1alpha1.InstanceFailure, int) {
	var out []corev1alpha1.InstanceFailure
	for _, f := range failed {
		if inScope(sc, f.Namespace) {
			out = append(out, f)
		}
	}
	return out, len(failed) - len(out)
}

// visibleMessage is a rollout's message, or "" (withheld) when it names
// an instance in a namespace the person may not read. Anything shaped
// like namespace/name counts: withholding too much is the safe mistake.
func visibleMessage(sc *scope, msg string) (string, bool) {
	if sc.all {
		return msg, false
	}
	for _, m := range instanceKey.FindAllStringSubmatch(msg, -1) {
		if !inScope(sc, m[1]) {
			return "", true
		}
	}
	return msg, false
}

// instanceURL is the object page of one of a Blueprint's instances.
func instanceURL(b *corev1alpha1.Blueprint, ns, name string) string {
	return "/o/" + url.PathEscape(ns) + "/" + url.PathEscape(strings.ToLower(b.Spec.Kind)+"."+b.Spec.Group) + "/" + url.PathEscape(name)
}

// listRollouts lists the Blueprints as the person; forbidden is true when
// they may not.
func (h *Handler) listRollouts(ctx context.Context, ss *session, sc *scope) (views []*rolloutView, forbidden bool, err error) {
	var l corev1alpha1.BlueprintList
	err = ss.c.List(ctx, &l)
	if apierrors.IsForbidden(err) {
		return nil, true, nil
	}
	if meta.IsNoMatchError(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("listing Blueprints: %w", err)
	}
	for i := range l.Items {
		views = append(views, rolloutViewOf(&l.Items[i], sc))
	}
	slices.SortFunc(views, func(a, b *rolloutView) int { return strings.Compare(a.Name, b.Name) })
	return views, false, nil
}

func (h *Handler) rollouts(w http.ResponseWriter, r *http.Request) {
	ss, sc := h.pageSession(w, r)
	if ss == nil {
		return
	}
	ctx := r.Context()
	d := &rolloutsData{}
	var err error
	d.Blueprints, d.Forbidden, err = h.listRollouts(ctx, ss, sc)
	if err != nil {
		h.fail(w, r, ss, http.StatusBadGateway, err)
		return
	}
	h.render(w, r, "rollouts", pageData{Title: "Rollouts", Person: &ss.person, Rollouts: d, Live: "/live?kind=Blueprint"})
}

func (h *Handler) rollout(w http.ResponseWriter, r *http.Request) {
	ss := h.session(w, r)
	if ss == nil {
		return
	}
	ctx := r.Context()
	name := r.PathValue("blueprint")
	sc, err := h.scopeOf(ctx, ss)
	if err != nil {
		h.fail(w, r, ss, http.StatusBadGateway, err)
		return
	}
	b := &corev1alpha1.Blueprint{}
	err = ss.c.Get(ctx, client.ObjectKey{Name: name}, b)
	switch {
	case apierrors.IsForbidden(err):
		w.WriteHeader(http.StatusForbidden)
		h.render(w, r, "rollout", pageData{Title: "Rollout of " + name, Person: &ss.person, Rollouts: &rolloutsData{Forbidden: true}})
		return
	case apierrors.IsNotFound(err), meta.IsNoMatchError(err):
		h.fail(w, r, ss, http.StatusNotFound, fmt.Errorf("Blueprint %s: not found", name))
		return
	case err != nil:
		h.fail(w, r, ss, http.StatusBadGateway, err)
		return
	}
	d := &rolloutsData{One: rolloutViewOf(b, sc)}
	h.render(w, r, "rollout", pageData{Title: "Rollout of " + name, Person: &ss.person, Rollouts: d, Live: "/live?kind=Blueprint"})
}

// rolloutURL is a Blueprint's rollout page.
func rolloutURL(name string) string { return "/rollouts/" + url.PathEscape(name) }
