package postgres_test

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	postgresv1 "github.com/infraplane/infraplane/api/postgres/v1alpha1"
	"github.com/infraplane/infraplane/internal/cloud/postgres"
)

// A create cut off right after its first statement (a lost connection, a
// crash) is finished by the next pass. The database or role is never left
// in place unmarked, to be refused as "not created by this object" forever,
// and no temporary database stays behind.
func TestCreateInterruptedBeforeMarking(t *testing.T) {
	s := setup(t)
	roleName, dbName := s.unique("cut-role"), s.unique("cut-db")
	cut := postgres.InterruptCreate(roleName, dbName)
	defer cut.Stop()

	r := &postgresv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "cut-role", Namespace: s.ns}}
	r.Spec.ResourceID = roleName
	env.Create(t, r)
	db := &postgresv1.Database{ObjectMeta: metav1.ObjectMeta{Name: "cut-db", Namespace: s.ns}}
	db.Spec.ResourceID = dbName
	env.Create(t, db)
	env.WaitReady(t, r)
	env.WaitReady(t, db)

	for _, name := range []string{roleName, dbName} {
		if !cut.Fired(name) {
			t.Errorf("the create of %s was not interrupted", name)
		}
	}
	if got := scalar[string](t, s, "SELECT coalesce(shobj_description(oid, 'pg_authid'), '') FROM pg_roles WHERE rolname = $1", roleName); got != "infraplane-owner="+s.ns+"--cut-role" {
		t.Errorf("role marker = %q", got)
	}
	if got := scalar[string](t, s, "SELECT coalesce(shobj_description(oid, 'pg_database'), '') FROM pg_database WHERE datname = $1", dbName); got != "infraplane-owner="+s.ns+"--cut-db" {
		t.Errorf("database marker = %q", got)
	}
	if n := scalar[int64](t, s, "SELECT count(*) FROM pg_database WHERE datname LIKE 'infraplane-creating-%'"); n != 0 {
		t.Errorf("%d temporary databases left behind", n)
	}
}
