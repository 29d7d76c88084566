package postgres_test

import (
	"testing"

	"github.com/jackc/pgx/v5"

	postgresv1 "github.com/infraplane/infraplane/api/postgres/v1alpha1"
	"github.com/infraplane/infraplane/internal/cloud/postgres"
	"github.com/infraplane/infraplane/internal/importer"
	"github.com/infraplane/infraplane/internal/provider"
	"github.com/infraplane/infraplane/internal/testenv"
)

// writeMethods are every write statement the package sends.
var writeMethods = []string{
	"CREATE DATABASE", "ALTER DATABASE", "DROP DATABASE", "COMMENT ON DATABASE", "CREATE EXTENSION",
	"CREATE ROLE", "ALTER ROLE", "DROP ROLE", "COMMENT ON ROLE", "GRANT", "REVOKE",
}

func writes() float64 {
	var n float64
	for _, m := range writeMethods {
		n += provider.CloudCalls(postgres.Service, m)
	}
	return n
}

// Databases and roles made outside infraplane are listed, and applying the
// manifests adopts them without a single write.
func TestImportAdoptsWithoutWrites(t *testing.T) {
	s := setup(t)
	dbName, roleName := s.unique("legacy"), s.unique("legacy_user")
	for _, stmt := range []string{
		"CREATE DATABASE " + pgx.Identifier{dbName}.Sanitize() + " LC_COLLATE 'C' TEMPLATE template0",
		"CREATE ROLE " + pgx.Identifier{roleName}.Sanitize() + " LOGIN CONNECTION LIMIT 5",
		"GRANT CONNECT ON DATABASE " + pgx.Identifier{dbName}.Sanitize() + " TO " + pgx.Identifier{roleName}.Sanitize(),
	} {
		if _, err := s.admin.Exec(t.Context(), stmt); err != nil {
			t.Fatal(err)
		}
	}
	p, err := provider.NewResolver(env.Client, provider.Options{}).ByName(t.Context(), providerName)
	if err != nil {
		t.Fatal(err)
	}
	clients := postgres.NewClients()
	defer clients.Close()
	var mine []importer.Found
	for _, l := range []importer.Lister{postgres.DatabaseLister(clients), postgres.RoleLister(clients)} {
		found, err := l.List(t.Context(), p)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range found {
			if f.SelfLink == dbName || f.SelfLink == roleName {
				mine = append(mine, f)
			}
			if f.SelfLink == "postgres" || f.SelfLink == "template1" {
				t.Errorf("listed %s", f.SelfLink)
			}
		}
	}
	if len(mine) != 2 {
		t.Fatalf("found %d of the 2 resources: %+v", len(mine), mine)
	}

	before := writes()
	for _, f := range mine {
		t.Logf("manifest: %v", f.Object.Object)
		f.Object.SetNamespace(s.ns)
		env.Create(t, f.Object)
	}
	for _, f := range mine {
		var obj testenv.Managed = &postgresv1.Database{}
		if f.Object.GetKind() == "Role" {
			obj = &postgresv1.Role{}
		}
		obj.SetNamespace(s.ns)
		obj.SetName(f.Object.GetName())
		env.WaitReady(t, obj)
		if obj.ManagedStatus().ResourceID != f.SelfLink {
			t.Errorf("%s: status.resourceID = %q", f.SelfLink, obj.ManagedStatus().ResourceID)
		}
		env.WaitFor(t, obj, "Drifted", "False", "")
	}
	if got := writes() - before; got != 0 {
		t.Errorf("adoption made %v write statements, want 0", got)
	}
}
