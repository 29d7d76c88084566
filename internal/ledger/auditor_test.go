package ledger

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/infraplane/infraplane/internal/managed"
)

func cloudWrite() managed.CloudWrite {
	return managed.CloudWrite{
		Kind: "Topic", Namespace: "team-a", Name: "orders", Operation: "update",
		Resource: "projects/p/topics/orders", Fields: []string{"labels", "messageRetentionDuration"}, Drift: true,
	}
}

func TestCloudWriteAdapter(t *testing.T) {
	l, path := newLedger(t)
	var a managed.Auditor = l
	ctx := context.Background()
	okBefore := testutil.ToFloat64(entriesTotal.WithLabelValues("cloud-write"))

	a.CloudWrite(ctx, cloudWrite())
	spec := cloudWrite()
	spec.Drift = false
	spec.Err = status.Error(codes.PermissionDenied, "caller lacks pubsub.topics.update")
	a.CloudWrite(ctx, spec)
	a.CloudWrite(ctx, managed.CloudWrite{Kind: "Subscription", Namespace: "team-a", Name: "orders-sub", Operation: "create", Resource: "projects/p/subscriptions/orders-sub"})
	a.CloudWrite(ctx, managed.CloudWrite{Kind: "ProviderConfig", Name: "default", Operation: "delete"})

	es, err := Read(path, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 4 {
		t.Fatalf("%d entries", len(es))
	}
	want := []struct {
		actor, object, summary, errMsg, details string
		fields                                  int
	}{
		{"controller/Topic", "Topic team-a/orders",
			"updated labels, messageRetentionDuration (drift repair) of projects/p/topics/orders", "",
			"map[cause:drift-repair operation:update resource:projects/p/topics/orders]", 2},
		{"controller/Topic", "Topic team-a/orders",
			"failed to update labels, messageRetentionDuration (spec change) of projects/p/topics/orders: PermissionDenied: caller lacks pubsub.topics.update",
			"PermissionDenied: caller lacks pubsub.topics.update",
			"map[cause:spec-change operation:update resource:projects/p/topics/orders]", 2},
		{"controller/Subscription", "Subscription team-a/orders-sub",
			"created projects/p/subscriptions/orders-sub", "",
			"map[operation:create resource:projects/p/subscriptions/orders-sub]", 0},
		{"controller/ProviderConfig", "ProviderConfig default", "deleted ProviderConfig default", "", "map[operation:delete]", 0},
	}
	for i, w := range want {
		e := es[i]
		if e.Type != TypeCloudWrite || e.Actor != w.actor || e.Object != w.object || e.Summary != w.summary ||
			e.Error != w.errMsg || fmt.Sprint(e.Details) != w.details || len(e.Fields) != w.fields {
			t.Errorf("entry %d:\n got %+v\nwant %+v", i+1, e, w)
		}
	}
	if got := testutil.ToFloat64(entriesTotal.WithLabelValues("cloud-write")) - okBefore; got != 4 {
		t.Errorf("infraplane_ledger_entries_total{type=cloud-write} grew by %v", got)
	}
}

// An append that fails does not block or fail the reconcile: it is logged
// and counted.
func TestCloudWriteAdapterError(t *testing.T) {
	l, err := Open(filepath.Join(t.TempDir(), FileName))
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	before := testutil.ToFloat64(appendErrorsTotal)
	l.CloudWrite(context.Background(), cloudWrite()) // must return
	if got := testutil.ToFloat64(appendErrorsTotal) - before; got != 1 {
		t.Errorf("infraplane_ledger_append_errors_total grew by %v", got)
	}
	// Cancelled reconcile context (shutdown): still recorded.
	l2, path := newLedger(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	l2.CloudWrite(ctx, cloudWrite())
	if es, _ := Read(path, Filter{}); len(es) != 1 {
		t.Errorf("a write during shutdown was not recorded: %d entries", len(es))
	}
}

func TestMetricsRegistered(t *testing.T) {
	entriesTotal.WithLabelValues("sync") // a counter vec shows up once it has a child
	mfs, err := ctrlmetrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]bool{}
	for _, mf := range mfs {
		found[mf.GetName()] = true
	}
	for _, n := range []string{"infraplane_ledger_entries_total", "infraplane_ledger_append_errors_total"} {
		if !found[n] {
			t.Errorf("%s not in controller-runtime's registry", n)
		}
	}
}
