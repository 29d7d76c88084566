package bigtable_test

import (
	"context"
	"fmt"
	"maps"
	"testing"
	"time"

	bigtablev1 "github.com/infraplane/infraplane/api/bigtable/v1alpha1"
	"github.com/infraplane/infraplane/internal/managed"
	"github.com/infraplane/infraplane/internal/testenv"
)

// A table is created with its column families, GC policies and splits;
// spec edits add, change and drop families; deleting the object deletes
// the table.
func TestTableLifecycle(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *scenario) {
		two := int32(2)
		tbl := s.table("events", func(tb *bigtablev1.BigtableTable) {
			tb.Spec.ColumnFamilies = []bigtablev1.ColumnFamily{
				family("raw", versions(1)),
				family("agg", &bigtablev1.GCPolicy{MaxVersions: &two, MaxAge: duration(24 * time.Hour)}),
				family("keep", nil),
				family("ttl", &bigtablev1.GCPolicy{MaxAge: duration(time.Hour + 1500*time.Microsecond)}), // sent as whole ms
			}
			tb.Spec.SplitKeys = []string{"g", "p"}
		})
		env.Create(t, tbl)
		env.WaitReady(t, tbl)
		if tbl.Status.SelfLink != s.tableName("events") || tbl.Status.ResourceID != "events" {
			t.Fatalf("status: selfLink %q resourceID %q", tbl.Status.SelfLink, tbl.Status.ResourceID)
		}
		if tbl.Status.CreatedWith == nil || len(tbl.Status.CreatedWith.SplitKeys) != 2 {
			t.Errorf("status.createdWith = %+v", tbl.Status.CreatedWith)
		}
		got, err := s.getTable(t, "events")
		if err != nil {
			t.Fatalf("table not in the cloud: %v", err)
		}
		want := map[string]string{"raw": "maxVersions=1", "agg": "union(maxAge=24h0m0s, maxVersions=2)", "keep": "none", "ttl": "maxAge=1h0m0.001s"}
		if !maps.Equal(got.families, want) {
			t.Errorf("families in the cloud %v, want %v", got.families, want)
		}

		// Add one, drop one, change one's policy: one ModifyColumnFamilies.
		testenv.Update(t, env, tbl, func(tb *bigtablev1.BigtableTable) {
			tb.Spec.ColumnFamilies = []bigtablev1.ColumnFamily{
				family("agg", &bigtablev1.GCPolicy{MaxVersions: &two, MaxAge: duration(time.Hour), Mode: bigtablev1.GCIntersection}),
				family("keep", nil),
				family("new", versions(5)),
			}
		})
		want = map[string]string{"agg": "intersection(maxAge=1h0m0s, maxVersions=2)", "keep": "none", "new": "maxVersions=5"}
		testenv.Eventually(t, 20*time.Second, func() error {
			got, err := s.getTable(t, "events")
			if err != nil {
				return err
			}
			if !maps.Equal(got.families, want) {
				return fmt.Errorf("families %v, want %v", got.families, want)
			}
			return nil
		})
		env.WaitSynced(t, tbl)
		if tbl.Status.Observed == nil || !maps.Equal(tbl.Status.Observed.ColumnFamilies, want) {
			t.Errorf("status.observed = %+v", tbl.Status.Observed)
		}

		if err := env.Client.Delete(context.Background(), tbl); err != nil {
			t.Fatal(err)
		}
		env.WaitGone(t, tbl)
		if _, err := s.getTable(t, "events"); !managed.IsNotFound(err) {
			t.Fatalf("table still in the cloud after delete: %v", err)
		}
	})
}
