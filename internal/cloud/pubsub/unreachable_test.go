package pubsub_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
	pubsubv1 "github.com/infraplane/infraplane/api/pubsub/v1alpha1"
	"github.com/infraplane/infraplane/internal/hangtest"
	"github.com/infraplane/infraplane/internal/testenv"
)

// A ProviderConfig whose endpoint does not answer does not hold the
// workers every namespace shares: after a few calls find nobody, calls to
// it fail at once (one probe now and then), the objects say so, and a
// healthy namespace's objects are reconciled meanwhile.
func TestUnreachableEndpointDoesNotStallOthers(t *testing.T) {
	healthy := backends[0]
	healthy.start(t)
	ctx := context.Background()

	dead := &corev1alpha1.ProviderConfig{
		ObjectMeta: metav1.ObjectMeta{Name: "dead-endpoint"},
		Spec: corev1alpha1.ProviderConfigSpec{
			ProjectID:   "nowhere",
			Credentials: corev1alpha1.Credentials{Source: corev1alpha1.CredentialsNone},
			Endpoints:   corev1alpha1.Endpoints{PubSub: "127.0.0.1:1"}, // nothing listens on port 1
		},
	}
	if err := env.Client.Create(ctx, dead); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(ctx, dead) })
	deadNS := env.Namespace(t, dead.Name)
	// More topics than the kind has workers (10).
	var stuck []*pubsubv1.Topic
	for i := range 14 {
		tp := &pubsubv1.Topic{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("lost-%02d", i), Namespace: deadNS}}
		tp.Spec.DeletionPolicy = commonv1.DeletionAbandon // nothing to delete in a cloud that is not there
		env.Create(t, tp)
		stuck = append(stuck, tp)
	}

	// Every one of them gets its answer soon (a call cut short), so none
	// holds a worker for the client's 60 s retry budget.
	for _, tp := range stuck {
		testenv.Eventually(t, testenv.WaitTimeout, func() error {
			got := &pubsubv1.Topic{}
			if err := env.Client.Get(ctx, client.ObjectKeyFromObject(tp), got); err != nil {
				return err
			}
			if c := meta.FindStatusCondition(got.Status.Conditions, commonv1.TypeSynced); c == nil || c.Status != metav1.ConditionFalse {
				return fmt.Errorf("topic %s: Synced %+v", tp.Name, c)
			}
			return nil
		})
	}

	pc := env.ProviderConfig(t, "test-"+healthy.name, healthy.cloud)
	s := &scenario{b: healthy, ns: env.Namespace(t, pc), project: healthy.cloud.Project()}
	ok := s.topic("reachable")
	env.Create(t, ok)
	env.WaitReady(t, ok) // within testenv.WaitTimeout, well under the 60 s a stuck call would take

	testenv.Eventually(t, testenv.WaitTimeout, func() error {
		got := &pubsubv1.Topic{}
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(stuck[len(stuck)-1]), got); err != nil {
			return err
		}
		c := meta.FindStatusCondition(got.Status.Conditions, commonv1.TypeSynced)
		if c == nil || c.Status != metav1.ConditionFalse || !strings.Contains(c.Message, "pubsub endpoint 127.0.0.1:1 does not answer") {
			return fmt.Errorf("Synced %+v", c)
		}
		return nil
	})
}

// An endpoint that accepts connections and never answers (an emulator
// stopped with SIGSTOP, a black-holing proxy) costs each call at most its
// deadline (--cloud-read-timeout, 10 s), not the 3-minute pass: the first
// call that runs out of it opens the breaker, the objects say which
// endpoint hangs, and another ProviderConfig's objects are reconciled
// meanwhile.
func TestHungEndpointDoesNotStallOthers(t *testing.T) {
	healthy := backends[0]
	healthy.start(t)
	ctx := context.Background()

	hung := hangtest.Endpoint(t)

	stopped := &corev1alpha1.ProviderConfig{
		ObjectMeta: metav1.ObjectMeta{Name: "hung-endpoint"},
		Spec: corev1alpha1.ProviderConfigSpec{
			ProjectID:   "stopped",
			Credentials: corev1alpha1.Credentials{Source: corev1alpha1.CredentialsNone},
			Endpoints:   corev1alpha1.Endpoints{PubSub: hung},
		},
	}
	if err := env.Client.Create(ctx, stopped); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(ctx, stopped) })
	stoppedNS := env.Namespace(t, stopped.Name)
	start := time.Now()
	var stuck []*pubsubv1.Topic
	for i := range 14 { // more than the kind's 10 workers
		tp := &pubsubv1.Topic{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("frozen-%02d", i), Namespace: stoppedNS}}
		tp.Spec.DeletionPolicy = commonv1.DeletionAbandon
		env.Create(t, tp)
		stuck = append(stuck, tp)
	}

	pc := env.ProviderConfig(t, "test-hung-"+healthy.name, healthy.cloud)
	s := &scenario{b: healthy, ns: env.Namespace(t, pc), project: healthy.cloud.Project()}
	ok := s.topic("unaffected")
	env.Create(t, ok)
	env.WaitReady(t, ok) // within testenv.WaitTimeout: a worker is free after one call deadline at most
	t.Logf("the healthy topic was Ready %s after the hung ones were created", time.Since(start).Round(100*time.Millisecond))

	for _, tp := range stuck {
		testenv.Eventually(t, testenv.WaitTimeout, func() error {
			got := &pubsubv1.Topic{}
			if err := env.Client.Get(ctx, client.ObjectKeyFromObject(tp), got); err != nil {
				return err
			}
			c := meta.FindStatusCondition(got.Status.Conditions, commonv1.TypeSynced)
			if c == nil || c.Status != metav1.ConditionFalse || !strings.Contains(c.Message, "pubsub endpoint "+hung) {
				return fmt.Errorf("topic %s: Synced %+v", tp.Name, c)
			}
			return nil
		})
	}
}
