package postgres_test

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
	postgresv1 "github.com/infraplane/infraplane/api/postgres/v1alpha1"
)

// Deleting a Role that still owns a database is refused by PostgreSQL;
// the refusal changes nothing (the role keeps its privileges and
// memberships), and the condition names what blocks it and what to do.
// Once the database is gone, the deletion finishes by itself.
func TestRoleDeleteRefusedChangesNothing(t *testing.T) {
	s := setup(t)
	// The group is a Role of the namespace: a Role joins only those.
	group := s.unique("team")
	g := &postgresv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "team", Namespace: s.ns}}
	g.Spec.ResourceID = group
	env.Create(t, g)
	env.WaitReady(t, g)
	grantDB := s.unique("shared")
	db := &postgresv1.Database{ObjectMeta: metav1.ObjectMeta{Name: "shared", Namespace: s.ns}}
	db.Spec.ResourceID = grantDB
	env.Create(t, db)

	name := s.unique("leaving")
	r := &postgresv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "leaving", Namespace: s.ns}}
	r.Spec.ResourceID = name
	r.Spec.MemberOf = []string{group}
	r.Spec.Privileges = []postgresv1.DatabasePrivileges{{DatabaseRef: commonv1.ResourceRef{Name: "shared"}, Privileges: []postgresv1.DatabasePrivilege{"CONNECT", "CREATE"}}}
	env.Create(t, r)
	env.WaitReady(t, r)
	env.WaitSynced(t, r)

	// A database the role owns, made outside infraplane.
	owned := s.unique("owned")
	if _, err := s.admin.Exec(t.Context(), "CREATE DATABASE "+pgx.Identifier{owned}.Sanitize()+" OWNER "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = s.admin.Exec(context.Background(), "DROP DATABASE IF EXISTS "+pgx.Identifier{owned}.Sanitize())
	})

	if err := env.Client.Delete(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	c := env.WaitFor(t, r, commonv1.TypeSynced, metav1.ConditionFalse, commonv1.ReasonDeleting)
	t.Logf("Synced: %s", c.Message)
	for _, want := range []string{"owner of database " + owned, "nothing was changed", "REASSIGN OWNED", "deletionPolicy: Abandon"} {
		if !strings.Contains(c.Message, want) {
			t.Errorf("the condition should mention %q: %q", want, c.Message)
		}
	}
	if !roleExists(t, s, name) {
		t.Fatal("the role was dropped although it owns a database")
	}
	if !scalar[bool](t, s, "SELECT has_database_privilege($1, $2, 'CREATE')", name, grantDB) {
		t.Error("the refused deletion revoked the role's privileges")
	}
	if !scalar[bool](t, s, "SELECT pg_has_role($1, $2, 'MEMBER')", name, group) {
		t.Error("the refused deletion removed the role's membership")
	}

	if _, err := s.admin.Exec(t.Context(), "DROP DATABASE "+pgx.Identifier{owned}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	// Wake it now rather than at its next backoff (it may be gone already).
	_ = env.Client.Patch(t.Context(), r, client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"annotations":{"test.infraplane.dev/poke":"1"}}}`)))
	env.WaitGone(t, r)
	if roleExists(t, s, name) {
		t.Error("role still exists")
	}
}
