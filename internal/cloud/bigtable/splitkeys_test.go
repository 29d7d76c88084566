package bigtable_test

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	bigtablev1 "github.com/infraplane/infraplane/api/bigtable/v1alpha1"
	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
	"github.com/infraplane/infraplane/internal/provider"
	"github.com/infraplane/infraplane/internal/testenv"
)

// Split keys are used at creation only: a later change is reported as not
// updatable, and no write is attempted for it.
func TestSplitKeysChangeReported(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *scenario) {
		tbl := s.table("split", func(tb *bigtablev1.BigtableTable) {
			tb.Spec.SplitKeys = []string{"m"}
			tb.Spec.ColumnFamilies = []bigtablev1.ColumnFamily{family("a", nil)}
		})
		env.Create(t, tbl)
		env.WaitReady(t, tbl)
		// DeleteTable is not counted: earlier tests' namespaces are still
		// being deleted in the background, and they delete their tables.
		writes := provider.CloudCalls("bigtable", "ModifyColumnFamilies") + provider.CloudCalls("bigtable", "UpdateTable") +
			provider.CloudCalls("bigtable", "CreateTable")

		testenv.Update(t, env, tbl, func(tb *bigtablev1.BigtableTable) { tb.Spec.SplitKeys = []string{"f", "m"} })
		c := env.WaitFor(t, tbl, commonv1.TypeSynced, metav1.ConditionFalse, commonv1.ReasonUpdateNotSupported)
		if !strings.Contains(c.Message, "spec.splitKeys") || !strings.Contains(c.Message, "f,m") {
			t.Errorf("condition should name the field and values: %q", c.Message)
		}
		env.WaitFor(t, tbl, commonv1.TypeReady, metav1.ConditionTrue, "")
		time.Sleep(time.Second)
		after := provider.CloudCalls("bigtable", "ModifyColumnFamilies") + provider.CloudCalls("bigtable", "UpdateTable") +
			provider.CloudCalls("bigtable", "CreateTable")
		// Subtests run one at a time, so any of these writes is ours.
		if after != writes {
			t.Errorf("%v cloud writes for an immutable change", after-writes)
		}
	})
}
