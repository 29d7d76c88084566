// Package status answers "what state is everything in, and why": the
// GitSources of a namespace with the objects each applied, as a tree, the
// managed objects no GitSource applied, and for every object that is not
// Ready or Synced the deepest cause, found by following references
// (`infraplane status`); and one object in depth (`infraplane trace`).
//
// Build and Trace are pure functions over objects already fetched, so they
// are tested without an API server. They read every object through a Row
// (row.go), the status shape every managed kind shares (conditions
// Ready/Synced/Drifted/Paused, drift, selfLink): a new kind needs no code
// here. Instances of the kinds Blueprints define show with their children
// under them (instances.go). Collect and CollectTrace fetch what they
// need; Collect decodes list answers straight into rows (decode.go).
package status

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/duration"

	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
)

// Condition types and reasons of a GitSource (as the syncer writes them).
const (
	sourceTypeReady     = "Ready"
	sourceTypePruneHeld = "PruneHeld"
	sourceTypePushHook  = "PushHook"
	resultApplied       = "Applied"
	gitopsFieldManager  = "infraplane-gitops"
)

// ReasonNotReconciled is the reason status gives an object that has no
// conditions yet: no controller has reconciled it.
const ReasonNotReconciled = "NotReconciled"

// Report is the state of a scope at a glance.
type Report struct {
	// Time is when the report was built ("now" for every age in it).
	Time time.Time `json:"time"`
	// Namespace is the scope ("" for all namespaces).
	Namespace string `json:"namespace,omitempty"`
	// Sources are the GitSources in scope, by namespace and name.
	Sources []*Source `json:"sources"`
	// NotFromGit are the managed objects and Blueprint instances no
	// GitSource in scope applied (with the children of those instances).
	NotFromGit []*NamespaceObjects `json:"notFromGit"`
	// Summary counts the managed objects and Blueprint instances.
	Summary Summary `json:"summary"`
	// Unlisted names the kinds ("plural.group") the reader may not list:
	// their objects are not in the report.
	Unlisted []string `json:"unlisted,omitempty"`
}

// NamespaceObjects are the objects of one namespace, as a tree.
type NamespaceObjects struct {
	Namespace string    `json:"namespace"`
	Objects   []*Object `json:"objects"`
}

// Source is one GitSource and what it applied.
type Source struct {
	Namespace       string `json:"namespace"`
	Name            string `json:"name"`
	TargetNamespace string `json:"targetNamespace"`
	// Ready is the GitSource's Ready condition.
	Ready Condition `json:"ready"`
	// Suspended is spec.suspend.
	Suspended bool `json:"suspended,omitempty"`
	// Applied is the revision last applied in full.
	Applied *Revision `json:"applied,omitempty"`
	// LastAttempted is the revision of the last attempt, when it is not
	// the one applied.
	LastAttempted string `json:"lastAttemptedRevision,omitempty"`
	// PruneHeld is set while the mass-deletion guard holds a prune.
	PruneHeld *PruneHeld `json:"pruneHeld,omitempty"`
	// WebhookPath is the GitSource's own push-hook path, when it has one.
	WebhookPath string `json:"webhookPath,omitempty"`
	// PushHook is set when the GitSource asks for a push hook
	// (spec.webhookSecretRef) and has none: its condition says why. It
	// does not make the GitSource not Ready (it syncs on its interval).
	PushHook *Condition `json:"pushHook,omitempty"`
	// Objects are the inventory, as a tree: an object under the one it
	// references.
	Objects []*Object `json:"objects"`
}

// Condition is a condition with its age.
type Condition struct {
	Type               string     `json:"type"`
	Status             string     `json:"status"`
	Reason             string     `json:"reason,omitempty"`
	Message            string     `json:"message,omitempty"`
	LastTransitionTime *time.Time `json:"lastTransitionTime,omitempty"`
	// Age is how long the condition has had its status, e.g. "3m12s".
	Age string `json:"age,omitempty"`
}

// Revision is an applied git revision with what the history knows of it.
type Revision struct {
	// Revision is "ref@sha1:hash".
	Revision string `json:"revision"`
	// Short is "ref@" and the first 12 characters of the hash.
	Short   string `json:"short"`
	Author  string `json:"author,omitempty"`
	Message string `json:"message,omitempty"`
	// AppliedAt is when a sync applied it (from the history), if known.
	AppliedAt *time.Time `json:"appliedAt,omitempty"`
	Age       string     `json:"age,omitempty"`
}

// PruneHeld is what the mass-deletion guard holds, and why.
type PruneHeld struct {
	Message string     `json:"message"`
	Objects []string   `json:"objects"`
	Since   *time.Time `json:"since,omitempty"`
	For     string     `json:"for,omitempty"`
}

// Object is one object's state.
type Object struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Namespace  string `json:"namespace"`
	Name       string `json:"name"`
	// Managed is true for managed cloud resources (groups *.infraplane.dev,
	// except the kinds Blueprints define).
	Managed bool `json:"managed"`
	// Instance is true for an instance of a kind a Blueprint defines;
	// Blueprint names the Blueprint (when known) and Revision is the
	// Blueprint revision it last rendered (status.revision).
	Instance  bool   `json:"instance,omitempty"`
	Blueprint string `json:"blueprint,omitempty"`
	Revision  int64  `json:"revision,omitempty"`
	// ChildOf is set on a child of a Blueprint instance: the instance, as
	// "Kind/name"; Resource is the child's id in the Blueprint.
	// InstanceNotFound is true when the instance is not among the objects.
	ChildOf          string `json:"childOf,omitempty"`
	Resource         string `json:"resource,omitempty"`
	InstanceNotFound bool   `json:"instanceNotFound,omitempty"`
	// NotCreated is true for a child its instance lists that does not
	// exist (yet); InstanceMessage is what the instance says of a child
	// status did not read (not created, or of a kind such as ConfigMap).
	NotCreated      bool   `json:"notCreated,omitempty"`
	InstanceMessage string `json:"instanceMessage,omitempty"`
	// Missing is true for an inventory entry whose object does not exist.
	Missing bool `json:"missing,omitempty"`

	// Ready, Synced, Drifted and Paused are the conditions' statuses
	// ("True", "False", "Unknown"; "" when absent).
	Ready   string `json:"ready,omitempty"`
	Synced  string `json:"synced,omitempty"`
	Drifted string `json:"drifted,omitempty"`
	Paused  string `json:"paused,omitempty"`

	// Cause is set when the object is not Ready or not Synced: the deepest
	// reason, following references.
	Cause *Cause `json:"cause,omitempty"`
	// Drift lists drifted fields (status.drift); DriftReason and
	// DriftMessage are the Drifted condition's, when it is True.
	Drift        []commonv1.FieldDrift `json:"drift,omitempty"`
	DriftReason  string                `json:"driftReason,omitempty"`
	DriftMessage string                `json:"driftMessage,omitempty"`
	// PausedReason and PausedMessage are the Paused condition's, when True.
	PausedReason  string `json:"pausedReason,omitempty"`
	PausedMessage string `json:"pausedMessage,omitempty"`
	// DivergedMessage is the Diverged condition's message while a
	// break-glass holds the object apart from git.
	DivergedMessage string `json:"divergedMessage,omitempty"`
	// DeletingSince is set while the object is being deleted.
	DeletingSince *time.Time `json:"deletingSince,omitempty"`
	// HeldPrune is true when the object left git but the mass-deletion
	// guard holds its pruning.
	HeldPrune bool `json:"heldPrune,omitempty"`
	// Source is the infraplane.dev/source label ("namespace.name").
	Source string `json:"source,omitempty"`

	// Children are the objects (of the same list) that reference this one.
	Children []*Object `json:"children,omitempty"`
}

// ID is "Kind/name"; for a child not named yet, "Kind (resource id)".
func (o *Object) ID() string {
	if o.Name == "" && o.Resource != "" {
		return o.Kind + " (resource " + o.Resource + ")"
	}
	return o.Kind + "/" + o.Name
}

// Cause is why an object is not Ready or not Synced, followed through
// references to the object that actually fails.
type Cause struct {
	// Chain is the objects from the one reported to the deepest, as
	// "Kind/name"; for a cycle, the first repeated object ends it.
	Chain []string `json:"chain"`
	// Object is the deepest object ("Kind/name").
	Object string `json:"object"`
	// Condition is the deepest object's condition that says why
	// (Synced when False, else Ready).
	Condition string `json:"condition"`
	Reason    string `json:"reason"`
	Message   string `json:"message"`
	// Since is that condition's lastTransitionTime; For is now − Since.
	Since *time.Time `json:"since,omitempty"`
	For   string     `json:"for,omitempty"`
	// Missing is true when the deepest object is a referenced object that
	// does not exist.
	Missing bool `json:"missing,omitempty"`
	// Cycle is true when the references loop.
	Cycle bool `json:"cycle,omitempty"`
	// Note adds what the conditions alone do not say.
	Note string `json:"note,omitempty"`
}

// String is the chain and the deepest reason:
// "Subscription/worker → Topic/orders: CloudError: …".
func (c *Cause) String() string {
	var b strings.Builder
	b.WriteString(strings.Join(c.Chain, " → "))
	b.WriteString(": ")
	if c.Cycle {
		b.WriteString("reference cycle: ")
	}
	b.WriteString(c.Reason)
	if c.Message != "" {
		b.WriteString(": " + c.Message)
	}
	return b.String()
}

// Summary counts the managed objects and Blueprint instances of a report
// (each once; a child of an instance is a managed object too). Children
// of other kinds (ConfigMaps) are not counted, as objects of those kinds
// from git are not.
type Summary struct {
	Objects int `json:"objects"`
	// Instances are the Blueprint instances among Objects, Children the
	// managed objects among them that instances made.
	Instances int `json:"instances,omitempty"`
	Children  int `json:"children,omitempty"`
	Ready     int `json:"ready"`
	Drifted   int `json:"drifted"`
	Paused    int `json:"paused"`
	// Failing are the objects that are not Ready or not Synced.
	Failing int `json:"failing"`
	// Held are the objects whose pruning the mass-deletion guard holds.
	Held int `json:"held"`
	// Diverged are the objects a break-glass holds apart from git.
	Diverged int `json:"diverged,omitempty"`
	// Sources and SourcesNotReady count the GitSources.
	Sources         int `json:"sources"`
	SourcesNotReady int `json:"sourcesNotReady"`
}

func (s Summary) String() string {
	counted := fmt.Sprintf("%d %s", s.Objects, plural(s.Objects, "object", "objects"))
	if s.Instances > 0 {
		counted += fmt.Sprintf(" (%d Blueprint %s with %d %s)", s.Instances, plural(s.Instances, "instance", "instances"),
			s.Children, plural(s.Children, "child", "children"))
	}
	out := fmt.Sprintf("%s: %d ready, %d drifted, %d paused, %d failing, %d held",
		counted, s.Ready, s.Drifted, s.Paused, s.Failing, s.Held)
	if s.Diverged > 0 {
		out += fmt.Sprintf("; %d held after break-glass (differ from git)", s.Diverged)
	}
	if s.SourcesNotReady > 0 {
		out += fmt.Sprintf("; %d of %d GitSources not Ready", s.SourcesNotReady, s.Sources)
	}
	return out
}

// AllReady reports whether every GitSource, managed object and Blueprint
// instance is Ready.
func (r *Report) AllReady() bool {
	if r.Summary.SourcesNotReady > 0 || r.Summary.Ready < r.Summary.Objects {
		return false
	}
	return true
}

// Build makes the report of sources and objects. objects are the managed
// objects of the namespaces in scope, plus any other objects the sources'
// inventories list (unmanaged kinds show without conditions; an inventory
// entry not among objects shows as missing). now is the time ages are
// measured to. Without the kinds (see BuildSnapshot), a Blueprint
// instance is known by its revision label.
func Build(sources []corev1alpha1.GitSource, objects []*unstructured.Unstructured, now time.Time) *Report {
	return BuildSnapshot(Snapshot{Now: now, Sources: sources, Objects: objects})
}

// BuildSnapshot makes the report of what Collect fetched: s.Kinds say
// which kinds Blueprints define, so that their instances (also those in
// groups ending in .infraplane.dev) are not taken for managed objects.
func BuildSnapshot(s Snapshot) *Report {
	sources, now := s.Sources, s.Now
	b := newBuilder(s.Objects, s.Rows, s.Kinds, now)
	r := &Report{Time: now, Sources: []*Source{}, NotFromGit: []*NamespaceObjects{}, Unlisted: s.Unlisted}

	srcs := slices.Clone(sources)
	slices.SortFunc(srcs, func(a, b corev1alpha1.GitSource) int {
		return cmp.Or(strings.Compare(a.Namespace, b.Namespace), strings.Compare(a.Name, b.Name))
	})
	claimed := map[*Row]bool{}
	held := map[string]bool{}
	for i := range srcs {
		s, us := b.source(&srcs[i])
		for _, u := range us {
			claimed[u] = true
		}
		for _, h := range srcs[i].Status.HeldPrune {
			held[refKey(h)] = true
		}
		r.Sources = append(r.Sources, s)
		if s.Ready.Status != "True" {
			r.Summary.SourcesNotReady++
		}
	}
	r.Summary.Sources = len(srcs)

	// A child whose instance is here goes under its instance, wherever
	// that is.
	byNS := map[string][]*Row{}
	for _, u := range b.objects {
		if !claimed[u] && b.judged(u) && b.parent[u] == nil {
			byNS[u.GetNamespace()] = append(byNS[u.GetNamespace()], u)
		}
	}
	for _, ns := range sortedKeys(byNS) {
		items, _ := b.withChildren(itemsOf(b, byNS[ns]))
		r.NotFromGit = append(r.NotFromGit, &NamespaceObjects{Namespace: ns, Objects: b.tree(items)})
	}

	b.summarize(r, held)
	return r
}

// summarize counts every managed object and Blueprint instance in r's
// Summary (held: the held prunes' keys) and returns them, without
// children, in the order of b.objects.
func (b *builder) summarize(r *Report, held map[string]bool) []*Object {
	var out []*Object
	for _, u := range b.objects {
		if !b.judged(u) {
			continue
		}
		o := b.object(u)
		out = append(out, o)
		r.Summary.Objects++
		if o.Instance {
			r.Summary.Instances++
		} else if b.parent[u] != nil {
			r.Summary.Children++
		}
		if o.Ready == "True" {
			r.Summary.Ready++
		}
		if o.Drifted == "True" {
			r.Summary.Drifted++
		}
		if o.Paused == "True" {
			r.Summary.Paused++
		}
		if o.Cause != nil {
			r.Summary.Failing++
		}
		if o.DivergedMessage != "" {
			r.Summary.Diverged++
		}
	}
	r.Summary.Held = len(held)
	return out
}

// builder indexes the objects for lookups by reference and by inventory entry.
type builder struct {
	now     time.Time
	objects []*Row
	// byName: namespace/Kind/name (references name a kind, not a group).
	byName map[string]*Row
	// byGK: group/Kind/namespace/name (inventory entries).
	byGK map[string]*Row
	// kinds are the managed kind names seen, for finding references.
	kinds []string
	// instanceKinds: group/Kind of the kinds Blueprints define → the
	// Blueprint's name.
	instanceKinds map[string]string
	// parent is a Blueprint child's instance; children the reverse.
	parent   map[*Row]*Row
	children map[*Row][]*Row
}

// newBuilder indexes rows and the objects read whole (read into rows).
func newBuilder(objects []*unstructured.Unstructured, rows []*Row, kinds []Kind, now time.Time) *builder {
	b := &builder{now: now, byName: map[string]*Row{}, byGK: map[string]*Row{},
		instanceKinds: map[string]string{}, parent: map[*Row]*Row{},
		children: map[*Row][]*Row{}}
	for _, k := range kinds {
		if k.IsInstance() {
			b.instanceKinds[k.Group+"/"+k.Kind] = k.Blueprint
		}
	}
	seenKind := map[string]bool{}
	all := slices.Grow(slices.Clone(rows), len(objects))
	for _, u := range objects {
		if u != nil {
			all = append(all, RowOf(u))
		}
	}
	for _, u := range all {
		if u == nil {
			continue
		}
		gvk := u.GroupVersionKind()
		k := gvk.Group + "/" + gvk.Kind + "/" + u.GetNamespace() + "/" + u.GetName()
		if _, dup := b.byGK[k]; dup {
			continue
		}
		b.byGK[k] = u
		b.objects = append(b.objects, u)
		if b.judged(u) {
			nk := u.GetNamespace() + "/" + gvk.Kind + "/" + u.GetName()
			if _, dup := b.byName[nk]; !dup {
				b.byName[nk] = u
			}
			if b.isManaged(u) && !seenKind[gvk.Kind] {
				seenKind[gvk.Kind] = true
				b.kinds = append(b.kinds, gvk.Kind)
			}
		}
	}
	slices.SortFunc(b.objects, func(x, y *Row) int {
		return cmp.Or(strings.Compare(x.GetNamespace(), y.GetNamespace()), strings.Compare(x.GetKind(), y.GetKind()), strings.Compare(x.GetName(), y.GetName()))
	})
	slices.Sort(b.kinds)
	b.linkChildren()
	return b
}

func refKey(r corev1alpha1.ObjectRef) string {
	return groupOf(r.APIVersion) + "/" + r.Kind + "/" + r.Namespace + "/" + r.Name
}

func (b *builder) lookup(r corev1alpha1.ObjectRef) *Row {
	return b.byGK[refKey(r)]
}

func (b *builder) age(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return duration.HumanDuration(b.now.Sub(t))
}

// source reports one GitSource; it returns the objects its inventory
// (and held prunes) matched.
func (b *builder) source(gs *corev1alpha1.GitSource) (*Source, []*Row) {
	s, heldKeys := b.sourceOnly(gs)
	return s, b.sourceObjects(gs, s, heldKeys)
}

// sourceOnly reports a GitSource without its objects; heldKeys are the
// refKeys of the objects whose prune it holds.
func (b *builder) sourceOnly(gs *corev1alpha1.GitSource) (s *Source, heldKeys map[string]bool) {
	target := cmp.Or(gs.Spec.TargetNamespace, gs.Namespace)
	s = &Source{Namespace: gs.Namespace, Name: gs.Name, TargetNamespace: target, Suspended: gs.Spec.Suspend, Objects: []*Object{}}
	s.Ready = b.sourceCondition(gs, sourceTypeReady)
	s.Applied = b.appliedRevision(gs)
	if a := gs.Status.LastAttemptedRevision; a != "" && a != gs.Status.LastAppliedRevision {
		s.LastAttempted = a
	}
	s.WebhookPath = gs.Status.WebhookPath
	if c := meta.FindStatusCondition(gs.Status.Conditions, sourceTypePushHook); c != nil && c.Status == "False" {
		hook := b.sourceCondition(gs, sourceTypePushHook)
		s.PushHook = &hook
	}
	heldKeys = map[string]bool{}
	if len(gs.Status.HeldPrune) > 0 {
		ph := &PruneHeld{Objects: []string{}}
		for _, h := range gs.Status.HeldPrune {
			ph.Objects = append(ph.Objects, h.Kind+"/"+h.Name)
			heldKeys[refKey(withNS(h, target))] = true
		}
		if c := meta.FindStatusCondition(gs.Status.Conditions, sourceTypePruneHeld); c != nil && c.Status == "True" {
			ph.Message = c.Message
			t := c.LastTransitionTime.Time
			ph.Since, ph.For = &t, b.age(t)
		}
		s.PruneHeld = ph
	}
	return s, heldKeys
}

// sourceObjects is the rest of source: the inventory and held prunes
// of s as its tree; it returns the objects they matched.
func (b *builder) sourceObjects(gs *corev1alpha1.GitSource, s *Source, heldKeys map[string]bool) []*Row {
	target := s.TargetNamespace
	refs := slices.Clone(gs.Status.Inventory)
	inInventory := make(map[string]bool, len(refs))
	for _, r := range refs {
		inInventory[refKey(withNS(r, target))] = true
	}
	for _, h := range gs.Status.HeldPrune {
		if k := refKey(withNS(h, target)); !inInventory[k] {
			inInventory[k] = true
			refs = append(refs, h)
		}
	}
	var items []item
	var matched []*Row
	for _, r := range refs {
		r = withNS(r, target)
		u := b.lookup(r)
		var o *Object
		if u == nil {
			o = &Object{APIVersion: r.APIVersion, Kind: r.Kind, Namespace: r.Namespace, Name: r.Name,
				Managed: IsManagedGroup(groupOf(r.APIVersion)) && !b.listedInstanceKind(r.APIVersion, r.Kind), Missing: true}
		} else {
			o = b.object(u)
			matched = append(matched, u)
		}
		o.HeldPrune = heldKeys[refKey(r)]
		items = append(items, item{obj: o, u: u})
	}
	items, children := b.withChildren(items)
	s.Objects = b.tree(items)
	return append(matched, children...)
}

// withNS gives an inventory entry the source's target namespace, unless
// it is a Blueprint (cluster-scoped: a platform GitSource applies those).
func withNS(r corev1alpha1.ObjectRef, ns string) corev1alpha1.ObjectRef {
	if r.Namespace == "" && !(r.Kind == "Blueprint" && groupOf(r.APIVersion) == corev1alpha1.GroupVersion.Group) {
		r.Namespace = ns
	}
	return r
}

func (b *builder) sourceCondition(gs *corev1alpha1.GitSource, typ string) Condition {
	c := meta.FindStatusCondition(gs.Status.Conditions, typ)
	if c == nil {
		return Condition{Type: typ, Status: "Unknown", Reason: "NotSynced", Message: "the syncer has not synced this GitSource yet (is the controller running?)"}
	}
	t := c.LastTransitionTime.Time
	return Condition{Type: c.Type, Status: string(c.Status), Reason: c.Reason, Message: c.Message, LastTransitionTime: &t, Age: b.age(t)}
}

// appliedRevision is the last applied revision, with author, message and
// time from the newest history record that applied it.
func (b *builder) appliedRevision(gs *corev1alpha1.GitSource) *Revision {
	rev := gs.Status.LastAppliedRevision
	if rev == "" {
		return nil
	}
	out := &Revision{Revision: rev, Short: shortRevision(rev)}
	for _, h := range gs.Status.History {
		if h.Revision == rev && h.Result == resultApplied {
			t := h.Time.Time
			out.Author, out.Message, out.AppliedAt, out.Age = h.Author, h.Message, &t, b.age(t)
			break
		}
	}
	return out
}

// shortRevision turns "main@sha1:<40 hex>" into "main@<12 hex>".
func shortRevision(rev string) string {
	ref, hash, ok := strings.Cut(rev, "@sha1:")
	if !ok {
		return rev
	}
	if len(hash) > 12 {
		hash = hash[:12]
	}
	return ref + "@" + hash
}

// object reports one object's state (no children).
func (b *builder) object(u *Row) *Object {
	gvk := u.GroupVersionKind()
	o := &Object{APIVersion: u.GetAPIVersion(), Kind: gvk.Kind, Namespace: u.GetNamespace(), Name: u.GetName(),
		Managed: b.isManaged(u), Source: u.GetLabels()[corev1alpha1.SourceLabel]}
	if ts := u.deleting; ts != nil {
		t := ts.Time
		o.DeletingSince = &t
	}
	b.instanceObject(o, u)
	if !o.Managed && !o.Instance {
		return o
	}
	conds := u.conds
	status := func(t string) string {
		if c := conds[t]; c != nil {
			return c.Status
		}
		return ""
	}
	o.Ready, o.Synced, o.Drifted, o.Paused = status(commonv1.TypeReady), status(commonv1.TypeSynced), status(commonv1.TypeDrifted), status(commonv1.TypePaused)
	if c := conds[commonv1.TypeDrifted]; isTrue(c) {
		o.DriftReason, o.DriftMessage = c.Reason, c.Message
	}
	o.Drift = u.drift
	if c := conds[commonv1.TypePaused]; isTrue(c) {
		o.PausedReason, o.PausedMessage = c.Reason, c.Message
	}
	if c := conds[commonv1.TypeDiverged]; isTrue(c) {
		o.DivergedMessage = c.Message
	}
	o.Cause = b.cause(u)
	return o
}

// blocking is the condition that says why an object is not Ready or not
// Synced: Synced when False (it carries the failure), else Ready; nil when
// both are True. An object without conditions was never reconciled.
func blocking(u *Row, conds map[string]*condition) *condition {
	s, r := conds[commonv1.TypeSynced], conds[commonv1.TypeReady]
	if s == nil && r == nil {
		return &condition{Type: commonv1.TypeReady, Status: "Unknown", Reason: ReasonNotReconciled,
			Message:            "no conditions yet: no controller has reconciled it (is infraplane running, with this kind enabled?)",
			LastTransitionTime: u.creationTime()}
	}
	if s != nil && s.Status != "True" {
		return s
	}
	if r == nil {
		return &condition{Type: commonv1.TypeReady, Status: "Unknown", Reason: ReasonNotReconciled, Message: "no Ready condition yet",
			LastTransitionTime: u.creationTime()}
	}
	if r.Status != "True" {
		return r
	}
	return nil
}

// blockingOf is blocking for a managed object or a Blueprint instance (an
// instance has Ready only, and Paused under a break-glass).
func (b *builder) blockingOf(u *Row) *condition {
	c := blocking(u, u.conds)
	if c != nil && c.Reason == ReasonNotReconciled && b.isInstance(u) {
		cc := *c // not the read condition's
		c = &cc
		gvk := u.GroupVersionKind()
		bp := "its Blueprint"
		if name := b.instanceKinds[gvk.Group+"/"+gvk.Kind]; name != "" {
			bp = "Blueprint " + name
		}
		c.Message = fmt.Sprintf("no Ready condition yet: the instance controller has not reconciled it (is infraplane running, and %s Ready?)", bp)
	}
	return c
}

// next is what a blocked object waits for: a managed object waiting for a
// reference, the reference's target; an instance waiting for a child, the
// child. t is nil when that object does not exist; ok is false when the
// object is blocked for a reason of its own (or it is not known what on).
func (b *builder) next(cur *Row, cc *condition) (kind, name string, t *Row, ok bool) {
	ns := cur.GetNamespace()
	if b.isInstance(cur) {
		if cc.Reason != instanceReasonBlocked && cc.Reason != instanceReasonChildFailed {
			return "", "", nil, false
		}
		r, found := blockingChild(cur, cc.Message)
		if !found {
			return "", "", nil, false
		}
		t = b.byGK[groupOf(r.APIVersion)+"/"+r.Kind+"/"+ns+"/"+r.Name]
		if t == nil && !b.listedKind(r.APIVersion, r.Kind) {
			return "", "", nil, false // not read (a ConfigMap): the instance's message says it all
		}
		return r.Kind, r.Name, t, true
	}
	if cc.Reason != commonv1.ReasonWaitingForRef {
		return "", "", nil, false
	}
	kind, name, ok = b.waitTarget(cur, cc)
	if !ok {
		return "", "", nil, false
	}
	return kind, name, b.byName[ns+"/"+kind+"/"+name], true
}

// cause finds the deepest reason an object is blocked: while the blocking
// condition waits for a reference (or, for a Blueprint instance, for a
// child), it follows it to the target and asks the same of it. It stops at
// a target that is missing, at one that fails for a reason of its own,
// and at a cycle.
func (b *builder) cause(u *Row) *Cause {
	cur := u
	cc := b.blockingOf(u)
	if cc == nil {
		return nil
	}
	id := func(x *Row) string { return x.GetKind() + "/" + x.GetName() }
	key := func(x *Row) string {
		return x.GetNamespace() + "/" + x.GetKind() + "/" + x.GetName()
	}
	c := &Cause{Chain: []string{id(u)}}
	visited := map[string]bool{key(u): true}
	finish := func(x *Row, cond *condition) *Cause {
		c.Object, c.Condition, c.Reason, c.Message = id(x), cond.Type, cond.Reason, cond.Message
		if !cond.LastTransitionTime.IsZero() {
			t := cond.LastTransitionTime
			c.Since, c.For = &t, b.age(t)
		}
		return c
	}
	for {
		kind, name, t, ok := b.next(cur, cc)
		if !ok {
			break
		}
		tkey := cur.GetNamespace() + "/" + kind + "/" + name
		if visited[tkey] {
			c.Chain = append(c.Chain, kind+"/"+name)
			c.Cycle = true
			return finish(cur, cc)
		}
		if t == nil {
			c.Chain = append(c.Chain, kind+"/"+name)
			c.Missing = true
			finish(cur, cc)
			c.Object, c.Reason = kind+"/"+name, commonv1.ReasonNotFound
			c.Message = fmt.Sprintf("%s %q does not exist in namespace %q", kind, name, cur.GetNamespace())
			return c
		}
		tc := b.blockingOf(t)
		if tc == nil {
			if ts := t.deleting; ts != nil {
				c.Chain = append(c.Chain, id(t))
				return finish(t, &condition{Type: commonv1.TypeReady, Reason: commonv1.ReasonDeleting,
					Message: fmt.Sprintf("%s is being deleted", id(t)), LastTransitionTime: ts.Time})
			}
			if b.isInstance(cur) {
				// The instance judges a child by more than its conditions
				// (readyWhen, the generation reconciled): its message says why.
				break
			}
			// The target is Ready now; the waiting object has not noticed yet.
			c.Note = fmt.Sprintf("%s is Ready now: %s should resume at its next reconcile", id(t), id(cur))
			break
		}
		visited[tkey] = true
		c.Chain = append(c.Chain, id(t))
		cur, cc = t, tc
	}
	return finish(cur, cc)
}

// waitTarget is the object a waiting object waits for: the one its
// message names, else the first reference by name whose target is missing
// or not Ready.
func (b *builder) waitTarget(u *Row, c *condition) (kind, name string, ok bool) {
	if kind, name, _, ok := parseWaiting(c.Message); ok {
		return kind, name, true
	}
	for _, r := range specRefs(u, b.kinds) {
		if r.Name == "" {
			continue
		}
		t := b.byName[u.GetNamespace()+"/"+r.Kind+"/"+r.Name]
		if t == nil {
			return r.Kind, r.Name, true
		}
		if blocking(t, t.conds) != nil {
			return r.Kind, r.Name, true
		}
	}
	return "", "", false
}

// item pairs a reported object with its source object (nil when missing).
// owner is the instance of a Blueprint child.
type item struct {
	obj   *Object
	u     *Row
	owner *Row
}

func itemsOf(b *builder, us []*Row) []item {
	out := make([]item, len(us))
	for i, u := range us {
		out[i] = item{obj: b.object(u), u: u}
	}
	return out
}

// tree nests each object under the object it references (of the same
// list and namespace; the shallowest reference field wins, e.g.
// spec.topicRef over spec.deadLetterPolicy.deadLetterTopicRef). Objects
// referencing nothing in the list are roots. A Blueprint child nests under
// a sibling it references, else under its instance. Reference cycles are
// broken.
func (b *builder) tree(items []item) []*Object {
	index := map[string]int{}
	byU := map[*Row]int{}
	for i, it := range items {
		index[it.obj.Namespace+"/"+it.obj.Kind+"/"+it.obj.Name] = i
		if it.u != nil {
			byU[it.u] = i
		}
	}
	// base is where an object goes without references: under its instance.
	base := make([]int, len(items))
	parent := make([]int, len(items))
	for i, it := range items {
		base[i] = -1
		if j, ok := byU[it.owner]; ok && it.owner != nil {
			base[i] = j
		}
		parent[i] = base[i]
		if it.u == nil || !it.obj.Managed {
			continue
		}
		refs := specRefs(it.u, b.kinds)
		slices.SortStableFunc(refs, func(x, y Ref) int {
			return cmp.Compare(strings.Count(x.Field, "."), strings.Count(y.Field, "."))
		})
		for _, r := range refs {
			if r.Name == "" {
				continue
			}
			if j, ok := index[it.obj.Namespace+"/"+r.Kind+"/"+r.Name]; ok && j != i && items[j].owner == it.owner {
				parent[i] = j
				break
			}
		}
	}
	// Break cycles: walking up from any node must reach a root.
	order := make([]int, len(items))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(x, y int) int { return compareObjects(items[x].obj, items[y].obj) })
	for _, i := range order {
		// A walk that comes back to i breaks the cycle at i; one that
		// enters a cycle without i stops (a member breaks it in its turn).
		seen := map[int]bool{i: true}
		for j := parent[i]; j >= 0; j = parent[j] {
			if j == i {
				parent[i] = base[i]
				if reaches(parent, base[i], i) {
					parent[i] = -1
				}
				break
			}
			if seen[j] {
				break
			}
			seen[j] = true
		}
	}
	var roots []*Object
	for _, i := range order {
		if p := parent[i]; p >= 0 {
			items[p].obj.Children = append(items[p].obj.Children, items[i].obj)
		} else {
			roots = append(roots, items[i].obj)
		}
	}
	if roots == nil {
		roots = []*Object{}
	}
	return roots
}

// reaches reports whether walking up parent from j meets i.
func reaches(parent []int, j, i int) bool {
	for n := 0; j >= 0 && n <= len(parent); j, n = parent[j], n+1 {
		if j == i {
			return true
		}
	}
	return false
}

func compareObjects(a, b *Object) int {
	return cmp.Or(strings.Compare(a.Namespace, b.Namespace), strings.Compare(a.Kind, b.Kind), strings.Compare(a.Name, b.Name))
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
