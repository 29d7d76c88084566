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
	"github.com/infraplane/infraplane/internal/provider"
	"github.com/infraplane/infraplane/internal/testenv"
)

// A GC policy changed and a family added directly in the cloud are found
// on the next resync and put back.
func TestDriftRepaired(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *scenario) {
		tbl := s.table("drifty", func(tb *bigtablev1.BigtableTable) {
			tb.Spec.ColumnFamilies = []bigtablev1.ColumnFamily{family("a", versions(3))}
			tb.Spec.ResyncInterval = &metav1.Duration{Duration: time.Second}
		})
		env.Create(t, tbl)
		env.WaitReady(t, tbl)

		ctx := context.Background()
		if err := s.admin.SetGCPolicy(ctx, "drifty", "a", bigtable.MaxVersionsPolicy(9)); err != nil {
			t.Fatal(err)
		}
		if err := s.admin.CreateColumnFamily(ctx, "drifty", "stray"); err != nil {
			t.Fatal(err)
		}
		c := env.WaitFor(t, tbl, commonv1.TypeDrifted, metav1.ConditionFalse, commonv1.ReasonDriftRepaired)
		if !strings.Contains(c.Message, "spec.columnFamilies[a].gcPolicy") {
			t.Errorf("repair record should name the field: %q", c.Message)
		}
		testenv.Eventually(t, 20*time.Second, func() error {
			got, err := s.getTable(t, "drifty")
			if err != nil {
				return err
			}
			if len(got.families) != 1 || got.families["a"] != "maxVersions=3" {
				return fmt.Errorf("families after repair: %v", got.families)
			}
			return nil
		})
	})
}

// ObserveOnly reports drift with desired and actual values and never
// writes to the cloud.
func TestObserveOnlyReportsDrift(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *scenario) {
		tbl := s.table("watched", func(tb *bigtablev1.BigtableTable) {
			tb.Spec.ColumnFamilies = []bigtablev1.ColumnFamily{family("a", versions(3))}
			tb.Spec.ResyncInterval = &metav1.Duration{Duration: time.Second}
		})
		env.Create(t, tbl)
		env.WaitReady(t, tbl)
		testenv.Update(t, env, tbl, func(tb *bigtablev1.BigtableTable) { tb.Spec.ManagementPolicy = commonv1.ManagementObserveOnly })
		env.WaitSynced(t, tbl)

		writes := provider.CloudCalls("bigtable", "ModifyColumnFamilies")
		if err := s.admin.SetGCPolicy(context.Background(), "watched", "a", bigtable.MaxVersionsPolicy(7)); err != nil {
			t.Fatal(err)
		}
		c := env.WaitFor(t, tbl, commonv1.TypeDrifted, metav1.ConditionTrue, commonv1.ReasonDriftDetected)
		if !strings.Contains(c.Message, "ObserveOnly") {
			t.Errorf("drift message should say why it is not repaired: %q", c.Message)
		}
		if len(tbl.Status.Drift) != 1 || tbl.Status.Drift[0].Field != "spec.columnFamilies[a].gcPolicy" ||
			tbl.Status.Drift[0].Desired != "maxVersions=3" || tbl.Status.Drift[0].Actual != "maxVersions=7" {
			t.Errorf("status.drift = %+v", tbl.Status.Drift)
		}
		time.Sleep(2 * time.Second) // two more resyncs
		if n := provider.CloudCalls("bigtable", "ModifyColumnFamilies") - writes; n != 0 {
			t.Errorf("ObserveOnly made %v ModifyColumnFamilies calls", n)
		}
		if got, _ := s.getTable(t, "watched"); got.families["a"] != "maxVersions=7" {
			t.Errorf("ObserveOnly changed the cloud: %v", got.families)
		}
	})
}
