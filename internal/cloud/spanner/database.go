package spanner

import (
	"context"
	"strconv"

	"cloud.google.com/go/spanner/admin/database/apiv1/databasepb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"sigs.k8s.io/controller-runtime/pkg/client"

	spannerv1 "github.com/infraplane/infraplane/api/spanner/v1alpha1"
	"github.com/infraplane/infraplane/internal/managed"
)

// Spec fields of a database.
const (
	fieldInstanceRef     = "spec.spannerInstanceRef"
	fieldDialect         = "spec.dialect"
	fieldDropProtection  = "spec.enableDropProtection"
	fieldRetentionPeriod = "spec.versionRetentionPeriod"
)

// DatabaseKind describes SpannerDatabase to the generic reconciler.
func DatabaseKind(clients *Clients) managed.Kind[*spannerv1.SpannerDatabase] {
	return managed.Kind[*spannerv1.SpannerDatabase]{
		Name:    "SpannerDatabase",
		New:     func() *spannerv1.SpannerDatabase { return &spannerv1.SpannerDatabase{} },
		NewList: func() client.ObjectList { return &spannerv1.SpannerDatabaseList{} },
		Connector: managed.ConnectorFunc[*spannerv1.SpannerDatabase](func(ctx context.Context, db *spannerv1.SpannerDatabase, env managed.Env) (managed.ExternalClient[*spannerv1.SpannerDatabase], error) {
			cn, err := clients.get(ctx, env.Provider)
			if err != nil {
				return nil, err
			}
			// References are resolved on live reconciles only; deletion
			// uses the instance recorded in status.
			if inst := env.Refs[fieldInstanceRef]; inst != "" {
				db.Status.Instance = inst
			}
			return &databaseClient{cn: cn, clients: clients, env: env, instance: db.Status.Instance, name: DatabaseName(db.Status.Instance, env.ResourceID)}, nil
		}),
		References: func(db *spannerv1.SpannerDatabase) []managed.Reference {
			return []managed.Reference{{Field: fieldInstanceRef, Ref: db.Spec.InstanceRef, Target: InstanceTarget}}
		},
		Targets: []managed.ReferenceTarget{InstanceTarget},
	}
}

// DatabaseName is a database's full name, from its instance's.
func DatabaseName(instance, id string) string { return instance + "/databases/" + id }

type databaseClient struct {
	cn       *conn
	clients  *Clients
	env      managed.Env
	instance string
	name     string
}

func (c *databaseClient) Name() string { return c.name }

func dialectOf(db *spannerv1.SpannerDatabase) spannerv1.DatabaseDialect {
	if db.Spec.Dialect == "" {
		return spannerv1.DialectGoogleSQL
	}
	return db.Spec.Dialect
}

// cloudDialect names the dialect the cloud reports; "" when it reports
// none (the emulator never does).
func cloudDialect(d databasepb.DatabaseDialect) string {
	if d == databasepb.DatabaseDialect_DATABASE_DIALECT_UNSPECIFIED {
		return ""
	}
	return d.String()
}

func (c *databaseClient) Observe(ctx context.Context, db *spannerv1.SpannerDatabase) (managed.Observation, error) {
	got, err := c.cn.databases.GetDatabase(ctx, &databasepb.GetDatabaseRequest{Name: c.name})
	if managed.IsNotFound(err) {
		db.Status.Observed = nil
		return managed.Observation{}, nil
	}
	if err != nil {
		return managed.Observation{}, err
	}
	ddl, err := c.cn.databases.GetDatabaseDdl(ctx, &databasepb.GetDatabaseDdlRequest{Database: c.name})
	if err != nil {
		return managed.Observation{}, err
	}
	obs := databaseObservation(got)
	obs.DDLStatements = int32(len(ddl.GetStatements()))
	db.Status.Observed = obs
	created := c.clients.createdDB(c.name)
	switch {
	case created != nil && created.owner == c.env.Owner:
		// This process's record is never older than the status.
		db.Status.DDL = created.ddl.DeepCopy()
	case db.Status.DDL == nil:
		baselineDDL(db, ddl.GetStatements())
	}

	var d managed.Differ
	if obs.Dialect != "" {
		d.Add(fieldDialect, string(dialectOf(db)), obs.Dialect, true)
	}
	d.Add(fieldDropProtection, strconv.FormatBool(db.Spec.EnableDropProtection), strconv.FormatBool(obs.EnableDropProtection), false)
	if want := db.Spec.VersionRetentionPeriod; want != "" {
		// The emulator does not report the period: compare with the one
		// last applied then.
		actual := obs.VersionRetentionPeriod
		if actual == "" {
			actual = db.Status.DDL.VersionRetentionPeriod
		}
		if !sameRetention(want, actual) {
			d.Add(fieldRetentionPeriod, want, actual, false)
		}
	}
	diffDDL(db, &d)
	// Databases carry no labels: the only owner known is the object that
	// created the database from this process.
	var owner string
	if created != nil {
		owner = created.owner
	}
	return managed.Observation{Exists: true, Owner: owner, Diff: d.Diffs}, nil
}

func databaseObservation(got *databasepb.Database) *spannerv1.SpannerDatabaseObservation {
	obs := &spannerv1.SpannerDatabaseObservation{
		Dialect:                cloudDialect(got.GetDatabaseDialect()),
		EnableDropProtection:   got.GetEnableDropProtection(),
		VersionRetentionPeriod: got.GetVersionRetentionPeriod(),
	}
	if got.GetState() != databasepb.Database_STATE_UNSPECIFIED {
		obs.State = got.GetState().String()
	}
	return obs
}

func (c *databaseClient) Create(ctx context.Context, db *spannerv1.SpannerDatabase) error {
	dialect := dialectOf(db)
	extra := append([]string(nil), db.Spec.DDL...)
	if p := db.Spec.VersionRetentionPeriod; p != "" {
		extra = append(extra, retentionStatement(dialect, c.env.ResourceID, p))
	}
	op, err := c.cn.databases.CreateDatabase(ctx, &databasepb.CreateDatabaseRequest{
		Parent:          c.instance,
		CreateStatement: createStatement(dialect, c.env.ResourceID),
		ExtraStatements: extra,
		DatabaseDialect: databasepb.DatabaseDialect(databasepb.DatabaseDialect_value[string(dialect)]),
	})
	if err != nil {
		return err
	}
	// Accepted: the database is this object's from now on, whatever the
	// wait says. Databases have no labels, so that is recorded here (and,
	// by the reconciler, in status.resourceID). The extra statements run
	// atomically with the creation: if the database comes to exist, all of
	// spec.ddl was applied.
	before := db.Status.DDL.DeepCopy()
	recordApplied(db, len(db.Spec.DDL))
	db.Status.DDL.VersionRetentionPeriod = db.Spec.VersionRetentionPeriod
	c.clients.remember(c.name, c.env.Owner, db.Status.DDL)
	got, err := wait(ctx, "creating "+c.name, func(ctx context.Context) (*databasepb.Database, error) { return op.Wait(ctx) })
	switch {
	case err != nil && op.Done():
		// Finished, and failed: nothing was created.
		db.Status.DDL = before
		c.clients.created.Delete(c.name)
		return err
	case err != nil:
		return managed.CreateAccepted(err)
	}
	db.Status.Observed = databaseObservation(got)
	// Drop protection cannot be set on creation: the next resync finds
	// the difference and sets it with UpdateDatabase.
	return nil
}

func (c *databaseClient) Update(ctx context.Context, db *spannerv1.SpannerDatabase, diff []managed.FieldDiff) error {
	// DDL first: it works on every endpoint, while UpdateDatabase may not.
	var stmts []string
	if managed.Differs(diff, fieldDDL) {
		stmts = append(stmts, pendingDDL(db)...)
	}
	if managed.Differs(diff, fieldRetentionPeriod) {
		stmts = append(stmts, retentionStatement(dialectOf(db), c.env.ResourceID, db.Spec.VersionRetentionPeriod))
	}
	if len(stmts) > 0 {
		if err := c.applyDDL(ctx, db, stmts, managed.Differs(diff, fieldDDL)); err != nil {
			return err
		}
		if managed.Differs(diff, fieldRetentionPeriod) {
			db.Status.DDL.VersionRetentionPeriod = db.Spec.VersionRetentionPeriod
		}
		c.rememberDDL(db)
	}
	if managed.Differs(diff, fieldDropProtection) {
		op, err := c.cn.databases.UpdateDatabase(ctx, &databasepb.UpdateDatabaseRequest{
			Database:   &databasepb.Database{Name: c.name, EnableDropProtection: db.Spec.EnableDropProtection},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"enable_drop_protection"}},
		})
		if err != nil {
			return err
		}
		got, err := wait(ctx, "updating "+c.name, func(ctx context.Context) (*databasepb.Database, error) { return op.Wait(ctx) })
		if err != nil {
			return err
		}
		if got != nil && db.Status.Observed != nil {
			db.Status.Observed.EnableDropProtection = got.GetEnableDropProtection()
		}
	}
	return nil
}

// applyDDL runs stmts (the pending spec.ddl statements first, when
// withSpec) in one UpdateDatabaseDdl and records what was applied. Spanner
// commits statements one by one: when a later one fails, those before it
// stay applied, and the operation's metadata says how many.
func (c *databaseClient) applyDDL(ctx context.Context, db *spannerv1.SpannerDatabase, stmts []string, withSpec bool) error {
	if db.Status.DDL == nil {
		recordApplied(db, 0)
	}
	op, err := c.cn.databases.UpdateDatabaseDdl(ctx, &databasepb.UpdateDatabaseDdlRequest{Database: c.name, Statements: stmts})
	if err != nil {
		return err
	}
	err = waitNoResult(ctx, "applying DDL to "+c.name, func(ctx context.Context) error { return op.Wait(ctx) })
	if !withSpec {
		return err
	}
	if err == nil {
		recordApplied(db, len(db.Spec.DDL))
		return nil
	}
	if md, mdErr := op.Metadata(); mdErr == nil && md != nil {
		committed := min(len(md.GetCommitTimestamps()), len(pendingDDL(db)))
		recordApplied(db, int(db.Status.DDL.AppliedStatements)+committed)
		c.rememberDDL(db)
	}
	return err
}

// rememberDDL updates this process's record of the DDL applied to a
// database it created (see Clients.created).
func (c *databaseClient) rememberDDL(db *spannerv1.SpannerDatabase) {
	if created := c.clients.createdDB(c.name); created != nil && created.owner == c.env.Owner {
		c.clients.remember(c.name, c.env.Owner, db.Status.DDL)
	}
}

func (c *databaseClient) Delete(ctx context.Context, _ *spannerv1.SpannerDatabase) error {
	err := c.cn.databases.DropDatabase(ctx, &databasepb.DropDatabaseRequest{Database: c.name})
	if err == nil || managed.IsNotFound(err) {
		c.clients.created.Delete(c.name)
	}
	return err
}
