package spanner_test

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
	spannerv1 "github.com/infraplane/infraplane/api/spanner/v1alpha1"
)

// What the cloud refuses ends up in the Synced condition with the cloud's
// own message: a missing instance, and DDL that does not parse.
func TestCloudErrorSurfaced(t *testing.T) {
	s := onEmulator(t)
	orphan := s.database("orphan", "", func(db *spannerv1.SpannerDatabase) {
		db.Spec.InstanceRef = commonv1.ResourceRef{External: s.instanceName("no-such-instance")}
	})
	env.Create(t, orphan)
	c := env.WaitFor(t, orphan, commonv1.TypeSynced, metav1.ConditionFalse, commonv1.ReasonCloudError)
	if !strings.Contains(c.Message, "NotFound") || !strings.Contains(c.Message, "Instance not found") {
		t.Errorf("missing instance: %q", c.Message)
	}

	env.Create(t, s.instance("err-inst"))
	bad := s.database("baddl", "err-inst", func(db *spannerv1.SpannerDatabase) { db.Spec.DDL = []string{"CREATE TABLE broken"} })
	env.Create(t, bad)
	c = env.WaitFor(t, bad, commonv1.TypeSynced, metav1.ConditionFalse, commonv1.ReasonCloudError)
	if !strings.Contains(c.Message, "InvalidArgument") || !strings.Contains(c.Message, "Error parsing Spanner DDL statement") {
		t.Errorf("bad DDL: %q", c.Message)
	}
}
