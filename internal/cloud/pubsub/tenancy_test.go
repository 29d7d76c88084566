package pubsub_test

import (
	"context"
	"strings"
	"testing"

	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
	pubsubv1 "github.com/infraplane/infraplane/api/pubsub/v1alpha1"
	"github.com/infraplane/infraplane/internal/managed"
	"github.com/infraplane/infraplane/internal/testenv"
)

// teamBProject is another team's project on the same local cloud (the
// emulators accept any project id).
const teamBProject = "team-b-project"

// providerConfig applies a ProviderConfig for backend b named name,
// changed by mutate.
func providerConfig(t *testing.T, b *backend, name string, mutate func(*corev1alpha1.ProviderConfig)) string {
	t.Helper()
	pc := &corev1alpha1.ProviderConfig{
		TypeMeta:   metav1.TypeMeta{APIVersion: corev1alpha1.GroupVersion.String(), Kind: "ProviderConfig"},
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1alpha1.ProviderConfigSpec{
			ProjectID:   b.cloud.Project(),
			Credentials: corev1alpha1.Credentials{Source: corev1alpha1.CredentialsNone},
			Endpoints:   testenv.EndpointsOf(b.cloud),
		},
	}
	mutate(pc)
	//nolint:staticcheck // typed server-side apply
	if err := env.Client.Patch(context.Background(), pc, client.Apply, client.FieldOwner("tenancy-test"), client.ForceOwnership); err != nil {
		t.Fatal(err)
	}
	return name
}

// Attack 3 of the tenancy issue: a team-a Subscription on team-b's topic
// (topicRef.external in team-b's project) would pull team-b's messages.
// Refused before any cloud call, naming the field, the project and the
// ProviderConfig; nothing is subscribed to team-b's topic. Once the
// platform lists the project in referenceProjects (a shared topic, made
// explicit), the same subscription is created.
func TestTenancySubscriptionOnAnotherProjectsTopicRefused(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *scenario) {
		ctx := context.Background()
		teamB := "projects/" + teamBProject + "/topics/payments"
		if _, err := s.b.topics.CreateTopic(ctx, &pubsubpb.Topic{Name: teamB}); err != nil && status.Code(err) != codes.AlreadyExists {
			t.Fatal(err)
		}
		pcName := providerConfig(t, s.b, "tenancy-a-"+s.b.name, func(*corev1alpha1.ProviderConfig) {})
		ns := env.Namespace(t, pcName)
		sub := &pubsubv1.Subscription{
			ObjectMeta: metav1.ObjectMeta{Name: "steal-payments", Namespace: ns},
			Spec:       pubsubv1.SubscriptionSpec{TopicRef: commonv1.ResourceRef{External: teamB}},
		}
		want := []string{"spec.topicRef.external", `project "` + teamBProject + `"`, `ProviderConfig "` + pcName + `"`, "spec.referenceProjects", "no cloud call"}
		// Refused when applied (the admission webhook knows the
		// namespace's ProviderConfig)…
		env.CreateRefusedEventually(t, sub.DeepCopy(), want...)
		// …and, should it get in (the webhook down, or the ProviderConfig
		// changed after), by the controller before any cloud call. (Paused
		// while it gets in, so that nothing is written in between.)
		sub.Annotations = map[string]string{managed.PausedAnnotation: "true"}
		providerConfig(t, s.b, pcName, func(pc *corev1alpha1.ProviderConfig) { pc.Spec.ReferenceProjects = []string{teamBProject} })
		refusedUntil := sub.DeepCopy()
		testenv.Eventually(t, testenv.WaitTimeout, func() error { return env.Client.Create(ctx, refusedUntil) })
		providerConfig(t, s.b, pcName, func(pc *corev1alpha1.ProviderConfig) { pc.Spec.ReferenceProjects = nil })
		// Unpaused only once the controller has seen the narrower
		// ProviderConfig (it refuses while paused too).
		env.Poke(t, sub)
		env.WaitFor(t, sub, commonv1.TypeSynced, metav1.ConditionFalse, commonv1.ReasonNotPermitted)
		testenv.Update(t, env, sub, func(sb *pubsubv1.Subscription) { delete(sb.Annotations, managed.PausedAnnotation) })
		c := env.WaitFor(t, sub, commonv1.TypeSynced, metav1.ConditionFalse, commonv1.ReasonNotPermitted)
		for _, w := range want {
			if !strings.Contains(c.Message, w) {
				t.Errorf("Synced message does not mention %q: %s", w, c.Message)
			}
		}
		// An independent read: nothing subscribes to team-b's topic.
		noSubscriber := func() {
			t.Helper()
			it := s.b.topics.ListTopicSubscriptions(ctx, &pubsubpb.ListTopicSubscriptionsRequest{Topic: teamB})
			if name, err := it.Next(); err == nil {
				t.Errorf("team-b's topic has a subscriber: %s", name)
			}
			if _, err := s.getSub(t, "steal-payments"); status.Code(err) != codes.NotFound {
				t.Errorf("the subscription exists in the cloud (err %v)", err)
			}
		}
		noSubscriber()

		// A dead-letter topic in another project is refused the same way.
		dl := &pubsubv1.Subscription{
			ObjectMeta: metav1.ObjectMeta{Name: "dead-letter-elsewhere", Namespace: ns},
			Spec: pubsubv1.SubscriptionSpec{TopicRef: commonv1.ResourceRef{Name: "own"},
				DeadLetterPolicy: &pubsubv1.DeadLetterPolicy{DeadLetterTopicRef: commonv1.ResourceRef{External: teamB}, MaxDeliveryAttempts: 5}},
		}
		env.CreateRefusedEventually(t, dl, "spec.deadLetterPolicy.deadLetterTopicRef.external")
		noSubscriber()

		// The platform makes the shared topic explicit: the subscription
		// is created (in team-a's project).
		providerConfig(t, s.b, pcName, func(pc *corev1alpha1.ProviderConfig) { pc.Spec.ReferenceProjects = []string{teamBProject} })
		env.Poke(t, sub)
		env.WaitReady(t, sub)
		got, err := s.getSub(t, "steal-payments")
		if err != nil {
			t.Fatal(err)
		}
		if got.Topic != teamB || !strings.HasPrefix(got.Name, "projects/"+s.project+"/") {
			t.Errorf("subscription %s on %s", got.Name, got.Topic)
		}
	})
}

// A namespace whose ProviderConfig's namespaceSelector does not select it
// makes no cloud call: its objects say why.
func TestTenancyNamespaceNotSelectedByProviderConfig(t *testing.T) {
	b := backends[0]
	b.start(t)
	pcName := providerConfig(t, b, "tenancy-selected", func(pc *corev1alpha1.ProviderConfig) {
		pc.Spec.NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"team": "payments"}}
	})
	ns := env.Namespace(t, pcName)
	topic := &pubsubv1.Topic{ObjectMeta: metav1.ObjectMeta{Name: "not-selected", Namespace: ns}}
	want := []string{`namespace "` + ns + `" may not use`, pcName, "namespaceSelector", "team=payments", "no cloud call"}
	env.CreateRefusedEventually(t, topic.DeepCopy(), want...)
	s := &scenario{b: b, ns: ns, project: b.cloud.Project()}
	if _, err := s.getTopic(t, "not-selected"); status.Code(err) != codes.NotFound {
		t.Errorf("the topic exists in the cloud (err %v)", err)
	}
	// Labelled by the platform team, the namespace may use it.
	label := func(l map[string]string) {
		testenv.Update(t, env, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, func(n *corev1.Namespace) { n.Labels = l })
	}
	label(map[string]string{"team": "payments"})
	// The webhook reads the namespace from a cache: retry until it has the label.
	testenv.Eventually(t, testenv.WaitTimeout, func() error { return env.Client.Create(context.Background(), topic) })
	env.WaitReady(t, topic)
	// Unlabelled again, the controller stops before any cloud call.
	label(nil)
	env.Poke(t, topic)
	c := env.WaitFor(t, topic, commonv1.TypeSynced, metav1.ConditionFalse, commonv1.ReasonNotPermitted)
	for _, w := range want {
		if !strings.Contains(c.Message, w) {
			t.Errorf("Synced message does not mention %q: %s", w, c.Message)
		}
	}
}
