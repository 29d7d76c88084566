package blueprint_test

import (
	"context"
	"strings"
	"testing"

	"github.com/infraplane/infraplane/internal/status"
)

// infraplane status and trace on a real Queue: the kind is known from the
// cluster's Blueprints, the Queue (in platform.infraplane.dev) is an
// instance and not a managed object, and its children are under it.
func TestStatusShowsQueueWithItsChildren(t *testing.T) {
	ns := queueNamespace(t)
	q := newInstance(queueGVK, ns, "orders", map[string]any{"retentionDays": int64(3)})
	env.Create(t, q)
	waitInstance(t, q, isReady)
	ctx := context.Background()

	kinds, err := status.LoadClusterKinds(ctx, env.Client)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := status.Collect(ctx, env.Client, kinds, status.Scope{Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	r := status.BuildSnapshot(*snap)
	if len(r.NotFromGit) != 1 || len(r.NotFromGit[0].Objects) != 1 {
		t.Fatalf("not from git: want the Queue alone at the top, got %+v", r.NotFromGit)
	}
	root := r.NotFromGit[0].Objects[0]
	if root.ID() != "Queue/orders" || !root.Instance || root.Managed || root.Blueprint != "queue" || root.Ready != "True" || root.Revision == 0 {
		t.Errorf("root = %+v", root)
	}
	var tree []string
	var walk func(prefix string, o *status.Object)
	walk = func(prefix string, o *status.Object) {
		tree = append(tree, prefix+o.ID())
		for _, c := range o.Children {
			walk(prefix+"  ", c)
		}
	}
	walk("", root)
	// The subscription is under the topic it subscribes to (spec.topicRef).
	want := "Queue/orders |   Topic/orders |     Subscription/orders |   Topic/orders-dead-letter"
	if got := strings.Join(tree, " | "); got != want {
		t.Errorf("tree:\n%s\nwant\n%s", got, want)
	}
	if s := r.Summary; s.Objects != 4 || s.Instances != 1 || s.Children != 3 || s.Ready != 4 || s.Failing != 0 {
		t.Errorf("summary = %+v", s)
	}

	// trace queue/orders and a child.
	kind, err := status.ResolveKind(kinds, "queue")
	if err != nil {
		t.Fatal(err)
	}
	snap, target, err := status.CollectTrace(ctx, env.Client, kinds, kind, ns, "orders")
	if err != nil {
		t.Fatal(err)
	}
	tr, err := status.Trace(*snap, target)
	if err != nil {
		t.Fatal(err)
	}
	if in := tr.Object.Instance; in == nil || in.Blueprint != "queue" || len(in.Resources) != 3 {
		t.Errorf("trace queue/orders: instance %+v", in)
	}
	kind, err = status.ResolveKind(kinds, "subscription")
	if err != nil {
		t.Fatal(err)
	}
	snap, target, err = status.CollectTrace(ctx, env.Client, kinds, kind, ns, "orders")
	if err != nil {
		t.Fatal(err)
	}
	tr, err = status.Trace(*snap, target)
	if err != nil {
		t.Fatal(err)
	}
	if p := tr.Object.Parent; p == nil || !p.Found || p.Kind != "Queue" || p.Name != "orders" || p.Resource != "subscription" || p.Ready != "True" {
		t.Errorf("trace subscription/orders: parent %+v", p)
	}
}
