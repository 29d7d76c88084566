package status

import (
	"regexp"
	"strconv"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
	"github.com/infraplane/infraplane/internal/refs"
)

// Ref is one reference found in an object's spec (see package refs).
type Ref = refs.Ref

// FindRefs lists the references in obj (see refs.Find).
func FindRefs(obj map[string]any, kinds []string) []Ref { return refs.Find(obj, kinds) }

func specRefs(r *Row, kinds []string) []Ref { return refs.InSpecMap(r.spec, kinds) }

// waitingRe matches the message of a WaitingForReference condition, as the
// generic reconciler writes it: waiting for Topic "orders" (spec.topicRef): …
var waitingRe = regexp.MustCompile(`^waiting for ([A-Za-z][A-Za-z0-9]*) ("(?:[^"\\]|\\.)*") \(([^)]*)\)`)

// parseWaiting extracts the target a waiting object names in its message.
func parseWaiting(msg string) (kind, name, field string, ok bool) {
	m := waitingRe.FindStringSubmatch(msg)
	if m == nil {
		return "", "", "", false
	}
	name, err := strconv.Unquote(m[2])
	if err != nil {
		return "", "", "", false
	}
	return m[1], name, m[3], true
}

// condition is one condition of an object, read from unstructured content.
type condition struct {
	Type, Status, Reason, Message string
	LastTransitionTime            time.Time
	ObservedGeneration            int64
}

// managedStatus reads the status fields every managed kind has. Unknown
// fields (observed, kind-specific ones) are ignored, so this works for every
// managed kind without per-kind code.
func managedStatus(u *unstructured.Unstructured) commonv1.ManagedStatus {
	var st commonv1.ManagedStatus
	if m, ok := u.Object["status"].(map[string]any); ok {
		_ = runtime.DefaultUnstructuredConverter.FromUnstructured(m, &st)
	}
	return st
}

func conditionsOf(st commonv1.ManagedStatus) map[string]*condition {
	out := make(map[string]*condition, len(st.Conditions))
	for _, c := range st.Conditions {
		out[c.Type] = &condition{
			Type: c.Type, Status: string(c.Status), Reason: c.Reason, Message: c.Message,
			LastTransitionTime: c.LastTransitionTime.Time, ObservedGeneration: c.ObservedGeneration,
		}
	}
	return out
}

func isTrue(c *condition) bool { return c != nil && c.Status == "True" }

// groupOf returns the API group of an apiVersion ("pubsub.infraplane.dev/v1alpha1").
func groupOf(apiVersion string) string {
	gv, err := schema.ParseGroupVersion(apiVersion)
	if err != nil {
		return ""
	}
	return gv.Group
}
