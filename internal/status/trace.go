package status

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
)

// MaxEvents is how many of an object's events a trace keeps (the newest).
const MaxEvents = 20

// Snapshot is what was fetched for a report or a trace.
type Snapshot struct {
	// Now is when it was fetched: ages are measured to it.
	Now time.Time
	// Kinds are the known kinds (optional): they let references to a kind
	// with no object in Objects be found.
	Kinds   []Kind
	Sources []corev1alpha1.GitSource
	// Objects are objects read whole; Rows objects read from list
	// answers, only what a report reads of them (Collect's lists, see
	// decodeList). A report reads both alike.
	Objects []*unstructured.Unstructured
	Rows    []*Row
	// Events are events.k8s.io/v1 Events (trace only).
	Events []eventsv1.Event
	// Unlisted names the kinds ("plural.group") the reader may not list
	// in scope: their objects are left out.
	Unlisted []string
}

// Target names the object to trace.
type Target struct {
	Group     string `json:"group"`
	Kind      string `json:"kind"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
}

func (t Target) isGitSource() bool {
	return t.Group == corev1alpha1.GroupVersion.Group && t.Kind == "GitSource"
}

// TraceReport is one object in depth: a managed object, a Blueprint
// instance or a GitSource.
type TraceReport struct {
	Time   time.Time    `json:"time"`
	Object *ObjectTrace `json:"object,omitempty"`
	Source *SourceTrace `json:"gitSource,omitempty"`
}

// ObjectTrace is a managed object or a Blueprint instance in depth.
type ObjectTrace struct {
	*Object
	Generation         int64 `json:"generation"`
	ObservedGeneration int64 `json:"observedGeneration"`
	// SyncedGeneration (managed kinds) is the generation last applied to
	// the cloud; -1 or 0 when none was.
	SyncedGeneration int64 `json:"syncedGeneration,omitempty"`
	// PendingSpecChange is true when the current spec is not acted on yet:
	// generation > syncedGeneration for a managed kind (the cloud lags),
	// generation > observedGeneration for an instance.
	PendingSpecChange bool       `json:"pendingSpecChange"`
	ResourceID        string     `json:"resourceID,omitempty"`
	SelfLink          string     `json:"selfLink,omitempty"`
	LastSyncTime      *time.Time `json:"lastSyncTime,omitempty"`
	LastSyncAge       string     `json:"lastSyncAge,omitempty"`
	ManagementPolicy  string     `json:"managementPolicy,omitempty"`
	DeletionPolicy    string     `json:"deletionPolicy,omitempty"`
	// Conditions are Ready, Synced, Drifted and Paused (always, "Unknown"
	// when not reported; for an instance, Ready), then any others.
	Conditions []Condition `json:"conditions"`
	// Instance is set for a Blueprint instance: its revision and children.
	Instance *InstanceTrace `json:"instance,omitempty"`
	// Parent is set for a child of a Blueprint instance.
	Parent *ParentLink `json:"parent,omitempty"`
	// References are the object's references and their targets' state.
	References []Reference `json:"references"`
	// GitSource is the source that applied it (for a Blueprint child: the
	// source that applied its instance), if any.
	GitSource *SourceLink `json:"gitSource,omitempty"`
	// Events are the newest events about the object, oldest first.
	Events []Event `json:"events"`
}

// Reference is one reference and the state of its target.
type Reference struct {
	Ref
	// Found is false when the target does not exist (by-name references).
	Found bool `json:"found"`
	// Ready is the target's Ready status, Reason its reason.
	Ready  string `json:"ready,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// SourceLink is the GitSource an object carries the label of.
type SourceLink struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Via is set when the link is its Blueprint instance's ("Kind/name"):
	// the rest of the link is about the instance.
	Via string `json:"via,omitempty"`
	// Found is false when the GitSource does not exist (any more).
	Found bool `json:"found"`
	// InInventory is whether the source's inventory lists the object.
	InInventory bool `json:"inInventory"`
	// File is where in the repository the object's manifest is
	// ("dir/file.yaml:LINE"), as the last sync that applied it recorded.
	File    string    `json:"file,omitempty"`
	Applied *Revision `json:"applied,omitempty"`
	// LastChange is the history record of the sync that last changed the
	// object, matched by the time of the syncer's last write to it
	// (metadata.managedFields); LastChangeTime is that time.
	LastChange     *HistoryRecord `json:"lastChange,omitempty"`
	LastChangeTime *time.Time     `json:"lastChangeTime,omitempty"`
	// Note says what is known when no record matches.
	Note string `json:"note,omitempty"`
}

// InstanceTrace is what a Blueprint instance adds to its trace.
type InstanceTrace struct {
	// Blueprint defines the kind ("" when the Blueprints were not read).
	Blueprint string `json:"blueprint,omitempty"`
	// Revision is the Blueprint revision the instance last rendered
	// (status.revision); TargetRevision the one it is to run (label
	// infraplane.dev/blueprint-revision).
	Revision       int64 `json:"revision,omitempty"`
	TargetRevision int64 `json:"targetRevision,omitempty"`
	// Resources are its children, in the order it makes them.
	Resources []InstanceChild `json:"resources"`
}

// InstanceChild is one child as its instance reports it (status.resources),
// with the child's own Ready condition when it was read.
type InstanceChild struct {
	ID         string `json:"id"`
	APIVersion string `json:"apiVersion,omitempty"`
	Kind       string `json:"kind,omitempty"`
	Name       string `json:"name,omitempty"`
	// Ready is the instance's judgement; Message says why not.
	Ready   bool   `json:"ready"`
	Message string `json:"message,omitempty"`
	// State is the child's own Ready status and reason ("" when not read).
	State string `json:"state,omitempty"`
}

// ParentLink is the Blueprint instance a child belongs to.
type ParentLink struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Name       string `json:"name"`
	// Resource is the child's id in the Blueprint.
	Resource string `json:"resource,omitempty"`
	// Found is false when the instance is not there (any more).
	Found bool `json:"found"`
	// Ready is the instance's Ready status, Reason its reason.
	Ready  string `json:"ready,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// HistoryRecord is one sync of a GitSource.
type HistoryRecord struct {
	Revision   string    `json:"revision,omitempty"`
	Short      string    `json:"short,omitempty"`
	Author     string    `json:"author,omitempty"`
	Message    string    `json:"message,omitempty"`
	Time       time.Time `json:"time"`
	Age        string    `json:"age"`
	Result     string    `json:"result"`
	Created    int       `json:"created"`
	Configured int       `json:"configured"`
	Unchanged  int       `json:"unchanged"`
	Pruned     int       `json:"pruned"`
	Duration   string    `json:"duration,omitempty"`
	Error      string    `json:"error,omitempty"`
}

// Event is one event about an object.
type Event struct {
	Type     string     `json:"type"`
	Reason   string     `json:"reason"`
	Action   string     `json:"action,omitempty"`
	Note     string     `json:"note"`
	Reporter string     `json:"reporter,omitempty"`
	Count    int32      `json:"count"`
	Time     *time.Time `json:"time,omitempty"`
	Age      string     `json:"age,omitempty"`
}

// SourceTrace is a GitSource in depth.
type SourceTrace struct {
	*Source
	URL                string      `json:"url"`
	Ref                string      `json:"ref"`
	Path               string      `json:"path"`
	Interval           string      `json:"interval,omitempty"`
	Prune              bool        `json:"prune"`
	MaxPrunePercent    int32       `json:"maxPrunePercent"`
	Generation         int64       `json:"generation"`
	ObservedGeneration int64       `json:"observedGeneration"`
	Conditions         []Condition `json:"conditions"`
	// History holds the last syncs, newest first.
	History []HistoryRecord `json:"history"`
	Events  []Event         `json:"events"`
}

// NotFoundError says the traced object is not in the snapshot.
type NotFoundError struct{ Target Target }

func (e *NotFoundError) Error() string {
	return fmt.Sprintf("%s %q not found in namespace %q", e.Target.Kind, e.Target.Name, e.Target.Namespace)
}

// Trace reports one object of the snapshot in depth.
func Trace(s Snapshot, t Target) (*TraceReport, error) {
	b := newBuilder(s.Objects, s.Rows, s.Kinds, s.Now)
	for _, k := range s.Kinds {
		if k.Managed() && !slices.Contains(b.kinds, k.Kind) {
			b.kinds = append(b.kinds, k.Kind)
		}
	}
	slices.Sort(b.kinds)
	r := &TraceReport{Time: s.Now}
	if t.isGitSource() {
		for i := range s.Sources {
			gs := &s.Sources[i]
			if gs.Namespace == t.Namespace && gs.Name == t.Name {
				r.Source = b.traceSource(gs, s.Events)
				return r, nil
			}
		}
		return nil, &NotFoundError{t}
	}
	u := b.byGK[t.Group+"/"+t.Kind+"/"+t.Namespace+"/"+t.Name]
	if u == nil {
		return nil, &NotFoundError{t}
	}
	r.Object = b.traceObject(u, s.Sources, s.Events)
	return r, nil
}

func (b *builder) traceObject(u *Row, sources []corev1alpha1.GitSource, events []eventsv1.Event) *ObjectTrace {
	st := u.managedStatus()
	t := &ObjectTrace{Object: b.object(u), Generation: u.generation(), ObservedGeneration: st.ObservedGeneration,
		ResourceID: st.ResourceID, SelfLink: st.SelfLink, References: []Reference{}}
	t.PendingSpecChange = t.Generation > t.ObservedGeneration
	if st.LastSyncTime != nil {
		lt := st.LastSyncTime.Time
		t.LastSyncTime, t.LastSyncAge = &lt, b.age(lt)
	}
	if t.Instance = b.instanceTrace(u); t.Instance != nil {
		t.Conditions = b.conditions(st.Conditions, commonv1.TypeReady)
	} else {
		t.ManagementPolicy, _, _ = unstructured.NestedString(u.spec, "managementPolicy")
		t.DeletionPolicy, _, _ = unstructured.NestedString(u.spec, "deletionPolicy")
		t.Conditions = b.conditions(st.Conditions, commonv1.TypeReady, commonv1.TypeSynced, commonv1.TypeDrifted, commonv1.TypePaused)
		// observedGeneration says which spec the status describes; what
		// reached the cloud is syncedGeneration (older objects: the old
		// meaning of observedGeneration, until their next pass).
		t.SyncedGeneration = st.SyncedGeneration
		if t.SyncedGeneration == 0 && st.ResourceID != "" {
			t.SyncedGeneration = st.ObservedGeneration
		}
		t.PendingSpecChange = t.Generation > t.SyncedGeneration
	}
	t.Parent = b.parentLink(u)

	for _, ref := range specRefs(u, b.kinds) {
		rr := Reference{Ref: ref}
		if ref.External != "" {
			rr.Found = true
		} else if tu := b.byName[u.GetNamespace()+"/"+ref.Kind+"/"+ref.Name]; tu != nil {
			rr.Found = true
			if c := tu.conds[commonv1.TypeReady]; c != nil {
				rr.Ready, rr.Reason = c.Status, c.Reason
			}
		}
		t.References = append(t.References, rr)
	}

	// A child is not from git itself: its instance may be.
	origin, via := u, ""
	if inst := b.parent[u]; inst != nil && inst.GetLabels()[corev1alpha1.SourceLabel] != "" && u.GetLabels()[corev1alpha1.SourceLabel] == "" {
		origin, via = inst, inst.GetKind()+"/"+inst.GetName()
	}
	if label := origin.GetLabels()[corev1alpha1.SourceLabel]; label != "" {
		ns, name, _ := strings.Cut(label, ".")
		link := &SourceLink{Namespace: ns, Name: name, Via: via}
		for i := range sources {
			gs := &sources[i]
			if gs.Namespace != ns || gs.Name != name {
				continue
			}
			link.Found = true
			link.Applied = b.appliedRevision(gs)
			target := cmp.Or(gs.Spec.TargetNamespace, gs.Namespace)
			gk := groupOf(origin.GetAPIVersion()) + "/" + origin.GetKind() + "/" + origin.GetNamespace() + "/" + origin.GetName()
			if i := slices.IndexFunc(gs.Status.Inventory, func(r corev1alpha1.ObjectRef) bool {
				return refKey(withNS(r, target)) == gk
			}); i >= 0 {
				link.InInventory = true
				link.File = fileLine(gs.Status.Inventory[i])
			}
			b.lastChange(link, origin, gs)
		}
		t.GitSource = link
	}
	t.Events = b.events(events, u.GetKind(), u.GetNamespace(), u.GetName(), string(u.GetUID()))
	return t
}

// lastChange finds the history record of the sync that last wrote the
// object: the syncer's managedFields entry says when it wrote, and the
// Applied record whose sync ran then (its time minus its duration, to its
// time; both have a resolution of one second) is the one.
func (b *builder) lastChange(link *SourceLink, u *Row, gs *corev1alpha1.GitSource) {
	var when time.Time
	for _, mf := range u.managedFields() {
		if mf.Manager == gitopsFieldManager && mf.Time != nil && mf.Time.After(when) {
			when = mf.Time.Time
		}
	}
	if when.IsZero() {
		link.Note = "the syncer's write to this object is not recorded in its managedFields"
		return
	}
	link.LastChangeTime = &when
	for _, h := range gs.Status.History {
		if h.Result != resultApplied {
			continue
		}
		took, _ := time.ParseDuration(h.Duration)
		end := h.Time.Time.Add(time.Second)
		start := h.Time.Time.Add(-took - 2*time.Second)
		if !when.Before(start) && !when.After(end) {
			rec := b.historyRecord(h)
			link.LastChange = &rec
			return
		}
	}
	if n := len(gs.Status.History); n > 0 {
		link.Note = fmt.Sprintf("last changed by the syncer %s ago, in a sync that is not among the %d the history keeps", b.age(when), n)
	} else {
		link.Note = fmt.Sprintf("last changed by the syncer %s ago; the history is empty", b.age(when))
	}
}

func (b *builder) historyRecord(h corev1alpha1.SyncRecord) HistoryRecord {
	return HistoryRecord{Revision: h.Revision, Short: shortRevision(h.Revision), Author: h.Author, Message: h.Message,
		Time: h.Time.Time, Age: b.age(h.Time.Time), Result: h.Result,
		Created: h.Created, Configured: h.Configured, Unchanged: h.Unchanged, Pruned: h.Pruned,
		Duration: h.Duration, Error: h.Error}
}

// conditions lists the wanted types first (Unknown when absent), then the
// others by type.
func (b *builder) conditions(conds []metav1.Condition, want ...string) []Condition {
	out := []Condition{}
	for _, typ := range want {
		c := meta.FindStatusCondition(conds, typ)
		if c == nil {
			out = append(out, Condition{Type: typ, Status: "Unknown", Message: "not reported yet"})
			continue
		}
		out = append(out, b.condition(c))
	}
	var rest []Condition
	for i := range conds {
		if !slices.Contains(want, conds[i].Type) {
			rest = append(rest, b.condition(&conds[i]))
		}
	}
	slices.SortFunc(rest, func(x, y Condition) int { return strings.Compare(x.Type, y.Type) })
	return append(out, rest...)
}

func (b *builder) condition(c *metav1.Condition) Condition {
	t := c.LastTransitionTime.Time
	out := Condition{Type: c.Type, Status: string(c.Status), Reason: c.Reason, Message: c.Message}
	if !t.IsZero() {
		out.LastTransitionTime, out.Age = &t, b.age(t)
	}
	return out
}

// events are the newest MaxEvents events regarding the object, oldest first.
func (b *builder) events(all []eventsv1.Event, kind, namespace, name, uid string) []Event {
	type timed struct {
		e Event
		t time.Time
	}
	var list []timed
	for _, e := range all {
		r := e.Regarding
		if r.Kind != kind || r.Name != name || (r.Namespace != "" && r.Namespace != namespace) {
			continue
		}
		if uid != "" && r.UID != "" && string(r.UID) != uid {
			continue // an earlier object of the same name
		}
		t := eventTime(e)
		ev := Event{Type: e.Type, Reason: e.Reason, Action: e.Action, Note: e.Note, Reporter: e.ReportingController, Count: 1}
		if e.Series != nil && e.Series.Count > 0 {
			ev.Count = e.Series.Count
		} else if e.DeprecatedCount > 0 {
			ev.Count = e.DeprecatedCount
		}
		if !t.IsZero() {
			tt := t
			ev.Time, ev.Age = &tt, b.age(t)
		}
		list = append(list, timed{ev, t})
	}
	slices.SortStableFunc(list, func(x, y timed) int { return x.t.Compare(y.t) })
	if len(list) > MaxEvents {
		list = list[len(list)-MaxEvents:]
	}
	out := make([]Event, len(list))
	for i, l := range list {
		out[i] = l.e
	}
	return out
}

// eventTime is when an event last happened.
func eventTime(e eventsv1.Event) time.Time {
	switch {
	case e.Series != nil && !e.Series.LastObservedTime.IsZero():
		return e.Series.LastObservedTime.Time
	case !e.EventTime.IsZero():
		return e.EventTime.Time
	case !e.DeprecatedLastTimestamp.IsZero():
		return e.DeprecatedLastTimestamp.Time
	}
	return e.CreationTimestamp.Time
}

func (b *builder) traceSource(gs *corev1alpha1.GitSource, events []eventsv1.Event) *SourceTrace {
	src, _ := b.source(gs)
	t := &SourceTrace{Source: src, URL: gs.Spec.URL, Path: cmp.Or(gs.Spec.Path, "."),
		Prune: gs.Spec.Prune == nil || *gs.Spec.Prune, MaxPrunePercent: gs.Spec.MaxPrunePercent,
		Generation: gs.Generation, ObservedGeneration: gs.Status.ObservedGeneration, History: []HistoryRecord{}}
	switch r := gs.Spec.Ref; {
	case r.Commit != "":
		t.Ref = "commit " + r.Commit
	case r.Tag != "":
		t.Ref = "tag " + r.Tag
	default:
		t.Ref = "branch " + cmp.Or(r.Branch, "main")
	}
	if gs.Spec.MaxPrunePercent == 0 && gs.Spec.Prune == nil {
		t.MaxPrunePercent = 25
	}
	if d := gs.Spec.Interval.Duration; d > 0 {
		t.Interval = d.String()
	}
	t.Conditions = b.conditions(gs.Status.Conditions, sourceTypeReady, sourceTypePruneHeld)
	for i, h := range gs.Status.History {
		if i == 10 {
			break
		}
		t.History = append(t.History, b.historyRecord(h))
	}
	t.Events = b.events(events, "GitSource", gs.Namespace, gs.Name, string(gs.UID))
	return t
}

// fileLine formats where an inventory entry's manifest is.
func fileLine(r corev1alpha1.ObjectRef) string {
	if r.File == "" || r.Line == 0 {
		return r.File
	}
	return fmt.Sprintf("%s:%d", r.File, r.Line)
}
