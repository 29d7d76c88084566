package bigtable_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/bigtable"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	bigtablev1 "github.com/infraplane/infraplane/api/bigtable/v1alpha1"
	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
)

// Attack 1 of the tenancy issue: a team-a object adopts team-b's table
// through an instance in team-b's project, switches its deletion
// protection off and, deleted, deletes the table. The table's full name is
// outside team-a's ProviderConfig's project: refused before any cloud
// call, and team-b's table keeps its protection and its data.
func TestTenancyAdoptAnotherProjectsTableRefused(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *scenario) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		teamB := "projects/team-b-project/instances/" + s.instance
		adminB, err := bigtable.NewAdminClient(ctx, "team-b-project", s.instance,
			option.WithEndpoint(s.b.cloud.Endpoints().Bigtable), option.WithoutAuthentication(),
			option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
		if err != nil {
			t.Fatal(err)
		}
		defer adminB.Close()
		if err := adminB.CreateTableFromConf(ctx, &bigtable.TableConf{TableID: "ledger",
			ColumnFamilies:     map[string]bigtable.Family{"entries": {GCPolicy: bigtable.MaxVersionsPolicy(1)}},
			DeletionProtection: bigtable.Protected}); err != nil {
			t.Fatal(err)
		}

		steal := s.table("ledger", func(tb *bigtablev1.BigtableTable) {
			tb.Spec.InstanceRef = bigtablev1.InstanceRef{External: teamB}
			tb.Spec.Adopt = true
			tb.Spec.DeletionProtection = false
		})
		env.Create(t, steal)
		c := env.WaitFor(t, steal, commonv1.TypeSynced, metav1.ConditionFalse, commonv1.ReasonNotPermitted)
		for _, want := range []string{teamB + "/tables/ledger", `project "team-b-project"`, `manages resources in project "` + s.project + `" only`, "nothing was created, adopted or changed"} {
			if !strings.Contains(c.Message, want) {
				t.Errorf("Synced message does not mention %q: %s", want, c.Message)
			}
		}
		if steal.Status.ResourceID != "" {
			t.Errorf("adopted: resourceID %q", steal.Status.ResourceID)
		}
		check := func() {
			t.Helper()
			info, err := adminB.TableInfo(ctx, "ledger")
			if err != nil {
				t.Fatalf("team-b's table: %v", err)
			}
			if info.DeletionProtection != bigtable.Protected {
				t.Errorf("team-b's table lost its deletion protection: %v", info.DeletionProtection)
			}
		}
		check()
		// Deleting the team-a object deletes nothing of team-b's.
		if err := env.Client.Delete(ctx, steal); err != nil {
			t.Fatal(err)
		}
		env.WaitGone(t, steal)
		check()
	})
}
