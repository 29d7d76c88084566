package postgres_test

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
	postgresv1 "github.com/infraplane/infraplane/api/postgres/v1alpha1"
	"github.com/infraplane/infraplane/internal/cloud/postgres"
	"github.com/infraplane/infraplane/internal/provider"
	"github.com/infraplane/infraplane/internal/testenv"
)

// A hostile name (quotes, a semicolon, spaces, unicode) becomes exactly one
// database of exactly that name, owned by the Role, and nothing else.
func TestDatabaseCreateUpdateDelete(t *testing.T) {
	s := setup(t)
	before := scalar[int64](t, s, "SELECT count(*) FROM pg_database")
	rolesBefore := scalar[int64](t, s, "SELECT count(*) FROM pg_roles")
	ownerName := s.unique(`o'w"n; DROP ROLE postgres; --`)
	dbName := s.unique(`d"b'; DROP DATABASE postgres; -- ü`)

	owner := &postgresv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "owner", Namespace: s.ns}}
	owner.Spec.ResourceID = ownerName
	env.Create(t, owner)
	db := &postgresv1.Database{ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: s.ns}}
	db.Spec.ResourceID = dbName
	db.Spec.OwnerRef = &commonv1.ResourceRef{Name: "owner"}
	db.Spec.LCCollate = "C"
	env.Create(t, db)
	env.WaitReady(t, db)

	if got := scalar[string](t, s, "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = $1", dbName); got != ownerName {
		t.Errorf("owner = %q, want %q", got, ownerName)
	}
	if got := scalar[string](t, s, "SELECT pg_encoding_to_char(encoding) || '/' || datcollate FROM pg_database WHERE datname = $1", dbName); got != "UTF8/C" {
		t.Errorf("encoding/collate = %q", got)
	}
	if got := scalar[string](t, s, "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1", dbName); got != "infraplane-owner="+s.ns+"--app" {
		t.Errorf("ownership comment = %q", got)
	}
	if got := scalar[int64](t, s, "SELECT count(*) FROM pg_database"); got != before+1 {
		t.Errorf("%d databases, want %d: something else was created or dropped", got, before+1)
	}
	if got := scalar[int64](t, s, "SELECT count(*) FROM pg_roles"); got != rolesBefore+1 {
		t.Errorf("%d roles, want %d", got, rolesBefore+1)
	}
	if !scalar[bool](t, s, "SELECT rolsuper FROM pg_roles WHERE rolname = 'postgres'") {
		t.Error("postgres is no longer a superuser")
	}
	if db.Status.ResourceID != dbName || db.Status.Observed == nil || db.Status.Observed.Owner != ownerName {
		t.Errorf("status = %+v", db.Status)
	}

	// Update: connection limit and an extension; only those are written.
	alters := provider.CloudCalls(postgres.Service, "ALTER DATABASE")
	testenv.Update(t, env, db, func(d *postgresv1.Database) {
		d.Spec.ConnectionLimit = ptr(int32(7))
		d.Spec.Extensions = []string{"pg_trgm"}
	})
	eventually(t, "connection limit 7", func() bool {
		return scalar[int32](t, s, "SELECT datconnlimit FROM pg_database WHERE datname = $1", dbName) == 7
	})
	env.WaitFor(t, db, commonv1.TypeDrifted, metav1.ConditionFalse, "")
	if got := provider.CloudCalls(postgres.Service, "ALTER DATABASE") - alters; got != 1 {
		t.Errorf("%v ALTER DATABASE statements, want 1", got)
	}
	eventually(t, "pg_trgm in the database", func() bool {
		if err := env.Client.Get(t.Context(), client.ObjectKeyFromObject(db), db); err != nil {
			return false
		}
		return db.Status.Observed != nil && contains(db.Status.Observed.Extensions, "pg_trgm")
	})
	t.Logf("Synced: %+v", db.Status.Conditions)

	// Delete (policy Delete, the default): the database goes.
	if err := env.Client.Delete(t.Context(), db); err != nil {
		t.Fatal(err)
	}
	env.WaitGone(t, db)
	if dbExists(t, s, dbName) {
		t.Error("database still exists after delete")
	}
	if err := env.Client.Delete(t.Context(), owner); err != nil {
		t.Fatal(err)
	}
	env.WaitGone(t, owner)
	if roleExists(t, s, ownerName) {
		t.Error("role still exists after delete")
	}
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
