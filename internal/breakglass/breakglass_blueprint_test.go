package breakglass_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	pubsubapi "cloud.google.com/go/pubsub/v2/apiv1"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
	pubsubv1 "github.com/infraplane/infraplane/api/pubsub/v1alpha1"
	"github.com/infraplane/infraplane/internal/breakglass"
	"github.com/infraplane/infraplane/internal/testenv"
)

// An EventStream is two topics labelled with the owning team.
const eventStreamBlueprint = `
apiVersion: infraplane.dev/v1alpha1
kind: Blueprint
metadata: {name: bg-event-stream}
spec:
  group: bgtest.infraplane.dev
  version: v1alpha1
  kind: EventStream
  schema: {type: object, properties: {team: {type: string, default: payments}}}
  resources:
  - id: events
    template:
      apiVersion: pubsub.infraplane.dev/v1alpha1
      kind: Topic
      metadata: {name: "${metadata.name}-events"}
      spec:
        labels: {team: "${spec.team}"}
        deletionPolicy: Abandon
  - id: audit
    template:
      apiVersion: pubsub.infraplane.dev/v1alpha1
      kind: Topic
      metadata: {name: "${metadata.name}-audit"}
      spec:
        labels: {team: "${spec.team}", role: audit}
        deletionPolicy: Abandon
`

const eventStreamYAML = `apiVersion: bgtest.infraplane.dev/v1alpha1
kind: EventStream
metadata:
  name: orders
spec:
  team: payments
`

var eventStreamGVK = schema.GroupVersionKind{Group: "bgtest.infraplane.dev", Version: "v1alpha1", Kind: "EventStream"}

var eventStreamOnce sync.Once

// eventStreams applies the Blueprint (once), lets the test people use its
// kind, and waits until its kind is served and guarded.
func eventStreams(t *testing.T) {
	t.Helper()
	eventStreamOnce.Do(func() {
		ctx := context.Background()
		bp := &corev1alpha1.Blueprint{}
		if err := yaml.UnmarshalStrict([]byte(eventStreamBlueprint), bp); err != nil {
			t.Fatal(err)
		}
		if err := env.Client.Create(ctx, bp); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
		testenv.Eventually(t, testenv.WaitTimeout, func() error {
			if err := env.Client.Get(ctx, client.ObjectKeyFromObject(bp), bp); err != nil {
				return err
			}
			if c := meta.FindStatusCondition(bp.Status.Conditions, corev1alpha1.BlueprintReady); c == nil || c.Status != metav1.ConditionTrue {
				return fmt.Errorf("Blueprint not ready: %+v", bp.Status.Conditions)
			}
			return nil
		})
		role := &rbacv1.ClusterRole{
			ObjectMeta: metav1.ObjectMeta{Name: "infraplane-test-event-streams"},
			Rules:      []rbacv1.PolicyRule{{APIGroups: []string{eventStreamGVK.Group}, Resources: []string{"*"}, Verbs: []string{"get", "list", "watch", "create", "update", "patch", "delete"}}},
		}
		binding := &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "infraplane-test-event-streams"},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
			Subjects: []rbacv1.Subject{
				{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: "oncall"},
				{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: "developers"},
			},
		}
		for _, o := range []client.Object{role, binding} {
			if err := env.Client.Create(ctx, o); err != nil && !apierrors.IsAlreadyExists(err) {
				t.Fatal(err)
			}
		}
		// The guard's rules name API groups: the Blueprint's is added when
		// it appears.
		testenv.Eventually(t, testenv.WaitTimeout, func() error {
			cfg := &admissionregistrationv1.ValidatingWebhookConfiguration{}
			if err := env.Client.Get(ctx, client.ObjectKey{Name: breakglass.WebhookConfigName}, cfg); err != nil {
				return err
			}
			for _, w := range cfg.Webhooks {
				for _, r := range w.Rules {
					if slices.Contains(r.APIGroups, eventStreamGVK.Group) {
						return nil
					}
				}
			}
			return fmt.Errorf("the guard does not cover %s yet", eventStreamGVK.Group)
		})
	})
}

// streamScenario is the usual scenario plus an EventStream "orders" in
// git, synced and Ready.
func streamScenario(t *testing.T) *scenario {
	t.Helper()
	eventStreams(t)
	s := newScenario(t)
	s.repo.push("orders event stream", map[string]string{"streams/orders.yaml": eventStreamYAML})
	s.sync(t)
	waitStream(t, s, "Ready", func(c *metav1.Condition) error {
		if c.Status != metav1.ConditionTrue {
			return fmt.Errorf("not Ready: %+v", c)
		}
		return nil
	})
	return s
}

func (s *scenario) stream(t *testing.T) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(eventStreamGVK)
	if err := env.Client.Get(context.Background(), s.key("orders"), u); err != nil {
		t.Fatal(err)
	}
	return u
}

// waitStream waits until the instance's condition typ passes check.
func waitStream(t *testing.T, s *scenario, typ string, check func(*metav1.Condition) error) {
	t.Helper()
	testenv.Eventually(t, testenv.WaitTimeout, func() error {
		u := s.stream(t)
		raw, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
		for _, x := range raw {
			var c metav1.Condition
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(x.(map[string]any), &c); err == nil && c.Type == typ {
				return check(&c)
			}
		}
		return fmt.Errorf("no %s condition", typ)
	})
}

func (s *scenario) topic(t *testing.T, name string) *pubsubv1.Topic {
	t.Helper()
	tp := &pubsubv1.Topic{}
	if err := env.Client.Get(context.Background(), s.key(name), tp); err != nil {
		t.Fatal(err)
	}
	return tp
}

// waitTopicTeam waits until the topic's team label is want, in the object
// and in the cloud.
func (s *scenario) waitTopicTeam(t *testing.T, name, want string) {
	t.Helper()
	ctx := context.Background()
	topics, err := pubsubapi.NewTopicAdminClient(ctx, s.cloud.PubSubClientOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	defer topics.Close()
	testenv.Eventually(t, testenv.WaitTimeout, func() error {
		if got := string(s.topic(t, name).Spec.Labels["team"]); got != want {
			return fmt.Errorf("object: team %q, want %q", got, want)
		}
		got, err := topics.GetTopic(ctx, &pubsubpb.GetTopicRequest{Topic: fmt.Sprintf("projects/%s/topics/%s", s.cloud.Project(), name)})
		if err != nil {
			return err
		}
		if got.Labels["team"] != want {
			return fmt.Errorf("cloud: team %q, want %q", got.Labels["team"], want)
		}
		return nil
	})
}

func waitTopicCondition(t *testing.T, s *scenario, name, typ string, check func(*metav1.Condition) error) {
	t.Helper()
	testenv.Eventually(t, testenv.WaitTimeout, func() error {
		c := meta.FindStatusCondition(s.topic(t, name).Status.Conditions, typ)
		if c == nil {
			return fmt.Errorf("no %s condition", typ)
		}
		return check(c)
	})
}

// setTeam patches a topic's team label as c.
func setTeam(c client.Client, s *scenario, name, team string) error {
	tp := &pubsubv1.Topic{}
	tp.Namespace, tp.Name = s.ns, name
	patch := client.RawPatch("application/merge-patch+json", fmt.Appendf(nil, `{"spec":{"labels":{"team":%q}}}`, team))
	return breakglass.Explain(c.Patch(context.Background(), tp, patch))
}

// setStreamTeam patches the instance's spec as c.
func setStreamTeam(c client.Client, s *scenario, team string) error {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(eventStreamGVK)
	u.SetNamespace(s.ns)
	u.SetName("orders")
	patch := client.RawPatch("application/merge-patch+json", fmt.Appendf(nil, `{"spec":{"team":%q}}`, team))
	return breakglass.Explain(c.Patch(context.Background(), u, patch))
}

// A break-glass on a Blueprint instance covers its children: the opener
// edits a child, the edit reaches the cloud and stands (the instance
// controller does not write it back), others are denied; at the end the
// child, which differs from what the Blueprint renders, is held until a
// revert puts the Blueprint's value back.
func TestBreakGlassOnInstanceCoversChildren(t *testing.T) {
	s := streamScenario(t)
	p := newPeople(t)
	ctx := context.Background()
	s.waitTopicTeam(t, "orders-events", "payments")

	// Outside a break-glass a child of a GitOps-managed instance is
	// guarded like the instance, and the refusal says where to break the
	// glass.
	err := setTeam(p.oncall, s, "orders-events", "oncall-fix")
	for _, want := range []string{"Topic/orders-events is made by EventStream/orders, an instance of a Blueprint that git manages (GitSource " + s.ns + "/infra)", "--target eventstream/orders"} {
		if !contains(err, want) {
			t.Errorf("direct edit of a child: got %v, want %q", err, want)
		}
	}
	// A child is covered through its instance only.
	_, err = breakglass.Open(ctx, p.oncall, breakglass.OpenRequest{Namespace: s.ns, Targets: []string{"topic/orders-events"}, Reason: "INC-77 events misrouted", Duration: time.Hour})
	if !contains(err, "Topic/orders-events is made by EventStream/orders (an instance of a Blueprint): open the break-glass on the instance") {
		t.Errorf("break-glass on a child: %v", err)
	}

	bg, err := breakglass.Open(ctx, p.oncall, breakglass.OpenRequest{
		Namespace: s.ns, Targets: []string{"eventstream/orders"}, Reason: "INC-77 events misrouted", Incident: "INC-77", Duration: time.Hour,
	})
	if err != nil {
		t.Fatalf("open on the instance: %v", err)
	}
	key := keyOf(bg)
	var got []string
	for _, tg := range bg.Status.Targets {
		got = append(got, fmt.Sprintf("%s/%s<%s>", tg.Kind, tg.Name, tg.Instance))
	}
	slices.Sort(got)
	if want := "EventStream/orders<> Topic/orders-audit<EventStream/orders> Topic/orders-events<EventStream/orders>"; strings.Join(got, " ") != want {
		t.Fatalf("targets %s, want %s", strings.Join(got, " "), want)
	}
	waitStream(t, s, "Paused", func(c *metav1.Condition) error {
		if c.Status != metav1.ConditionTrue || c.Reason != commonv1.ReasonBreakGlass || !strings.Contains(c.Message, bg.Name) || !strings.Contains(c.Message, bg.Status.ExpiresAt.UTC().Format(time.RFC3339)) {
			return fmt.Errorf("Paused %+v", c)
		}
		return nil
	})

	// The opener's edit reaches the cloud, and the instance controller,
	// which the edit wakes, leaves it (it reports readiness only).
	if err := setTeam(p.oncall, s, "orders-events", "oncall-fix"); err != nil {
		t.Fatalf("opener's edit of a child: %v", err)
	}
	s.waitTopicTeam(t, "orders-events", "oncall-fix")
	waitStream(t, s, "Ready", func(c *metav1.Condition) error {
		if c.Status != metav1.ConditionTrue || !strings.Contains(c.Message, "children not written") {
			return fmt.Errorf("Ready %+v", c)
		}
		return nil
	})
	if got := string(s.topic(t, "orders-events").Spec.Labels["team"]); got != "oncall-fix" {
		t.Fatalf("the instance controller wrote the child back during the window: team %q", got)
	}

	// The colleague may touch neither the children nor the instance.
	if err := setTeam(p.colleague, s, "orders-events", "bob"); !contains(err, "covered by break-glass "+bg.Name) || !contains(err, "only "+oncallUser+" may edit it") {
		t.Errorf("colleague's edit of a child: %v", err)
	}
	if err := setStreamTeam(p.colleague, s, "bob"); !contains(err, "EventStream/orders is managed by git") || !contains(err, "only "+oncallUser+" may edit it") {
		t.Errorf("colleague's edit of the instance: %v", err)
	}

	// The end: the child differs from the Blueprint's rendering and is
	// held, not overwritten; the rest matched.
	bg, err = breakglass.Close(ctx, p.oncall, key)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(bg.Status.Held, ",") != "Topic/orders-events" {
		t.Fatalf("held %v; targets %+v", bg.Status.Held, bg.Status.Targets)
	}
	for _, tg := range bg.Status.Targets {
		switch tg.Name {
		case "orders-events":
			if len(tg.Fields) != 1 || tg.Fields[0].Path != "spec.labels.team" || tg.Fields[0].Git != `"payments"` || tg.Fields[0].Object != `"oncall-fix"` ||
				!strings.Contains(tg.Message, "renders for EventStream/orders") {
				t.Errorf("report of the edited child: %+v", tg)
			}
		default:
			if tg.State != corev1alpha1.TargetInSync {
				t.Errorf("%s/%s: %s (%s)", tg.Kind, tg.Name, tg.State, tg.Message)
			}
		}
	}
	waitTopicCondition(t, s, "orders-events", commonv1.TypeDiverged, func(c *metav1.Condition) error {
		if c.Status != metav1.ConditionTrue || c.Reason != commonv1.ReasonHeld || !strings.Contains(c.Message, "git holds the instance, not its children") {
			return fmt.Errorf("Diverged %+v", c)
		}
		return nil
	})
	waitStream(t, s, "Paused", func(c *metav1.Condition) error {
		if c.Status != metav1.ConditionTrue || c.Reason != commonv1.ReasonHeld || !strings.Contains(c.Message, "Topic/orders-events") {
			return fmt.Errorf("Paused %+v", c)
		}
		return nil
	})
	s.waitTopicTeam(t, "orders-events", "oncall-fix")

	// Backport cannot write a child: git has the instance, not the child.
	if _, err := breakglass.Backport(ctx, p.oncall, key, breakglass.BackportRequest{}); !contains(err, "git holds their instance, not them") || !contains(err, "change the instance in the repository (or the Blueprint)") {
		t.Errorf("backport of a child: %v", err)
	}

	// Revert: the instance controller writes the Blueprint's value again.
	bg, err = breakglass.Revert(ctx, p.colleague, key)
	if err != nil {
		t.Fatal(err)
	}
	s.waitTopicTeam(t, "orders-events", "payments")
	waitStream(t, s, "Paused", func(c *metav1.Condition) error {
		if c.Status != metav1.ConditionFalse {
			return fmt.Errorf("Paused %+v", c)
		}
		return nil
	})
	waitTopicCondition(t, s, "orders-events", commonv1.TypeDiverged, func(c *metav1.Condition) error {
		if c.Status != metav1.ConditionFalse {
			return fmt.Errorf("Diverged %+v", c)
		}
		return nil
	})
	if err := setTeam(p.oncall, s, "orders-events", "oncall-fix"); !contains(err, "is made by EventStream/orders") {
		t.Errorf("edit of a child after the revert: %v", err)
	}

	// pauseActuation on the instance pauses its children's actuation.
	bg2, err := breakglass.Open(ctx, p.oncall, breakglass.OpenRequest{
		Namespace: s.ns, Targets: []string{"eventstream/orders"}, Reason: "INC-78 console change on the topics", Duration: time.Hour, PauseActuation: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"orders-events", "orders-audit"} {
		waitTopicCondition(t, s, name, commonv1.TypePaused, func(c *metav1.Condition) error {
			if c.Status != metav1.ConditionTrue || c.Reason != commonv1.ReasonBreakGlass || !strings.Contains(c.Message, bg2.Name) {
				return fmt.Errorf("Paused %+v", c)
			}
			return nil
		})
	}
	if bg2, err = breakglass.Close(ctx, p.oncall, keyOf(bg2)); err != nil || len(bg2.Status.Held) != 0 {
		t.Fatalf("close: %v, held %v", err, bg2.Status.Held)
	}
	waitTopicCondition(t, s, "orders-events", commonv1.TypePaused, func(c *metav1.Condition) error {
		if c.Status != metav1.ConditionFalse {
			return fmt.Errorf("Paused %+v", c)
		}
		return nil
	})
}
