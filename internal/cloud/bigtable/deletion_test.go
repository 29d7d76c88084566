package bigtable_test

import (
	"context"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	bigtablev1 "github.com/infraplane/infraplane/api/bigtable/v1alpha1"
	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
	"github.com/infraplane/infraplane/internal/managed"
	"github.com/infraplane/infraplane/internal/testenv"
)

// deletionPolicy Abandon releases the object and leaves the table. Tables
// carry no ownership label, so an object applied again does not know the
// table as its own: it needs spec.adopt to take it back.
func TestDeletionPolicyAbandon(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *scenario) {
		ctx := context.Background()
		tbl := s.table("kept", func(tb *bigtablev1.BigtableTable) {
			tb.Spec.DeletionPolicy = commonv1.DeletionAbandon
			tb.Spec.ColumnFamilies = []bigtablev1.ColumnFamily{family("a", nil)}
		})
		env.Create(t, tbl)
		env.WaitReady(t, tbl)
		if err := env.Client.Delete(ctx, tbl); err != nil {
			t.Fatal(err)
		}
		env.WaitGone(t, tbl)
		if _, err := s.getTable(t, "kept"); err != nil {
			t.Fatalf("abandoned table gone from the cloud: %v", err)
		}

		again := s.table("kept", func(tb *bigtablev1.BigtableTable) {
			tb.Spec.ColumnFamilies = []bigtablev1.ColumnFamily{family("a", nil)}
		})
		env.Create(t, again)
		c := env.WaitFor(t, again, commonv1.TypeSynced, metav1.ConditionFalse, commonv1.ReasonAlreadyExists)
		if !strings.Contains(c.Message, "spec.adopt") {
			t.Errorf("message should say how to adopt: %q", c.Message)
		}
		testenv.Update(t, env, again, func(tb *bigtablev1.BigtableTable) { tb.Spec.Adopt = true })
		env.WaitReady(t, again)
		env.WaitSynced(t, again)
		if again.Status.ResourceID != "kept" {
			t.Errorf("adopted table resourceID %q", again.Status.ResourceID)
		}

		// With the default policy, deleting deletes.
		if err := env.Client.Delete(ctx, again); err != nil {
			t.Fatal(err)
		}
		env.WaitGone(t, again)
		if _, err := s.getTable(t, "kept"); !managed.IsNotFound(err) {
			t.Fatalf("table should be deleted now: %v", err)
		}
	})
}
