package spanner_test

import (
	"testing"

	spannerv1 "github.com/infraplane/infraplane/api/spanner/v1alpha1"
)

// A create the cloud accepted but whose operation could not be waited for
// (a timeout, a poll that failed) leaves an instance or database that is
// this object's: the next pass finds it as its own and finishes, instead
// of refusing it as "not created by this object". The database's DDL,
// sent with the create, is not applied a second time.
func TestCreateWaitFailedStillOurs(t *testing.T) {
	s := onProxy(t)
	instName, dbName := s.instanceName("cut-inst"), s.databaseName("cut-inst", "cutdb")
	emu.proxy.failNextWait(instName)
	emu.proxy.failNextWait(dbName)

	in := s.instance("cut-inst")
	env.Create(t, in)
	db := s.database("cutdb", "cut-inst", func(db *spannerv1.SpannerDatabase) { db.Spec.DDL = []string{createSingers} })
	env.Create(t, db)
	env.WaitReady(t, in)
	env.WaitReady(t, db)
	env.WaitSynced(t, db)

	for _, name := range []string{instName, dbName} {
		if !emu.proxy.didFailWait(name) {
			t.Errorf("the wait for %s did not fail", name)
		}
	}
	if in.Status.ResourceID == "" || db.Status.ResourceID == "" {
		t.Errorf("status.resourceID: instance %q, database %q", in.Status.ResourceID, db.Status.ResourceID)
	}
	if db.Status.DDL == nil || db.Status.DDL.AppliedStatements != 1 {
		t.Errorf("status.ddl = %+v", db.Status.DDL)
	}
	if got := s.ddl(t, "cut-inst", "cutdb"); len(got) != 1 || !mentions(got, "Singers") {
		t.Errorf("DDL in the cloud: %q", got)
	}
}
