package bigtable_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/bigtable"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	bigtablev1 "github.com/infraplane/infraplane/api/bigtable/v1alpha1"
	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
	btcloud "github.com/infraplane/infraplane/internal/cloud/bigtable"
	"github.com/infraplane/infraplane/internal/provider"
	"github.com/infraplane/infraplane/internal/testenv"
)

// createLegacyTable makes a table behind infraplane's back, with families
// a (maxVersions=1) and b (maxVersions=2).
func createLegacyTable(t *testing.T, s *scenario, id string) {
	t.Helper()
	if err := s.admin.CreateTableFromConf(context.Background(), &bigtable.TableConf{
		TableID: id,
		ColumnFamilies: map[string]bigtable.Family{
			"a": {GCPolicy: bigtable.MaxVersionsPolicy(1)},
			"b": {GCPolicy: bigtable.MaxVersionsPolicy(2)},
		},
	}); err != nil {
		t.Fatal(err)
	}
}

// waitFamilies waits until the cloud has exactly the families want.
func waitFamilies(t *testing.T, s *scenario, id string, want ...string) {
	t.Helper()
	testenv.Eventually(t, 20*time.Second, func() error {
		got, err := s.getTable(t, id)
		if err != nil {
			return err
		}
		if len(got.families) != len(want) {
			return fmt.Errorf("families %v, want %v", got.families, want)
		}
		for _, f := range want {
			if _, ok := got.families[f]; !ok {
				return fmt.Errorf("families %v, want %v", got.families, want)
			}
		}
		return nil
	})
}

// Adopting a table whose spec lists only some of its families never drops
// the others: they are reported, naming the family and what to do. Listed
// once, a family is managed, and taking it out of the list then drops it.
func TestAdoptionKeepsUnlistedFamilies(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *scenario) {
		createLegacyTable(t, s, "legacy")
		drops := provider.CloudCalls(btcloud.Service, "ModifyColumnFamilies")
		tbl := s.table("legacy", func(tb *bigtablev1.BigtableTable) {
			tb.Spec.Adopt = true
			tb.Spec.ColumnFamilies = []bigtablev1.ColumnFamily{family("a", versions(1))}
			tb.Spec.ResyncInterval = &metav1.Duration{Duration: time.Second}
		})
		env.Create(t, tbl)

		c := env.WaitFor(t, tbl, commonv1.TypeSynced, metav1.ConditionFalse, commonv1.ReasonUpdateNotSupported)
		if !strings.Contains(c.Message, "spec.columnFamilies[b]") || !strings.Contains(c.Message, "list it in spec.columnFamilies") {
			t.Errorf("the condition should name the family and say what to do: %q", c.Message)
		}
		t.Logf("Synced: %s", c.Message)
		if len(tbl.Status.Drift) != 1 || tbl.Status.Drift[0].Field != "spec.columnFamilies[b]" || tbl.Status.Drift[0].Actual != "maxVersions=2" {
			t.Errorf("status.drift = %+v", tbl.Status.Drift)
		}
		if tbl.Status.ResourceID == "" {
			t.Error("the table was not adopted")
		}
		time.Sleep(2 * time.Second) // two more resyncs: still kept
		waitFamilies(t, s, "legacy", "a", "b")
		if n := provider.CloudCalls(btcloud.Service, "ModifyColumnFamilies") - drops; n != 0 {
			t.Errorf("adoption made %v ModifyColumnFamilies calls, want 0", n)
		}

		// Listing b claims every family; dropping it from the list then
		// drops it in the cloud.
		testenv.Update(t, env, tbl, func(tb *bigtablev1.BigtableTable) {
			tb.Spec.ColumnFamilies = append(tb.Spec.ColumnFamilies, family("b", versions(2)))
		})
		env.WaitSynced(t, tbl)
		testenv.Update(t, env, tbl, func(tb *bigtablev1.BigtableTable) {
			tb.Spec.ColumnFamilies = tb.Spec.ColumnFamilies[:1]
		})
		env.WaitSynced(t, tbl)
		waitFamilies(t, s, "legacy", "a")
	})
}

// Passes made under ObserveOnly, before the object held the table, do not
// claim its families: adopting afterwards keeps a family added meanwhile.
func TestAdoptionAfterObserveOnlyKeepsUnlistedFamilies(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *scenario) {
		createLegacyTable(t, s, "watched-first")
		tbl := s.table("watched-first", func(tb *bigtablev1.BigtableTable) {
			tb.Spec.ManagementPolicy = commonv1.ManagementObserveOnly
			tb.Spec.ColumnFamilies = []bigtablev1.ColumnFamily{family("a", versions(1)), family("b", versions(2))}
		})
		env.Create(t, tbl)
		env.WaitSynced(t, tbl) // in sync: status.observedGeneration is set

		if err := s.admin.CreateColumnFamily(context.Background(), "watched-first", "c"); err != nil {
			t.Fatal(err)
		}
		testenv.Update(t, env, tbl, func(tb *bigtablev1.BigtableTable) {
			tb.Spec.ManagementPolicy = commonv1.ManagementFull
			tb.Spec.Adopt = true
			tb.Spec.ResyncInterval = &metav1.Duration{Duration: time.Second}
		})
		c := env.WaitForMessage(t, tbl, commonv1.TypeSynced, "spec.columnFamilies[c]")
		if c.Status != metav1.ConditionFalse {
			t.Errorf("Synced = %+v", c)
		}
		time.Sleep(2 * time.Second) // two more resyncs: still kept
		waitFamilies(t, s, "watched-first", "a", "b", "c")
	})
}
