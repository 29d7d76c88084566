package pubsub_test

import (
	"strings"
	"testing"

	"cloud.google.com/go/pubsub/v2/pstest"
	"google.golang.org/grpc/codes"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
	pubsubv1 "github.com/infraplane/infraplane/api/pubsub/v1alpha1"
)

// An endpoint's error message is untrusted: one of 100 KiB (longer than a
// condition may be) still ends in a condition a person can read, with the
// start of the cloud's description and how much was left out, instead of
// a status write the API server refuses and a log line per retry the
// size of the message.
func TestHugeCloudErrorMessageIsShortened(t *testing.T) {
	huge := "quota exceeded: " + strings.Repeat("z", 100<<10)
	s := newListingScene(t, "error-size", pstest.WithErrorInjection("CreateTopic", codes.Internal, huge))
	tp := &pubsubv1.Topic{ObjectMeta: metav1.ObjectMeta{Name: "loud", Namespace: s.ns}}
	tp.Spec.DeletionPolicy = commonv1.DeletionAbandon
	env.Create(t, tp)
	c := env.WaitFor(t, tp, commonv1.TypeSynced, metav1.ConditionFalse, commonv1.ReasonCloudError)
	if len(c.Message) > 3<<10 {
		t.Errorf("condition message of %d bytes, want at most about 2 KiB", len(c.Message))
	}
	for _, want := range []string{"creating", "failed: Internal: quota exceeded: zzz", "more bytes not shown"} {
		if !strings.Contains(c.Message, want) {
			t.Errorf("condition message %.200q… does not say %q", c.Message, want)
		}
	}
}
