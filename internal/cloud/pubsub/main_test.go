package pubsub_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	pubsubapi "cloud.google.com/go/pubsub/v2/apiv1"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
	pubsubv1 "github.com/infraplane/infraplane/api/pubsub/v1alpha1"
	"github.com/infraplane/infraplane/internal/localcloud"
	"github.com/infraplane/infraplane/internal/localcloud/cloudtest"
	"github.com/infraplane/infraplane/internal/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) {
	code := testenv.Main(m, &env, testenv.Options{})
	backends.stop()
	os.Exit(code)
}

// backend is one Pub/Sub implementation the tests run against.
type backend struct {
	name   string
	mode   localcloud.Mode
	once   sync.Once
	cloud  *localcloud.Cloud
	err    error
	topics *pubsubapi.TopicAdminClient
	subs   *pubsubapi.SubscriptionAdminClient
}

type backendSet []*backend

// backends: Google's in-process fake (pstest) and the real gcloud Pub/Sub
// emulator (behind the local cloud's proxy, which makes the updates the
// emulator refuses). They differ (pstest does not validate names and
// updates filters), so behaviour is checked on both.
var backends = backendSet{
	{name: "pstest", mode: localcloud.ModeFakes},
	{name: "emulator", mode: localcloud.ModeEmulators},
}

func (bs backendSet) stop() {
	for _, b := range bs {
		if b.cloud != nil {
			b.topics.Close()
			b.subs.Close()
			_ = b.cloud.Stop()
		}
	}
}

// start starts the backend once per test binary; a missing emulator skips
// (or, with CI=true, fails) the test.
func (b *backend) start(t *testing.T) {
	t.Helper()
	b.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		b.cloud, b.err = localcloud.Start(ctx, localcloud.Options{Mode: b.mode, LogDir: os.TempDir(), Services: []localcloud.Service{localcloud.ServicePubSub}})
		if b.err != nil {
			return
		}
		opts := b.cloud.PubSubClientOptions()
		if b.topics, b.err = pubsubapi.NewTopicAdminClient(ctx, opts...); b.err != nil {
			return
		}
		b.subs, b.err = pubsubapi.NewSubscriptionAdminClient(ctx, opts...)
	})
	if errors.Is(b.err, localcloud.ErrNotInstalled) {
		cloudtest.Unavailable(t, "%s: %v", b.name, b.err)
	}
	if b.err != nil {
		t.Fatalf("starting %s: %v", b.name, b.err)
	}
}

// run runs fn as a subtest per backend, each in a fresh namespace whose
// ProviderConfig points at that backend.
func forEachBackend(t *testing.T, fn func(t *testing.T, s *scenario)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			b.start(t)
			pc := env.ProviderConfig(t, "test-"+b.name, b.cloud)
			fn(t, &scenario{b: b, ns: env.Namespace(t, pc), project: b.cloud.Project()})
		})
	}
}

// scenario is one subtest's namespace on one backend.
type scenario struct {
	b       *backend
	ns      string
	project string
}

// scenarioOn starts the first backend and returns a scenario in a
// namespace of its own, with a ProviderConfig named name-<backend>.
func scenarioOn(t *testing.T, name string) *scenario {
	t.Helper()
	s := &scenario{b: backends[0]}
	s.b.start(t)
	pc := env.ProviderConfig(t, name+"-"+s.b.name, s.b.cloud)
	s.ns, s.project = env.Namespace(t, pc), s.b.cloud.Project()
	return s
}

func (s *scenario) topicName(id string) string {
	return fmt.Sprintf("projects/%s/topics/%s", s.project, id)
}
func (s *scenario) subName(id string) string {
	return fmt.Sprintf("projects/%s/subscriptions/%s", s.project, id)
}

func (s *scenario) topic(name string, mutate ...func(*pubsubv1.Topic)) *pubsubv1.Topic {
	t := &pubsubv1.Topic{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: s.ns}}
	for _, m := range mutate {
		m(t)
	}
	return t
}

func (s *scenario) subscription(name, topic string, mutate ...func(*pubsubv1.Subscription)) *pubsubv1.Subscription {
	sub := &pubsubv1.Subscription{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: s.ns},
		Spec:       pubsubv1.SubscriptionSpec{TopicRef: commonv1.ResourceRef{Name: topic}},
	}
	for _, m := range mutate {
		m(sub)
	}
	return sub
}

func (s *scenario) getTopic(t *testing.T, id string) (*pubsubpb.Topic, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return s.b.topics.GetTopic(ctx, &pubsubpb.GetTopicRequest{Topic: s.topicName(id)})
}

func (s *scenario) getSub(t *testing.T, id string) (*pubsubpb.Subscription, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return s.b.subs.GetSubscription(ctx, &pubsubpb.GetSubscriptionRequest{Subscription: s.subName(id)})
}

func duration(d time.Duration) *metav1.Duration { return &metav1.Duration{Duration: d} }
