package bigtable_test

import (
	"context"
	"testing"
	"time"

	"cloud.google.com/go/bigtable"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	bigtablev1 "github.com/infraplane/infraplane/api/bigtable/v1alpha1"
	btcloud "github.com/infraplane/infraplane/internal/cloud/bigtable"
	"github.com/infraplane/infraplane/internal/importer"
	"github.com/infraplane/infraplane/internal/provider"
)

// Tables made outside infraplane are listed per instance with their
// families, GC policies and protection; the manifests adopt them, and
// adoption writes nothing to the cloud.
func TestImportAdoptsWithoutCloudWrites(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *scenario) {
		ctx := context.Background()
		if err := s.admin.CreateTableFromConf(ctx, &bigtable.TableConf{
			TableID: "orders",
			ColumnFamilies: map[string]bigtable.Family{
				"d": {GCPolicy: bigtable.IntersectionPolicy(bigtable.MaxVersionsPolicy(2), bigtable.MaxAgePolicy(48*time.Hour))},
				"m": {GCPolicy: bigtable.MaxVersionsPolicy(1)},
			},
			DeletionProtection: bigtable.Protected,
		}); err != nil {
			t.Fatal(err)
		}
		if err := s.admin.CreateTableFromConf(ctx, &bigtable.TableConf{TableID: "Audit_Log",
			ColumnFamilies: map[string]bigtable.Family{"e": {GCPolicy: bigtable.NoGcPolicy()}}}); err != nil {
			t.Fatal(err)
		}

		p, err := provider.NewResolver(env.Client, provider.Options{}).ForNamespace(ctx, s.ns)
		if err != nil {
			t.Fatal(err)
		}
		clients := btcloud.NewClients()
		defer clients.Close()
		// The bare instance id is taken in the ProviderConfig's project.
		found, _, err := importer.Collect(ctx, importer.Options{
			Listers:  []importer.Lister{btcloud.NewTableLister(clients, []string{s.instance})},
			Provider: p, Namespace: s.ns,
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(found) != 2 {
			t.Fatalf("found %d tables, want 2: %+v", len(found), found)
		}
		audit, orders := found[0].Object, found[1].Object
		if id, _, _ := unstructured.NestedString(audit.Object, "spec", "resourceID"); id != "Audit_Log" || audit.GetName() != "audit-log" {
			t.Errorf("Audit_Log: name %q resourceID %q", audit.GetName(), id)
		}
		if prot, _, _ := unstructured.NestedBool(orders.Object, "spec", "deletionProtection"); !prot {
			t.Errorf("orders manifest lost deletion protection: %v", orders.Object["spec"])
		}
		fams, _, _ := unstructured.NestedSlice(orders.Object, "spec", "columnFamilies")
		if len(fams) != 2 {
			t.Errorf("orders families: %v", fams)
		}
		if ref, _, _ := unstructured.NestedString(orders.Object, "spec", "instanceRef", "external"); ref != s.instanceName() {
			t.Errorf("instanceRef %q", ref)
		}

		writes := func() float64 {
			n := 0.0
			// Deletes are not counted: earlier tests' namespaces may still be
			// deleting their resources in the background.
			for _, m := range []string{"CreateTable", "ModifyColumnFamilies", "UpdateTable"} {
				n += provider.CloudCalls(btcloud.Service, m)
			}
			return n
		}
		before := writes()
		for _, r := range found {
			//nolint:staticcheck // server-side apply of an unstructured manifest
			if err := env.Client.Patch(ctx, r.Object, client.Apply, client.FieldOwner("import-test")); err != nil {
				t.Fatalf("apply %s: %v", r.Name, err)
			}
		}
		for _, r := range found {
			obj := &bigtablev1.BigtableTable{}
			obj.Namespace, obj.Name = s.ns, r.Name
			env.WaitReady(t, obj)
			env.WaitSynced(t, obj)
			if obj.Status.ResourceID == "" || len(obj.Status.Drift) != 0 {
				t.Errorf("%s: resourceID %q, drift %+v", r.Name, obj.Status.ResourceID, obj.Status.Drift)
			}
		}
		if d := writes() - before; d != 0 {
			t.Errorf("adoption made %v cloud writes, want 0", d)
		}
	})
}

// Without instances the lister lists nothing: import of the other kinds
// goes on, and the CLI asks for --bigtable-instance.
func TestImportWithoutInstancesListsNothing(t *testing.T) {
	clients := btcloud.NewClients()
	defer clients.Close()
	found, err := btcloud.NewTableLister(clients, nil).List(context.Background(), &provider.Config{ProjectID: "p"})
	if err != nil || len(found) != 0 {
		t.Fatalf("found %v, err %v", found, err)
	}
}
