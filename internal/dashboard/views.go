package dashboard

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
	"github.com/infraplane/infraplane/internal/status"
)

// scope is what a person may read: everything (they may list
// infraplane's objects cluster-wide), or some namespaces.
type scope struct {
	all        bool
	namespaces []string
}

// scopeOf finds the namespaces a person may read, asking the API server
// as the person (SelfSubjectAccessReview: list GitSources there). Only
// when they may not list namespaces does the dashboard list the names
// with its own identity; a name is shown only if the person's own review
// allows it.
func (h *Handler) scopeOf(ctx context.Context, ss *session) (*scope, error) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.scope != nil && time.Since(ss.scopeAt) < 30*time.Second {
		return ss.scope, nil
	}
	can := func(ns string) (bool, error) {
		r, err := ss.kube.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authorizationv1.SelfSubjectAccessReview{
			Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authorizationv1.ResourceAttributes{
				Namespace: ns, Verb: "list", Group: corev1alpha1.GroupVersion.Group, Resource: "gitsources",
			}},
		}, metav1.CreateOptions{})
		if err != nil {
			return false, err
		}
		return r.Status.Allowed, nil
	}
	all, err := can("")
	if err != nil {
		return nil, err
	}
	sc := &scope{all: all}
	if !all {
		var list corev1.NamespaceList
		err := ss.c.List(ctx, &list)
		if apierrors.IsForbidden(err) {
			err = h.own.List(ctx, &list)
		}
		if err != nil {
			return nil, fmt.Errorf("listing namespaces: %w", err)
		}
		for _, n := range list.Items {
			ok, err := can(n.Name)
			if err != nil {
				return nil, err
			}
			if ok {
				sc.namespaces = append(sc.namespaces, n.Name)
			}
		}
	}
	ss.scope, ss.scopeAt = sc, time.Now()
	return sc, nil
}

// State is an object's one state on the overview: the first that applies
// of failed, held, paused, drifted, waiting, ready.
const (
	StateReady   = "ready"
	StateWaiting = "waiting"
	StateFailed  = "failed"
	StateDrifted = "drifted"
	StatePaused  = "paused"
	StateHeld    = "held"
)

// States in the order the overview shows them.
var States = []string{StateReady, StateWaiting, StateFailed, StateDrifted, StatePaused, StateHeld}

// waitingReasons are reasons of an object on its way, not failing.
var waitingReasons = []string{
	commonv1.ReasonCreating, commonv1.ReasonUpdating, commonv1.ReasonDeleting,
	commonv1.ReasonWaitingForRef, status.ReasonNotReconciled, "",
}

func stateOf(o *status.Object) string {
	notReady := o.Ready != "True"
	switch {
	case o.Missing || o.NotCreated:
		return StateWaiting
	case o.Cause != nil && !slices.Contains(waitingReasons, o.Cause.Reason) && !o.Cause.Missing:
		return StateFailed
	case o.HeldPrune || o.DivergedMessage != "":
		return StateHeld
	case o.Paused == "True":
		return StatePaused
	case o.Drifted == "True":
		return StateDrifted
	case notReady:
		return StateWaiting
	}
	return StateReady
}

// nsView is one namespace (team) on the overview.
type nsView struct {
	Name         string
	Counts       map[string]int
	Total        int
	Sources      []*status.Source
	BreakGlasses []breakGlassView
}

type breakGlassView struct {
	Name, Namespace, OpenedBy, Reason, Incident, Phase string
	ExpiresAt                                          *time.Time
	Held                                               []string
}

type blueprintView struct {
	Name            string
	Latest, Stable  int64
	Phase, Message  string
	Updated, Total  int32
	RolloutRevision int64
	Failed          []corev1alpha1.InstanceFailure
	LeftOut         int // failures in namespaces the person may not read
}

type overviewData struct {
	Now        time.Time
	Namespaces []*nsView
	Blueprints []blueprintView
	States     []string
	// Empty is true when the person may read no namespace at all.
	Empty bool
	// Unlisted are kinds the person may not list: not counted.
	Unlisted []string
}

// collect runs status.Collect as the person over what they may read:
// one list per kind for everything, else per namespace. judgedOnly
// leaves out the inventory's objects of kinds status does not judge
// (ConfigMaps: a request each), for pages that count or list rather than
// draw trees.
func (h *Handler) collect(ctx context.Context, ss *session, sc *scope, only string, judgedOnly bool) (*status.Snapshot, error) {
	kinds, err := h.clusterKinds(ctx)
	if err != nil {
		return nil, err
	}
	if only != "" {
		if !sc.all && !slices.Contains(sc.namespaces, only) {
			return nil, apierrors.NewForbidden(corev1alpha1.GroupVersion.WithResource("gitsources").GroupResource(), "", fmt.Errorf("you may not read namespace %s", only))
		}
		return status.Collect(ctx, ss.c, kinds, status.Scope{Namespace: only, JudgedOnly: judgedOnly, Raw: ss.rawGet})
	}
	if sc.all {
		return status.Collect(ctx, ss.c, kinds, status.Scope{AllNamespaces: true, JudgedOnly: judgedOnly, Raw: ss.rawGet})
	}
	merged := &status.Snapshot{Now: time.Now(), Kinds: kinds}
	seen := map[string]bool{}
	for _, ns := range sc.namespaces {
		snap, err := status.Collect(ctx, ss.c, kinds, status.Scope{Namespace: ns, JudgedOnly: judgedOnly, Raw: ss.rawGet})
		if err != nil {
			return nil, err
		}
		for _, gs := range snap.Sources {
			if k := gs.Namespace + "/" + gs.Name; !seen[k] {
				seen[k] = true
				merged.Sources = append(merged.Sources, gs)
			}
		}
		for _, u := range snap.Objects {
			if k := u.GetAPIVersion() + "/" + u.GetKind() + "/" + u.GetNamespace() + "/" + u.GetName(); !seen[k] {
				seen[k] = true
				merged.Objects = append(merged.Objects, u)
			}
		}
		for _, r := range snap.Rows {
			if k := r.GetAPIVersion() + "/" + r.GetKind() + "/" + r.GetNamespace() + "/" + r.GetName(); !seen[k] {
				seen[k] = true
				merged.Rows = append(merged.Rows, r)
			}
		}
		for _, u := range snap.Unlisted {
			if !slices.Contains(merged.Unlisted, u) {
				merged.Unlisted = append(merged.Unlisted, u)
			}
		}
	}
	return merged, nil
}

// pageSession is a page's session and what its person may read, or nil
// after answering (the login page, or the error page).
func (h *Handler) pageSession(w http.ResponseWriter, r *http.Request) (*session, *scope) {
	ss := h.session(w, r)
	if ss == nil {
		return nil, nil
	}
	sc, err := h.scopeOf(r.Context(), ss)
	if err != nil {
		h.fail(w, r, ss, http.StatusBadGateway, err)
		return nil, nil
	}
	return ss, sc
}

// counted is whether an object counts on the overview: managed objects
// and Blueprint instances (as status's summary counts them).
func counted(o *status.Object) bool { return (o.Managed || o.Instance) && !o.Missing && !o.NotCreated }

func (h *Handler) overview(w http.ResponseWriter, r *http.Request) {
	ss, sc := h.pageSession(w, r)
	if ss == nil {
		return
	}
	ctx := r.Context()
	d := &overviewData{Now: time.Now(), States: States, Empty: !sc.all && len(sc.namespaces) == 0}
	byNS := map[string]*nsView{}
	nsOf := func(name string) *nsView {
		v := byNS[name]
		if v == nil {
			v = &nsView{Name: name, Counts: map[string]int{}}
			byNS[name] = v
		}
		return v
	}
	for _, n := range sc.namespaces {
		nsOf(n)
	}
	if !d.Empty {
		// Counts by state need each object's state, not the trees.
		snap, err := h.collect(ctx, ss, sc, "", true)
		if err != nil {
			h.fail(w, r, ss, http.StatusBadGateway, err)
			return
		}
		rep, objs := status.BuildFlat(*snap)
		d.Unlisted = rep.Unlisted
		for _, o := range objs {
			if !counted(o) {
				continue
			}
			v := nsOf(o.Namespace)
			v.Counts[stateOf(o)]++
			v.Total++
		}
		for _, s := range rep.Sources {
			v := nsOf(s.Namespace)
			v.Sources = append(v.Sources, s)
		}
		bgs, err := h.breakGlasses(ctx, ss, sc)
		if err != nil {
			h.fail(w, r, ss, http.StatusBadGateway, err)
			return
		}
		for _, b := range bgs {
			v := nsOf(b.Namespace)
			v.BreakGlasses = append(v.BreakGlasses, b)
		}
	}
	for _, name := range sortedKeys(byNS) {
		d.Namespaces = append(d.Namespaces, byNS[name])
	}
	var err error
	d.Blueprints, err = h.blueprints(ctx, ss, sc)
	if err != nil {
		h.fail(w, r, ss, http.StatusBadGateway, err)
		return
	}
	h.render(w, r, "overview", pageData{Title: "Overview", Person: &ss.person, Overview: d, Live: "/live"})
}

// breakGlasses are the open windows, and ended ones that still hold
// objects apart from git.
func (h *Handler) breakGlasses(ctx context.Context, ss *session, sc *scope) ([]breakGlassView, error) {
	items, err := h.listBreakGlasses(ctx, ss, sc)
	if err != nil {
		return nil, err
	}
	var out []breakGlassView
	for _, b := range items {
		if b.Status.Phase != corev1alpha1.BreakGlassActive && len(b.Status.Held) == 0 {
			continue
		}
		v := breakGlassView{Name: b.Name, Namespace: b.Namespace, OpenedBy: b.Status.OpenedBy, Reason: b.Spec.Reason,
			Incident: b.Spec.Incident, Phase: string(b.Status.Phase), Held: b.Status.Held}
		if b.Status.ExpiresAt != nil {
			t := b.Status.ExpiresAt.Time
			v.ExpiresAt = &t
		}
		out = append(out, v)
	}
	return out, nil
}

// blueprints are the cluster's Blueprints with their rollouts, when the
// person may list them (team members usually may not: they are the
// platform team's).
func (h *Handler) blueprints(ctx context.Context, ss *session, sc *scope) ([]blueprintView, error) {
	var l corev1alpha1.BlueprintList
	err := ss.c.List(ctx, &l)
	if meta.IsNoMatchError(err) || apierrors.IsForbidden(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing Blueprints: %w", err)
	}
	var out []blueprintView
	for _, b := range l.Items {
		v := blueprintView{Name: b.Name, Latest: b.Status.LatestRevision, Stable: b.Status.StableRevision}
		if ro := b.Status.Rollout; ro != nil {
			v.Phase, v.Updated, v.Total, v.RolloutRevision = ro.Phase, ro.Updated, ro.Total, ro.Revision
			// Only what the person may read of other teams (rollouts.go).
			v.Message, _ = visibleMessage(sc, ro.Message)
			v.Failed, v.LeftOut = visibleFailures(sc, ro.Failed)
		}
		out = append(out, v)
	}
	return out, nil
}

type namespaceData struct {
	Name string
	// Report is the namespace's report; without a filter its trees are
	// narrowed to the page's rows.
	Report *status.Report
	// State and Filter narrow the page to objects in a state and whose
	// "Kind/name" contains Filter; Matches are then the page's rows.
	State, Filter string
	Matches       []*status.Object
	Page          pager
	States        []string
}

// Filtered is whether the page lists objects rather than the trees.
func (d *namespaceData) Filtered() bool { return d.State != "" || d.Filter != "" }

func (h *Handler) namespace(w http.ResponseWriter, r *http.Request) {
	ss := h.session(w, r)
	if ss == nil {
		return
	}
	ctx := r.Context()
	ns := r.PathValue("namespace")
	if len(validation.IsDNS1123Label(ns)) > 0 {
		h.fail(w, r, ss, http.StatusNotFound, fmt.Errorf("%q is not a namespace name", ns))
		return
	}
	q := r.URL.Query()
	d := &namespaceData{Name: ns, State: q.Get("state"), Filter: strings.TrimSpace(q.Get("q")), States: States}
	if d.State != "" && !slices.Contains(States, d.State) {
		d.State = ""
	}
	sc, err := h.scopeOf(ctx, ss)
	if err != nil {
		h.fail(w, r, ss, http.StatusBadGateway, err)
		return
	}
	snap, err := h.collect(ctx, ss, sc, ns, d.Filtered())
	if apierrors.IsForbidden(err) {
		h.fail(w, r, ss, http.StatusForbidden, fmt.Errorf("you may not read namespace %s", ns))
		return
	}
	if err != nil {
		h.fail(w, r, ss, http.StatusBadGateway, err)
		return
	}
	// A page shows pageRows objects: a list of the objects that match,
	// or the rows of the trees (ancestors of its first rows with them).
	if d.Filtered() {
		var objs []*status.Object
		d.Report, objs = status.BuildFlat(*snap)
		matches := filterRows(objs, ns, d.State, d.Filter)
		d.Page = newPager(len(matches), pageNumber(q))
		d.Matches = matches[d.Page.start():min(d.Page.end(), len(matches))]
	} else {
		rep := status.BuildSnapshot(*snap)
		rows := 0
		for _, s := range rep.Sources {
			rows += treeRows(s.Objects)
		}
		for _, n := range rep.NotFromGit {
			rows += treeRows(n.Objects)
		}
		d.Page = newPager(rows, pageNumber(q))
		d.Report = pageReport(rep, d.Page)
	}
	d.Page.link("/ns/"+url.PathEscape(ns), url.Values{"state": {d.State}, "q": {d.Filter}})
	h.render(w, r, "namespace", pageData{Title: "Namespace " + ns, Person: &ss.person, NS: d, Live: "/live?ns=" + url.QueryEscape(ns)})
}

type objectData struct {
	Trace   *status.TraceReport
	Spec    string
	Status  string
	Kind    status.Kind
	History *historyData // its last ledger entries (audit.go)
}

func (h *Handler) object(w http.ResponseWriter, r *http.Request) {
	ss := h.session(w, r)
	if ss == nil {
		return
	}
	ctx := r.Context()
	ns, typed, name := r.PathValue("namespace"), r.PathValue("kind"), r.PathValue("name")
	kinds, err := h.clusterKinds(ctx)
	if err != nil {
		h.fail(w, r, ss, http.StatusBadGateway, err)
		return
	}
	kind, err := status.ResolveKind(kinds, typed)
	if err != nil {
		h.fail(w, r, ss, http.StatusNotFound, err)
		return
	}
	snap, target, err := status.CollectTrace(ctx, ss.c, kinds, kind, ns, name)
	var nf *status.NotFoundError
	switch {
	case asNotFound(err, &nf), apierrors.IsForbidden(err):
		// The same answer for both: a person learns nothing of what
		// they may not read.
		h.fail(w, r, ss, http.StatusNotFound, fmt.Errorf("%s %s/%s: not found, or you may not read it", kind.Kind, ns, name))
		return
	case err != nil:
		h.fail(w, r, ss, http.StatusBadGateway, err)
		return
	}
	tr, err := status.Trace(*snap, target)
	if err != nil {
		h.fail(w, r, ss, http.StatusBadGateway, err)
		return
	}
	d := &objectData{Trace: tr, Kind: kind}
	for _, u := range snap.Objects {
		if u.GetNamespace() == ns && u.GetName() == name && u.GetKind() == kind.Kind && groupOf(u) == kind.Group {
			d.Spec, d.Status = part(u, "spec"), part(u, "status")
		}
	}
	if tr.Source != nil {
		var gs corev1alpha1.GitSource
		if err := ss.c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &gs); err == nil {
			d.Spec = yamlOf(gs.Spec)
		}
	}
	d.History = h.history(ctx, ss, kind.Kind, ns, name)
	h.render(w, r, "object", pageData{Title: kind.Kind + " " + ns + "/" + name, Person: &ss.person, Object: d, Live: "/live?ns=" + url.QueryEscape(ns)})
}

func asNotFound(err error, nf **status.NotFoundError) bool {
	if err == nil {
		return false
	}
	e, ok := err.(*status.NotFoundError)
	if ok {
		*nf = e
	}
	return ok || apierrors.IsNotFound(err)
}

func groupOf(u *unstructured.Unstructured) string { return u.GroupVersionKind().Group }

func part(u *unstructured.Unstructured, field string) string {
	v, ok := u.Object[field]
	if !ok {
		return ""
	}
	return yamlOf(v)
}

func yamlOf(v any) string {
	b, err := yaml.Marshal(v)
	if err != nil {
		return err.Error()
	}
	return string(b)
}

// objectURL is the object page of a status object.
func objectURL(o *status.Object) string {
	group := ""
	if g, _, ok := strings.Cut(o.APIVersion, "/"); ok {
		group = g
	}
	return "/o/" + url.PathEscape(o.Namespace) + "/" + url.PathEscape(strings.ToLower(o.Kind)+"."+group) + "/" + url.PathEscape(o.Name)
}

func sourceURL(namespace, name string) string {
	return "/o/" + url.PathEscape(namespace) + "/gitsource." + corev1alpha1.GroupVersion.Group + "/" + url.PathEscape(name)
}

func pct(n, total int32) int {
	if total <= 0 {
		return 0
	}
	return int(100 * int64(n) / int64(total))
}

func joinStrings(s []string) string { return strings.Join(s, ", ") }

// until is the time left to t, rounded to seconds.
func until(t *time.Time) string {
	if t == nil {
		return ""
	}
	d := time.Until(*t).Round(time.Second)
	if d <= 0 {
		return "ended"
	}
	return d.String()
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
