package status

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
)

// Row is one object as a report reads it: its identity, labels and
// owners, its conditions, drift, a Blueprint instance's revision and
// resources, and its spec (for references). The builder reads every
// object through a Row, each field read once: a report asks for the same
// fields several times per object, and an Unstructured answers each by
// walking maps (and copies its labels every time).
//
// A Row comes either from an object read whole (RowOf, which keeps it
// for trace's other fields) or straight from a list answer's bytes
// (decodeList), without the object's maps ever being built.
type Row struct {
	apiVersion, group, version, kind string
	namespace, name                  string
	uid                              types.UID
	gen                              int64
	labels                           map[string]string
	owners                           []metav1.OwnerReference
	created                          metav1.Time
	deleting                         *metav1.Time

	conds     map[string]*condition
	drift     []commonv1.FieldDrift
	revision  int64
	resources []instanceResource
	spec      map[string]any

	// u is the object read whole (nil for a row decoded from a list).
	u *unstructured.Unstructured
}

// RowOf reads what a report needs of an object read whole.
func RowOf(u *unstructured.Unstructured) *Row {
	st := managedStatus(u)
	r := &Row{
		apiVersion: u.GetAPIVersion(), kind: u.GetKind(), namespace: u.GetNamespace(), name: u.GetName(),
		uid: u.GetUID(), gen: u.GetGeneration(), labels: u.GetLabels(), owners: u.GetOwnerReferences(),
		created: u.GetCreationTimestamp(), deleting: u.GetDeletionTimestamp(),
		conds: conditionsOf(st), drift: st.Drift,
		revision: instanceRevision(u), resources: instanceResources(u), u: u,
	}
	r.setAPIVersion(r.apiVersion)
	r.spec, _ = u.Object["spec"].(map[string]any)
	return r
}

// The accessors are named as Unstructured's, which the builder used before.

func (r *Row) GetAPIVersion() string { return r.apiVersion }
func (r *Row) GetKind() string       { return r.kind }
func (r *Row) GetNamespace() string  { return r.namespace }
func (r *Row) GetName() string       { return r.name }
func (r *Row) GetUID() types.UID     { return r.uid }

// GetLabels returns the row's labels themselves: read them, do not change them.
func (r *Row) GetLabels() map[string]string { return r.labels }

func (r *Row) GroupVersionKind() schema.GroupVersionKind {
	return schema.GroupVersionKind{Group: r.group, Version: r.version, Kind: r.kind}
}

// setAPIVersion sets the apiVersion and the group and version read from it.
func (r *Row) setAPIVersion(apiVersion string) {
	r.apiVersion, r.group, r.version = apiVersion, "", ""
	if gv, err := schema.ParseGroupVersion(apiVersion); err == nil {
		r.group, r.version = gv.Group, gv.Version
	}
}

func (r *Row) creationTime() time.Time { return r.created.Time }

func (r *Row) generation() int64 { return r.gen }

// managedFields are trace's, of an object read whole (none for a row
// decoded from a list: trace reads objects whole).
func (r *Row) managedFields() []metav1.ManagedFieldsEntry {
	if r.u == nil {
		return nil
	}
	return r.u.GetManagedFields()
}

// Object is the object read whole, nil for a row decoded from a list.
func (r *Row) Object() *unstructured.Unstructured { return r.u }

// managedStatus is the object's status for a trace: in full when it was
// read whole, else what the row kept of it.
func (r *Row) managedStatus() commonv1.ManagedStatus {
	if r.u != nil {
		return managedStatus(r.u)
	}
	st := commonv1.ManagedStatus{Drift: r.drift}
	for _, c := range r.conds {
		st.Conditions = append(st.Conditions, metav1.Condition{Type: c.Type, Status: metav1.ConditionStatus(c.Status),
			Reason: c.Reason, Message: c.Message, LastTransitionTime: metav1.NewTime(c.LastTransitionTime), ObservedGeneration: c.ObservedGeneration})
	}
	return st
}
