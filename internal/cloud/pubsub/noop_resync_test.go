package pubsub_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
	pubsubv1 "github.com/infraplane/infraplane/api/pubsub/v1alpha1"
	"github.com/infraplane/infraplane/internal/testenv"
)

// A resync that finds the cloud resource as it was writes nothing: no
// status write for lastSyncTime, nor for a Ready message that changed from
// "created ..." on the first resync after the create.
func TestNoopResyncWritesNothing(t *testing.T) {
	s := scenarioOn(t, "test-noop")

	every := func(o client.Object) {
		switch o := o.(type) {
		case *pubsubv1.Topic:
			o.Spec.ResyncInterval = &metav1.Duration{Duration: 500 * time.Millisecond}
		case *pubsubv1.Subscription:
			o.Spec.ResyncInterval = &metav1.Duration{Duration: 500 * time.Millisecond}
		}
	}
	topic := s.topic("quiet")
	sub := s.subscription("quiet-sub", "quiet")
	every(topic)
	every(sub)
	env.Create(t, topic)
	env.Create(t, sub)
	objs := []testenv.Managed{topic, sub}
	for _, o := range objs {
		env.WaitSynced(t, o)
	}
	// The objects' resourceVersions once the create's passes are done,
	// then after some ten resyncs each (at least one of them the first
	// resync after the create).
	rvs := make([]string, len(objs))
	for i, o := range objs {
		rvs[i] = o.GetResourceVersion()
	}
	time.Sleep(5 * time.Second)
	for i, o := range objs {
		if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(o), o); err != nil {
			t.Fatal(err)
		}
		if o.GetResourceVersion() != rvs[i] {
			t.Errorf("%s: written by resyncs that found nothing new (resourceVersion %s -> %s); status now %+v", o.GetName(), rvs[i], o.GetResourceVersion(), o.ManagedStatus())
		}
		if r := meta.FindStatusCondition(o.ManagedStatus().Conditions, commonv1.TypeReady); r == nil || r.Status != metav1.ConditionTrue || !strings.HasPrefix(r.Message, "created ") {
			t.Errorf("%s: Ready %+v, want True with the create's message kept", o.GetName(), r)
		}
		if o.ManagedStatus().LastSyncTime == nil {
			t.Errorf("%s: no lastSyncTime", o.GetName())
		}
	}
}
