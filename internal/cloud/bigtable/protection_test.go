package bigtable_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	bigtablev1 "github.com/infraplane/infraplane/api/bigtable/v1alpha1"
	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
	"github.com/infraplane/infraplane/internal/testenv"
)

// Dropping a family of a protected table is refused by the cloud: the
// cloud's error is in the Synced condition, and lifting the protection in
// the same spec lets the drop through.
func TestProtectedTableRefusesFamilyDrop(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *scenario) {
		tbl := s.table("guarded", func(tb *bigtablev1.BigtableTable) {
			tb.Spec.DeletionProtection = true
			tb.Spec.ColumnFamilies = []bigtablev1.ColumnFamily{family("a", nil), family("b", versions(1))}
		})
		env.Create(t, tbl)
		env.WaitReady(t, tbl)
		if got, err := s.getTable(t, "guarded"); err != nil || !got.protected {
			t.Fatalf("table not protected in the cloud: %+v %v", got, err)
		}

		testenv.Update(t, env, tbl, func(tb *bigtablev1.BigtableTable) {
			tb.Spec.ColumnFamilies = []bigtablev1.ColumnFamily{family("a", nil)}
		})
		c := env.WaitFor(t, tbl, commonv1.TypeSynced, metav1.ConditionFalse, commonv1.ReasonCloudError)
		if !strings.Contains(c.Message, "FailedPrecondition") || !strings.Contains(c.Message, "protected") {
			t.Errorf("condition should carry the cloud's refusal: %q", c.Message)
		}
		if got, _ := s.getTable(t, "guarded"); got.families["b"] == "" {
			t.Errorf("family b dropped from a protected table: %v", got.families)
		}

		testenv.Update(t, env, tbl, func(tb *bigtablev1.BigtableTable) { tb.Spec.DeletionProtection = false })
		env.WaitSynced(t, tbl)
		got, err := s.getTable(t, "guarded")
		if err != nil {
			t.Fatal(err)
		}
		if got.protected || len(got.families) != 1 {
			t.Errorf("after lifting protection: %+v", got)
		}
	})
}

// Deleting the object of a protected table does not delete the table: the
// condition says why and what to do; Abandon then releases the object.
func TestProtectedTableNotDeleted(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *scenario) {
		tbl := s.table("precious", func(tb *bigtablev1.BigtableTable) {
			tb.Spec.ColumnFamilies = []bigtablev1.ColumnFamily{family("a", nil)}
		})
		env.Create(t, tbl)
		env.WaitReady(t, tbl)
		// Protection turned on later, through UpdateTable.
		testenv.Update(t, env, tbl, func(tb *bigtablev1.BigtableTable) { tb.Spec.DeletionProtection = true })
		testenv.Eventually(t, 20*time.Second, func() error {
			got, err := s.getTable(t, "precious")
			if err != nil || !got.protected {
				return fmt.Errorf("not protected yet: %+v %v", got, err)
			}
			return nil
		})
		env.WaitSynced(t, tbl)

		if err := env.Client.Delete(context.Background(), tbl); err != nil {
			t.Fatal(err)
		}
		c := env.WaitForMessage(t, tbl, commonv1.TypeSynced, "deletion protection")
		if c.Reason != commonv1.ReasonDeleting || !strings.Contains(c.Message, "spec.deletionPolicy: Abandon") {
			t.Errorf("condition should say what to do: %s: %q", c.Reason, c.Message)
		}
		if _, err := s.getTable(t, "precious"); err != nil {
			t.Fatalf("protected table deleted: %v", err)
		}

		testenv.Update(t, env, tbl, func(tb *bigtablev1.BigtableTable) { tb.Spec.DeletionPolicy = commonv1.DeletionAbandon })
		env.WaitGone(t, tbl)
		if _, err := s.getTable(t, "precious"); err != nil {
			t.Fatalf("abandoned table gone: %v", err)
		}
	})
}
