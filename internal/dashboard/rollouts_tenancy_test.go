package dashboard

import (
	"testing"

	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
)

// A rollout's message is withheld from a person with some namespaces when
// it names an instance elsewhere; the failures are filtered and counted.
func TestRolloutTenancy(t *testing.T) {
	some := &scope{namespaces: []string{"team-a"}}
	for _, c := range []struct {
		msg      string
		withheld bool
	}{
		{"halted: 2 instance(s) failed on revision 2 (team-b/orders: quota exceeded); 3 instance(s) stay on older revisions", true},
		{"halted: 1 instance(s) failed on revision 2 (team-a/orders: Topic/orders-dlq refused); 0 instance(s) stay", false},
		{"moved 2 instance(s) to revision 3 (team-a/x, team-c/y); 4 to go", true},
		{"moved 3 instance(s) to revision 3 (team-a/x, team-a/y and 1 more); 4 to go", false},
		{"waiting for 1 instance(s) to be Ready on revision 2 (team-a/q: apiVersion pubsub.infraplane.dev/v1alpha1 not Ready); 1 to go", false},
		{"paused (spec.rollout.paused): 4 instance(s) on older revisions", false},
		{"all 5 instance(s) on revision 2", false},
	} {
		got, withheld := visibleMessage(some, c.msg)
		if withheld != c.withheld || (withheld && got != "") || (!withheld && got != c.msg) {
			t.Errorf("visibleMessage(%q) = %q, %v; want withheld %v", c.msg, got, withheld, c.withheld)
		}
		if got, withheld := visibleMessage(&scope{all: true}, c.msg); got != c.msg || withheld {
			t.Errorf("visibleMessage for everything(%q) = %q, %v", c.msg, got, withheld)
		}
	}
	failed := []corev1alpha1.InstanceFailure{{Namespace: "team-b", Name: "b1"}, {Namespace: "team-a", Name: "a1"}, {Namespace: "team-c", Name: "c1"}}
	shown, left := visibleFailures(some, failed)
	if len(shown) != 1 || shown[0].Name != "a1" || left != 2 {
		t.Errorf("visibleFailures = %v, %d left out; want a1 and 2", shown, left)
	}
}

// Each field of the comparison says in words which of git, the object
// and the cloud differ, and marks the cells that differ from git.
func TestCompareField(t *testing.T) {
	for _, c := range []struct {
		git, object, cloud string
		want               string
		objectMarked       bool
		cloudMarked        bool
	}{
		{"1", "1", "1", "same in all three", false, false},
		{"1", "2", "3", "all three differ", true, true},
		{"1", "2", "2", "object and cloud differ from git", true, true},
		{"1", "2", "1", "object differs from git and the cloud", true, false},
		{"1", "1", "2", "cloud differs from git and the object", false, true},
		{"", "2", "2", "object and cloud differ from git", true, true},
	} {
		got := compareField(corev1alpha1.DivergedField{Path: "spec.x", Git: c.git, Object: c.object, Cloud: c.cloud})
		if got.Difference != c.want || got.ObjectDiffers != c.objectMarked || got.CloudDiffers != c.cloudMarked {
			t.Errorf("git %q object %q cloud %q: %+v, want %q", c.git, c.object, c.cloud, got, c.want)
		}
	}
}
