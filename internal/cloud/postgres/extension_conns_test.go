package postgres_test

import (
	"slices"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	postgresv1 "github.com/infraplane/infraplane/api/postgres/v1alpha1"
	"github.com/infraplane/infraplane/internal/testenv"
)

// Reading a database's extensions needs a connection to that database:
// passes reuse one instead of connecting each time, and deleting the
// database is not blocked by it.
func TestExtensionConnectionReused(t *testing.T) {
	s := setup(t)
	name := s.unique("exts")
	db := &postgresv1.Database{ObjectMeta: metav1.ObjectMeta{Name: "exts", Namespace: s.ns}}
	db.Spec.ResourceID = name
	db.Spec.Extensions = []string{"pg_trgm"}
	env.Create(t, db)
	env.WaitReady(t, db)

	sessions := func() []int32 {
		rows, err := s.admin.Query(t.Context(), "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND application_name = 'infraplane' ORDER BY 1", name)
		if err != nil {
			t.Fatal(err)
		}
		var pids []int32
		for rows.Next() {
			var pid int32
			if err := rows.Scan(&pid); err != nil {
				t.Fatal(err)
			}
			pids = append(pids, pid)
		}
		return pids
	}
	first := sessions()
	if len(first) != 1 {
		t.Fatalf("infraplane's sessions in the database after creating it: %v, want one kept for the next pass", first)
	}
	// Each edit is a pass that reads the extensions and updates.
	for i := int32(1); i <= 3; i++ {
		testenv.Update(t, env, db, func(d *postgresv1.Database) { d.Spec.ConnectionLimit = ptr(i) })
		env.WaitSynced(t, db)
	}
	if got := sessions(); !slices.Equal(got, first) {
		t.Errorf("sessions after three passes: %v, want the same one as before, %v", got, first)
	}

	if err := env.Client.Delete(t.Context(), db); err != nil {
		t.Fatal(err)
	}
	env.WaitGone(t, db)
	if dbExists(t, s, name) {
		t.Error("database still exists after delete")
	}
}
