package provider

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	pubsubapi "cloud.google.com/go/pubsub/v2/apiv1"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"cloud.google.com/go/pubsub/v2/pstest"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
	"github.com/infraplane/infraplane/internal/hangtest"
)

func emulatorConfig(name, endpoint string) *corev1alpha1.ProviderConfig {
	return &corev1alpha1.ProviderConfig{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1alpha1.ProviderConfigSpec{ProjectID: "project-" + name,
			Credentials: corev1alpha1.Credentials{Source: corev1alpha1.CredentialsNone},
			Endpoints:   corev1alpha1.Endpoints{PubSub: endpoint}},
	}
}

// A hung endpoint costs each call at most its deadline, never the client
// library's whole budget; the first call that runs out of it opens the
// breaker, so later calls fail at once (freeing the workers every
// ProviderConfig shares), with a message naming the endpoint; another
// ProviderConfig's endpoint is not affected.
func TestHungEndpointCallsEndAtTheirDeadline(t *testing.T) {
	hung := hangtest.Endpoint(t)
	fake := pstest.NewServer()
	t.Cleanup(func() { fake.Close() })
	r := NewResolver(world(t, emulatorConfig("stopped", hung), emulatorConfig("healthy", fake.Addr)), Options{ReadTimeout: time.Second, WriteTimeout: 2 * time.Second})

	admin := func(pc string) *pubsubapi.TopicAdminClient {
		c := resolve(t, r, pc)
		cl, err := pubsubapi.NewTopicAdminClient(context.Background(), c.GRPCOptions("pubsub", c.Endpoints.PubSub)...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cl.Close() })
		return cl
	}
	stopped, healthy := admin("stopped"), admin("healthy")

	// Ten workers call the hung endpoint at once, with no deadline of
	// their own (the library's is 60 s, with retries): each gets its
	// answer after the call's deadline.
	var wg sync.WaitGroup
	errs := make([]error, 10)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = stopped.GetTopic(context.Background(), &pubsubpb.GetTopicRequest{Topic: "projects/project-stopped/topics/t"})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		// Its own deadline, or (a retry after the connection attempt
		// was given up) the breaker that the first deadline opened.
		if status.Code(err) != codes.DeadlineExceeded || !(strings.Contains(err.Error(), "the pubsub endpoint "+hung+" did not answer GetTopic within 1s") ||
			strings.Contains(err.Error(), "not sent: the pubsub endpoint "+hung+" does not answer")) {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	// The breaker is open: a write is not even sent.
	_, err := stopped.CreateTopic(context.Background(), &pubsubpb.Topic{Name: "projects/project-stopped/topics/t"})
	if status.Code(err) != codes.DeadlineExceeded || !strings.Contains(err.Error(), "not sent: the pubsub endpoint "+hung+" does not answer") {
		t.Fatalf("call after the breaker opened: %v", err)
	}
	// The healthy ProviderConfig's endpoint answers as ever.
	if _, err := healthy.CreateTopic(context.Background(), &pubsubpb.Topic{Name: "projects/project-healthy/topics/t"}); err != nil {
		t.Fatalf("healthy endpoint: %v", err)
	}
}
