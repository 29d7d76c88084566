package spanner_test

import (
	"context"
	"testing"

	"cloud.google.com/go/spanner/admin/database/apiv1/databasepb"
	"cloud.google.com/go/spanner/admin/instance/apiv1/instancepb"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	spannerv1 "github.com/infraplane/infraplane/api/spanner/v1alpha1"
	"github.com/infraplane/infraplane/internal/cloud/spanner"
	"github.com/infraplane/infraplane/internal/importer"
	"github.com/infraplane/infraplane/internal/provider"
)

// spannerWrites counts every write call to the Spanner admin APIs.
func spannerWrites() float64 {
	n := 0.0
	// Deletes are not counted: earlier tests' namespaces may still be
	// deleting their resources in the background.
	for _, m := range []string{"CreateInstance", "UpdateInstance", "CreateDatabase", "UpdateDatabase", "UpdateDatabaseDdl"} {
		n += provider.CloudCalls(spanner.Service, m)
	}
	return n
}

// An instance and a database made outside infraplane are listed with their
// settings and schema; applying the manifests adopts them with no cloud
// write.
func TestImportAdoptsWithoutCloudWrites(t *testing.T) {
	s := onEmulator(t)
	ctx := context.Background()
	op, err := emu.instances.CreateInstance(ctx, &instancepb.CreateInstanceRequest{
		Parent: "projects/" + s.project, InstanceId: "legacy",
		Instance: &instancepb.Instance{Config: "projects/" + s.project + "/instanceConfigs/regional-us-east1", DisplayName: "Legacy prod",
			ProcessingUnits: 300, Labels: map[string]string{"team": "billing"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := op.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	dop, err := emu.databases.CreateDatabase(ctx, &databasepb.CreateDatabaseRequest{
		Parent: s.instanceName("legacy"), CreateStatement: "CREATE DATABASE `invoices_db`", ExtraStatements: []string{createSingers, createAlbums},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dop.Wait(ctx); err != nil {
		t.Fatal(err)
	}

	p, err := provider.NewResolver(env.Client, provider.Options{}).ForNamespace(ctx, s.ns)
	if err != nil {
		t.Fatal(err)
	}
	clients := spanner.NewClients()
	defer clients.Close()
	found, _, err := importer.Collect(ctx, importer.Options{
		Listers:  []importer.Lister{spanner.InstanceLister{Clients: clients}, spanner.DatabaseLister{Clients: clients}},
		Provider: p, Namespace: s.ns,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(found) != 2 {
		t.Fatalf("found %d resources, want 2: %+v", len(found), found)
	}
	var inst, db *unstructured.Unstructured
	for _, r := range found {
		switch r.Object.GetKind() {
		case "SpannerInstance":
			inst = r.Object
		case "SpannerDatabase":
			db = r.Object
		}
	}
	if inst == nil || db == nil {
		t.Fatalf("found %+v", found)
	}
	if got, _, _ := unstructured.NestedString(inst.Object, "spec", "config"); got != "regional-us-east1" {
		t.Errorf("instance manifest: %v", inst.Object["spec"])
	}
	if got, _, _ := unstructured.NestedInt64(inst.Object, "spec", "processingUnits"); got != 300 {
		t.Errorf("instance manifest: %v", inst.Object["spec"])
	}
	if got, _, _ := unstructured.NestedString(inst.Object, "spec", "labels", "team"); got != "billing" {
		t.Errorf("instance manifest: %v", inst.Object["spec"])
	}
	if id, _, _ := unstructured.NestedString(db.Object, "spec", "resourceID"); id != "invoices_db" || db.GetName() != "invoices-db" {
		t.Errorf("database manifest: name %q resourceID %q", db.GetName(), id)
	}
	if ddl, _, _ := unstructured.NestedStringSlice(db.Object, "spec", "ddl"); len(ddl) != 2 {
		t.Errorf("database manifest ddl: %q", ddl)
	}

	before := spannerWrites()
	for _, r := range found {
		//nolint:staticcheck // server-side apply of an unstructured manifest
		if err := env.Client.Patch(ctx, r.Object, client.Apply, client.FieldOwner("import-test")); err != nil {
			t.Fatalf("apply %s: %v", r.Name, err)
		}
	}
	io := &spannerv1.SpannerInstance{}
	io.Namespace, io.Name = s.ns, "legacy"
	env.WaitReady(t, io)
	do := &spannerv1.SpannerDatabase{}
	do.Namespace, do.Name = s.ns, "invoices-db"
	env.WaitReady(t, do)
	env.WaitSynced(t, do)
	env.WaitSynced(t, io)
	if io.Status.ResourceID != "legacy" || do.Status.ResourceID != "invoices_db" {
		t.Errorf("adopted ids: instance %q, database %q", io.Status.ResourceID, do.Status.ResourceID)
	}
	if do.Status.DDL == nil || do.Status.DDL.AppliedStatements != 2 {
		t.Errorf("adopted database's DDL record: %+v", do.Status.DDL)
	}
	if d := spannerWrites() - before; d != 0 {
		t.Errorf("adoption made %v cloud writes, want 0", d)
	}
}
