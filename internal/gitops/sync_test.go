package gitops_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
	pubsubv1 "github.com/infraplane/infraplane/api/pubsub/v1alpha1"
	"github.com/infraplane/infraplane/internal/gitops"
)

const subscriptionYAML = `apiVersion: pubsub.infraplane.dev/v1alpha1
kind: Subscription
metadata:
  name: orders-worker
spec:
  topicRef:
    name: orders
  ackDeadlineSeconds: 30
`

// A pushed commit is applied, later commits modify and prune, and each
// sync is in the history with its revision and author.
func TestSyncAppliesModifiesAndPrunes(t *testing.T) {
	r, gs, ns := setup(t, map[string]*string{
		"topics/orders.yaml":        str(topicYAML("orders", "checkout")),
		"topics/payments.yaml":      str(topicYAML("payments", "billing")),
		"subscriptions/worker.yaml": str(subscriptionYAML),
	}, func(g *corev1alpha1.GitSource) { g.Spec.MaxPrunePercent = 50 })
	ctx := context.Background()

	got := waitSource(t, gs, appliedRevision(r.hashes[0]))
	if c := readyCondition(got); c.Reason != gitops.ReasonApplied || !strings.Contains(c.Message, "3 created") {
		t.Errorf("Ready: %+v", c)
	}
	if len(got.Status.Inventory) != 3 {
		t.Errorf("inventory: %+v", got.Status.Inventory)
	}
	if h := got.Status.History; len(h) == 0 || h[0].Author != "Ada Lovelace <ada@example.com>" || h[0].Created != 3 {
		t.Errorf("history: %+v", h)
	}
	topic := &pubsubv1.Topic{}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "orders"}, topic); err != nil {
		t.Fatal(err)
	}
	if topic.Labels[corev1alpha1.SourceLabel] != ns+".infra" {
		t.Errorf("applied object not labelled with its source: %v", topic.Labels)
	}

	// Modify one object, remove another.
	h2 := r.push("payments moves out, orders changes team", map[string]*string{
		"topics/orders.yaml":   str(topicYAML("orders", "fulfilment")),
		"topics/payments.yaml": nil,
	})
	got = syncNow(t, gs, false)
	if err := appliedRevision(h2)(got); err != nil {
		t.Fatal(err)
	}
	if c := readyCondition(got); !strings.Contains(c.Message, "1 configured") || !strings.Contains(c.Message, "1 pruned") {
		t.Errorf("Ready after second commit: %s", c.Message)
	}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "orders"}, topic); err != nil || topic.Spec.Labels["team"] != "fulfilment" {
		t.Errorf("orders not updated: %v %v", err, topic.Spec.Labels)
	}
	payments := &pubsubv1.Topic{}
	err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "payments"}, payments)
	if err == nil && payments.DeletionTimestamp.IsZero() {
		t.Errorf("payments not pruned")
	}
	if len(got.Status.History) < 2 || got.Status.History[0].Pruned != 1 {
		t.Errorf("history: %+v", got.Status.History)
	}
}

// POST /hooks/git syncs the GitSources of the pushed repository at once
// (authentication: hook_test.go).
func TestWebhookTriggersSync(t *testing.T) {
	r, gs, ns := setup(t, map[string]*string{"orders.yaml": str(topicYAML("orders", "a"))},
		func(g *corev1alpha1.GitSource) {
			g.Spec.WebhookSecretRef = &corev1alpha1.LocalObjectReference{Name: "hook"}
		})
	hookSecret(t, ns, "hook", map[string][]byte{"token": []byte("s3cret")})
	waitSource(t, gs, appliedRevision(r.hashes[0]))
	h2 := r.push("team b", map[string]*string{"orders.yaml": str(topicYAML("orders", "b"))})

	srv := httptest.NewServer(gitops.WebhookHandler(env.Client, gitops.HookOptions{}))
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(`{"repository":{"clone_url":"file://`+r.bare+`"}}`))
	req.Header.Set("Authorization", "Bearer s3cret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("webhook: %s", resp.Status)
	}
	waitSource(t, gs, appliedRevision(h2))
}

// A suspended source applies nothing and says so.
func TestSuspend(t *testing.T) {
	_, gs, _ := setup(t, map[string]*string{"orders.yaml": str(topicYAML("orders", "a"))},
		func(g *corev1alpha1.GitSource) { g.Spec.Suspend = true })
	got := waitSource(t, gs, func(g *corev1alpha1.GitSource) error {
		if c := meta.FindStatusCondition(g.Status.Conditions, gitops.TypeReady); c == nil || c.Reason != gitops.ReasonSuspended {
			return errorf("not suspended yet: %+v", c)
		}
		return nil
	})
	if got.Status.LastAppliedRevision != "" {
		t.Errorf("suspended source applied %s", got.Status.LastAppliedRevision)
	}
}

// A direct edit of a synced object (outside break-glass) is put back to
// what git says on the next sync, even when git did not change.
func TestSyncRepairsDirectEdits(t *testing.T) {
	r, gs, ns := setup(t, map[string]*string{"orders.yaml": str(topicYAML("orders", "git"))})
	waitSource(t, gs, appliedRevision(r.hashes[0]))
	syncNow(t, gs, false) // a second, skipping sync: the syncer now knows the object
	ctx := context.Background()
	topic := &pubsubv1.Topic{}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "orders"}, topic); err != nil {
		t.Fatal(err)
	}
	patch := client.MergeFrom(topic.DeepCopy())
	topic.Spec.Labels["team"] = "by-hand"
	if err := env.Client.Patch(ctx, topic, patch); err != nil {
		t.Fatal(err)
	}
	got := syncNow(t, gs, false)
	if c := readyCondition(got); !strings.Contains(c.Message, "1 configured") {
		t.Errorf("the edited object was not re-applied: %s", c.Message)
	}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "orders"}, topic); err != nil {
		t.Fatal(err)
	}
	if topic.Spec.Labels["team"] != "git" {
		t.Errorf("direct edit survived the sync: team=%s", topic.Spec.Labels["team"])
	}
}
