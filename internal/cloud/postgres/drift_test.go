package postgres_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
	postgresv1 "github.com/infraplane/infraplane/api/postgres/v1alpha1"
	"github.com/infraplane/infraplane/internal/testenv"
)

// Changed behind infraplane's back, a Role is put back; under ObserveOnly
// the change is only reported.
func TestDriftRepairedAndObserveOnly(t *testing.T) {
	s := setup(t)
	name := s.unique("drifty")
	r := &postgresv1.Role{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: s.ns}}
	r.Spec.CreateDB = true
	r.Spec.ResyncInterval = &metav1.Duration{Duration: time.Second}
	env.Create(t, r)
	env.WaitReady(t, r)

	if _, err := s.admin.Exec(t.Context(), "ALTER ROLE "+pgx.Identifier{name}.Sanitize()+" NOCREATEDB CONNECTION LIMIT 9"); err != nil {
		t.Fatal(err)
	}
	c := env.WaitFor(t, r, commonv1.TypeDrifted, metav1.ConditionFalse, commonv1.ReasonDriftRepaired)
	t.Logf("repaired: %s", c.Message)
	if !scalar[bool](t, s, "SELECT rolcreatedb AND rolconnlimit = -1 FROM pg_roles WHERE rolname = $1", name) {
		t.Error("drift not repaired")
	}

	testenv.Update(t, env, r, func(r *postgresv1.Role) { r.Spec.ManagementPolicy = commonv1.ManagementObserveOnly })
	// The change must land after the ObserveOnly spec was acted on, or it
	// counts as a pending spec change rather than drift.
	testenv.Eventually(t, 30*time.Second, func() error {
		if err := env.Client.Get(t.Context(), client.ObjectKeyFromObject(r), r); err != nil {
			return err
		}
		if r.Status.ObservedGeneration != r.Generation {
			return fmt.Errorf("observedGeneration %d, generation %d", r.Status.ObservedGeneration, r.Generation)
		}
		return nil
	})
	if _, err := s.admin.Exec(t.Context(), "ALTER ROLE "+pgx.Identifier{name}.Sanitize()+" NOCREATEDB"); err != nil {
		t.Fatal(err)
	}
	env.WaitFor(t, r, commonv1.TypeDrifted, metav1.ConditionTrue, commonv1.ReasonDriftDetected)
	if len(r.Status.Drift) == 0 || r.Status.Drift[0].Field != "spec.createdb" {
		t.Errorf("status.drift = %+v", r.Status.Drift)
	}
	time.Sleep(2 * time.Second) // two more resyncs
	if scalar[bool](t, s, "SELECT rolcreatedb FROM pg_roles WHERE rolname = $1", name) {
		t.Error("ObserveOnly wrote to the server")
	}
	// ObserveOnly never deletes either.
	if err := env.Client.Delete(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	env.WaitGone(t, r)
	if !roleExists(t, s, name) {
		t.Error("ObserveOnly role dropped")
	}
	_, _ = s.admin.Exec(t.Context(), "DROP ROLE "+pgx.Identifier{name}.Sanitize())
}

// With deletionPolicy Abandon the database stays; applied again (adopt
// not needed: the ownership comment says it is this object's) it is taken
// back.
func TestDatabaseAbandon(t *testing.T) {
	s := setup(t)
	name := s.unique("kept")
	db := &postgresv1.Database{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: s.ns}}
	db.Spec.DeletionPolicy = commonv1.DeletionAbandon
	env.Create(t, db)
	env.WaitReady(t, db)
	if err := env.Client.Delete(t.Context(), db); err != nil {
		t.Fatal(err)
	}
	env.WaitGone(t, db)
	if !dbExists(t, s, name) {
		t.Fatal("abandoned database was dropped")
	}
	again := &postgresv1.Database{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: s.ns}}
	env.Create(t, again)
	env.WaitReady(t, again)
	_, _ = s.admin.Exec(t.Context(), "DROP DATABASE "+pgx.Identifier{name}.Sanitize())
}
