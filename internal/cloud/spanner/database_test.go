package spanner_test

import (
	"slices"
	"strings"
	"testing"

	"cloud.google.com/go/spanner/admin/database/apiv1/databasepb"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
	spannerv1 "github.com/infraplane/infraplane/api/spanner/v1alpha1"
	"github.com/infraplane/infraplane/internal/cloud/spanner"
	"github.com/infraplane/infraplane/internal/provider"
	"github.com/infraplane/infraplane/internal/testenv"
)

var (
	createSingers = "CREATE TABLE Singers (SingerId INT64 NOT NULL, Name STRING(100)) PRIMARY KEY (SingerId)"
	createAlbums  = "CREATE TABLE Albums (AlbumId INT64 NOT NULL, Title STRING(100)) PRIMARY KEY (AlbumId)"
	createIndex   = "CREATE INDEX AlbumsByTitle ON Albums(Title)"
)

func (s *scenario) ddl(t *testing.T, inst, db string) []string {
	t.Helper()
	got, err := emu.databases.GetDatabaseDdl(ctxT(t), &databasepb.GetDatabaseDdlRequest{Database: s.databaseName(inst, db)})
	if err != nil {
		t.Fatal(err)
	}
	return got.GetStatements()
}

func mentions(stmts []string, word string) bool {
	return slices.ContainsFunc(stmts, func(s string) bool { return strings.Contains(s, word) })
}

// A database waits for its instance to be Ready, then is created with its
// DDL; status records how many statements were applied.
func TestDatabaseCreate(t *testing.T) {
	s := onEmulator(t)
	db := s.database("music", "music-inst", func(db *spannerv1.SpannerDatabase) {
		db.Spec.DDL = []string{createSingers, createAlbums}
	})
	env.Create(t, db)
	c := env.WaitFor(t, db, commonv1.TypeSynced, metav1.ConditionFalse, commonv1.ReasonWaitingForRef)
	if !strings.Contains(c.Message, `SpannerInstance "music-inst"`) {
		t.Errorf("waiting message: %q", c.Message)
	}
	env.Create(t, s.instance("music-inst"))
	env.WaitReady(t, db)

	if db.Status.SelfLink != s.databaseName("music-inst", "music") || db.Status.Instance != s.instanceName("music-inst") {
		t.Errorf("status: selfLink %q instance %q", db.Status.SelfLink, db.Status.Instance)
	}
	if db.Status.DDL == nil || db.Status.DDL.AppliedStatements != 2 || db.Status.DDL.AppliedHash == "" {
		t.Errorf("status.ddl: %+v", db.Status.DDL)
	}
	if got := s.ddl(t, "music-inst", "music"); !mentions(got, "Singers") || !mentions(got, "Albums") {
		t.Errorf("DDL in the cloud: %q", got)
	}
}

// A PostgreSQL-dialect database is created with PostgreSQL DDL.
func TestDatabasePostgreSQL(t *testing.T) {
	s := onEmulator(t)
	env.Create(t, s.instance("pg-inst"))
	db := s.database("pgdb", "pg-inst", func(db *spannerv1.SpannerDatabase) {
		db.Spec.Dialect = spannerv1.DialectPostgreSQL
		db.Spec.DDL = []string{"CREATE TABLE users (id bigint PRIMARY KEY, name varchar(100))"}
	})
	env.Create(t, db)
	env.WaitReady(t, db)
	env.WaitSynced(t, db)
	// The emulator reports no dialect; GCP reports POSTGRESQL.
	if o := db.Status.Observed; o == nil || (o.Dialect != "" && o.Dialect != "POSTGRESQL") {
		t.Errorf("observed: %+v", db.Status.Observed)
	}
	if got := s.ddl(t, "pg-inst", "pgdb"); !mentions(got, "users") {
		t.Errorf("DDL in the cloud: %q", got)
	}
}

// Appending statements applies only the new ones, with UpdateDatabaseDdl.
func TestDatabaseDDLAppend(t *testing.T) {
	s := onEmulator(t)
	env.Create(t, s.instance("app-inst"))
	db := s.database("appdb", "app-inst", func(db *spannerv1.SpannerDatabase) { db.Spec.DDL = []string{createAlbums} })
	env.Create(t, db)
	env.WaitReady(t, db)

	calls := provider.CloudCalls(spanner.Service, "UpdateDatabaseDdl")
	testenv.Update(t, env, db, func(db *spannerv1.SpannerDatabase) { db.Spec.DDL = append(db.Spec.DDL, createIndex, createSingers) })
	env.WaitSynced(t, db)
	if n := provider.CloudCalls(spanner.Service, "UpdateDatabaseDdl") - calls; n != 1 {
		t.Errorf("%v UpdateDatabaseDdl calls, want 1", n)
	}
	if db.Status.DDL == nil || db.Status.DDL.AppliedStatements != 3 {
		t.Errorf("status.ddl: %+v", db.Status.DDL)
	}
	if got := s.ddl(t, "app-inst", "appdb"); !mentions(got, "AlbumsByTitle") || !mentions(got, "Singers") {
		t.Errorf("DDL in the cloud: %q", got)
	}
}

// Changing or removing an applied statement is reported as an immutable
// field, never executed.
func TestDatabaseDDLChangeRefused(t *testing.T) {
	s := onEmulator(t)
	env.Create(t, s.instance("chg-inst"))
	db := s.database("chgdb", "chg-inst", func(db *spannerv1.SpannerDatabase) { db.Spec.DDL = []string{createAlbums, createIndex} })
	env.Create(t, db)
	env.WaitReady(t, db)

	calls := provider.CloudCalls(spanner.Service, "UpdateDatabaseDdl")
	testenv.Update(t, env, db, func(db *spannerv1.SpannerDatabase) {
		db.Spec.DDL = []string{strings.Replace(createAlbums, "STRING(100)", "STRING(200)", 1), createIndex}
	})
	c := env.WaitFor(t, db, commonv1.TypeSynced, metav1.ConditionFalse, commonv1.ReasonUpdateNotSupported)
	if !strings.Contains(c.Message, "spec.ddl") || !strings.Contains(c.Message, "applied DDL statements cannot be changed or removed") {
		t.Errorf("message should explain the DDL rule: %q", c.Message)
	}
	testenv.Update(t, env, db, func(db *spannerv1.SpannerDatabase) { db.Spec.DDL = []string{createAlbums} })
	env.WaitForMessage(t, db, commonv1.TypeSynced, "2 statements applied")
	if n := provider.CloudCalls(spanner.Service, "UpdateDatabaseDdl") - calls; n != 0 {
		t.Errorf("%v UpdateDatabaseDdl calls for a refused change, want 0", n)
	}
	// Restoring the applied statements makes it Synced again.
	testenv.Update(t, env, db, func(db *spannerv1.SpannerDatabase) { db.Spec.DDL = []string{createAlbums, createIndex} })
	env.WaitSynced(t, db)
}

// The emulator does not implement UpdateDatabase: drop protection ends in
// a condition that says the endpoint does not support it.
func TestDatabaseDropProtectionUnsupportedOnEmulator(t *testing.T) {
	s := onEmulator(t)
	env.Create(t, s.instance("dp-inst"))
	db := s.database("dpdb", "dp-inst")
	env.Create(t, db)
	env.WaitReady(t, db)
	testenv.Update(t, env, db, func(db *spannerv1.SpannerDatabase) { db.Spec.EnableDropProtection = true })
	c := env.WaitFor(t, db, commonv1.TypeSynced, metav1.ConditionFalse, commonv1.ReasonUpdateNotSupported)
	if !strings.Contains(c.Message, "does not support updating spec.enableDropProtection") {
		t.Errorf("message: %q", c.Message)
	}
	// Back to false: nothing to update, Synced again (and deletable).
	testenv.Update(t, env, db, func(db *spannerv1.SpannerDatabase) { db.Spec.EnableDropProtection = false })
	env.WaitSynced(t, db)
}

// Against an endpoint that implements UpdateDatabase, drop protection is
// set with a mask of enable_drop_protection only.
func TestDatabaseDropProtection(t *testing.T) {
	s := onProxy(t)
	env.Create(t, s.instance("dpp-inst"))
	db := s.database("dppdb", "dpp-inst", func(db *spannerv1.SpannerDatabase) { db.Spec.DDL = []string{createSingers} })
	env.Create(t, db)
	env.WaitReady(t, db)
	testenv.Update(t, env, db, func(db *spannerv1.SpannerDatabase) { db.Spec.EnableDropProtection = true })
	env.WaitSynced(t, db)
	reqs := emu.proxy.databaseUpdates(s.databaseName("dpp-inst", "dppdb"))
	if len(reqs) != 1 || !reqs[0].GetDatabase().GetEnableDropProtection() {
		t.Fatalf("proxy received %v", reqs)
	}
	if db.Status.Observed == nil || !db.Status.Observed.EnableDropProtection {
		t.Errorf("observed: %+v", db.Status.Observed)
	}
	testenv.Update(t, env, db, func(db *spannerv1.SpannerDatabase) { db.Spec.EnableDropProtection = false })
	env.WaitSynced(t, db)
	if n := len(emu.proxy.databaseUpdates(s.databaseName("dpp-inst", "dppdb"))); n != 2 {
		t.Errorf("%d UpdateDatabase calls, want 2", n)
	}
}

// A failing statement in an appended batch is reported; the statements
// before it that the cloud committed count as applied, so fixing the bad
// one applies only what is left.
func TestDatabaseDDLPartialFailure(t *testing.T) {
	s := onEmulator(t)
	env.Create(t, s.instance("part-inst"))
	db := s.database("partdb", "part-inst", func(db *spannerv1.SpannerDatabase) { db.Spec.DDL = []string{createAlbums} })
	env.Create(t, db)
	env.WaitReady(t, db)

	testenv.Update(t, env, db, func(db *spannerv1.SpannerDatabase) {
		db.Spec.DDL = append(db.Spec.DDL, createIndex, "CREATE INDEX Broken ON NoSuchTable(Nothing)")
	})
	c := env.WaitFor(t, db, commonv1.TypeSynced, metav1.ConditionFalse, commonv1.ReasonCloudError)
	if !strings.Contains(c.Message, "NoSuchTable") {
		t.Errorf("message should carry the cloud's complaint: %q", c.Message)
	}
	testenv.Update(t, env, db, func(db *spannerv1.SpannerDatabase) { db.Spec.DDL[2] = createSingers })
	env.WaitSynced(t, db)
	if db.Status.DDL == nil || db.Status.DDL.AppliedStatements != 3 {
		t.Errorf("status.ddl: %+v", db.Status.DDL)
	}
	if got := s.ddl(t, "part-inst", "partdb"); !mentions(got, "AlbumsByTitle") || !mentions(got, "Singers") {
		t.Errorf("DDL in the cloud: %q", got)
	}
}
