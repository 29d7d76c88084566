package bigtable_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/bigtable"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	bigtablev1 "github.com/infraplane/infraplane/api/bigtable/v1alpha1"
	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
	"github.com/infraplane/infraplane/internal/testenv"
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
		// Refused when applied: the instance is outside the projects the
		// namespace's ProviderConfig allows.
		env.CreateRefusedEventually(t, steal.DeepCopy(), "spec.instanceRef.external", `project "team-b-project"`)

		// Even where the platform lets the team reference team-b's project
		// (a shared topic, say), a table lives in its instance's project:
		// the controller refuses it before any cloud call.
		pc := &corev1alpha1.ProviderConfig{
			TypeMeta:   metav1.TypeMeta{APIVersion: corev1alpha1.GroupVersion.String(), Kind: "ProviderConfig"},
			ObjectMeta: metav1.ObjectMeta{Name: "tenancy-refs-" + s.b.name},
			Spec: corev1alpha1.ProviderConfigSpec{ProjectID: s.project, ReferenceProjects: []string{"team-b-project"},
				Credentials: corev1alpha1.Credentials{Source: corev1alpha1.CredentialsNone}, Endpoints: testenv.EndpointsOf(s.b.cloud)},
		}
		//nolint:staticcheck // typed server-side apply
		if err := env.Client.Patch(ctx, pc, client.Apply, client.FieldOwner("tenancy-test"), client.ForceOwnership); err != nil {
			t.Fatal(err)
		}
		steal.Namespace = env.Namespace(t, pc.Name)
		testenv.Eventually(t, testenv.WaitTimeout, func() error { return env.Client.Create(ctx, steal) })
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

// Tables carry no labels, so spec.adopt alone would let an object in any
// namespace take a table another object manages. A ResourceClaim decides:
// the second adopter is refused (without naming the other team's object),
// and once the first lets go the second may adopt.
func TestTenancyTwoObjectsCannotAdoptOneTable(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *scenario) {
		ctx := context.Background()
		createLegacyTable(t, s, "shared")
		first := s.table("shared", func(tb *bigtablev1.BigtableTable) {
			tb.Spec.Adopt = true
			tb.Spec.DeletionPolicy = commonv1.DeletionAbandon
			tb.Spec.ColumnFamilies = []bigtablev1.ColumnFamily{family("a", versions(1)), family("b", versions(2))}
		})
		env.Create(t, first)
		env.WaitReady(t, first)

		other := env.Namespace(t, env.ProviderConfig(t, "test-"+s.b.name, s.b.cloud))
		second := s.table("shared", func(tb *bigtablev1.BigtableTable) {
			tb.Namespace = other
			tb.Spec.Adopt = true
			tb.Spec.ColumnFamilies = []bigtablev1.ColumnFamily{family("a", versions(1))}
		})
		env.Create(t, second)
		c := env.WaitFor(t, second, commonv1.TypeSynced, metav1.ConditionFalse, commonv1.ReasonAlreadyExists)
		for _, want := range []string{s.tableName("shared"), "managed by an object in another namespace", "two objects never manage one resource"} {
			if !strings.Contains(c.Message, want) {
				t.Errorf("Synced message does not mention %q: %s", want, c.Message)
			}
		}
		if strings.Contains(c.Message, s.ns) {
			t.Errorf("the refusal names the other team's namespace: %s", c.Message)
		}
		if got, err := s.getTable(t, "shared"); err != nil || len(got.families) != 2 {
			t.Errorf("the table changed: %+v %v", got, err)
		}

		// The first object lets go (Abandon): the second may adopt now.
		if err := env.Client.Delete(ctx, first); err != nil {
			t.Fatal(err)
		}
		env.WaitGone(t, first)
		env.Poke(t, second)
		env.WaitReady(t, second)
	})
}

// Adopting a table never lowers its deletion protection on the adopting
// generation: the change is reported and held until the spec changes
// after the adoption.
func TestTenancyAdoptionKeepsDeletionProtection(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *scenario) {
		ctx := context.Background()
		if err := s.admin.CreateTableFromConf(ctx, &bigtable.TableConf{TableID: "guarded",
			ColumnFamilies:     map[string]bigtable.Family{"a": {GCPolicy: bigtable.MaxVersionsPolicy(1)}},
			DeletionProtection: bigtable.Protected}); err != nil {
			t.Fatal(err)
		}
		tb := s.table("guarded", func(tb *bigtablev1.BigtableTable) {
			tb.Spec.Adopt = true
			tb.Spec.DeletionProtection = false
			tb.Spec.ColumnFamilies = []bigtablev1.ColumnFamily{family("a", versions(1))}
		})
		env.Create(t, tb)
		env.WaitForMessage(t, tb, commonv1.TypeSynced, "adopting never lowers what protects it")
		if got, err := s.getTable(t, "guarded"); err != nil || !got.protected {
			t.Fatalf("the adopted table lost its protection: %+v %v", got, err)
		}
		// A spec change after the adoption is the owner's decision.
		testenv.Update(t, env, tb, func(tb *bigtablev1.BigtableTable) { tb.Spec.ResyncInterval = duration(time.Minute) })
		testenv.Eventually(t, testenv.WaitTimeout, func() error {
			got, err := s.getTable(t, "guarded")
			if err != nil {
				return err
			}
			if got.protected {
				return fmt.Errorf("still protected")
			}
			return nil
		})
	})
}
