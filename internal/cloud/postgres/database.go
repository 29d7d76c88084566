package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	postgresv1 "github.com/infraplane/infraplane/api/postgres/v1alpha1"
	"github.com/infraplane/infraplane/internal/managed"
)

// fieldOwnerRef is the Database's reference to its owning role.
const fieldOwnerRef = "spec.ownerRoleRef"

// DatabaseKind describes Database to the generic reconciler.
func DatabaseKind(clients *Clients) managed.Kind[*postgresv1.Database] {
	return managed.Kind[*postgresv1.Database]{
		Name:    "Database",
		New:     func() *postgresv1.Database { return &postgresv1.Database{} },
		NewList: func() client.ObjectList { return &postgresv1.DatabaseList{} },
		Connector: managed.ConnectorFunc[*postgresv1.Database](func(ctx context.Context, _ *postgresv1.Database, env managed.Env) (managed.ExternalClient[*postgresv1.Database], error) {
			s, err := clients.get(ctx, env.Provider)
			if err != nil {
				return nil, err
			}
			return &databaseClient{s: s, env: env, name: env.ResourceID}, nil
		}),
		References: databaseReferences,
		Targets:    []managed.ReferenceTarget{RoleTarget},
	}
}

// DatabaseTarget lets other kinds reference databases. A database's
// cloud name is its name: references resolve to it.
var DatabaseTarget = managed.ReferenceTarget{Kind: "Database", New: func() managed.Object { return &postgresv1.Database{} }, CloudName: bareName}

func bareName(_, id string) string { return id }

func databaseReferences(d *postgresv1.Database) []managed.Reference {
	if d.Spec.OwnerRef == nil {
		return nil
	}
	return []managed.Reference{{Field: fieldOwnerRef, Ref: *d.Spec.OwnerRef, Target: RoleTarget}}
}

type databaseClient struct {
	s    *server
	env  managed.Env
	name string
}

func (c *databaseClient) Name() string { return c.name }

// databaseRow is a database as pg_database has it.
type databaseRow struct {
	owner, encoding, collate, ctype, comment string
	connLimit                                int32
}

const databaseQuery = `SELECT pg_get_userbyid(d.datdba), pg_encoding_to_char(d.encoding), d.datcollate, d.datctype,
	d.datconnlimit, coalesce(shobj_description(d.oid, 'pg_database'), '')
FROM pg_database d WHERE d.datname = $1`

func (c *databaseClient) read(ctx context.Context) (*databaseRow, error) {
	var r databaseRow
	found, err := c.s.queryRow(ctx, databaseQuery, []any{c.name}, &r.owner, &r.encoding, &r.collate, &r.ctype, &r.connLimit, &r.comment)
	if err != nil || !found {
		return nil, err
	}
	return &r, nil
}

func (c *databaseClient) Observe(ctx context.Context, d *postgresv1.Database) (managed.Observation, error) {
	if err := checkName("spec.resourceID", c.name); err != nil {
		return managed.Observation{}, err
	}
	r, err := c.read(ctx)
	if err != nil {
		return managed.Observation{}, err
	}
	if r == nil {
		d.Status.Observed = nil
		return managed.Observation{}, nil
	}
	obs := &postgresv1.DatabaseObservation{Owner: r.owner, Encoding: r.encoding, LCCollate: r.collate, LCCtype: r.ctype, ConnectionLimit: r.connLimit}
	var installed []string
	if len(d.Spec.Extensions) > 0 {
		if installed, err = c.extensions(ctx); err != nil {
			return managed.Observation{}, err
		}
		obs.Extensions = installed
	}
	d.Status.Observed = obs

	sp := d.Spec
	var df managed.Differ
	if sp.OwnerRef != nil {
		df.Add(fieldOwnerRef, c.env.Refs[fieldOwnerRef], r.owner, false)
	}
	df.Add("spec.encoding", encodingName(encodingOf(sp.Encoding)), encodingName(r.encoding), true)
	if sp.LCCollate != "" {
		df.Add("spec.lcCollate", sp.LCCollate, r.collate, true)
	}
	if sp.LCCtype != "" {
		df.Add("spec.lcCtype", sp.LCCtype, r.ctype, true)
	}
	df.Add("spec.connectionLimit", strconv.Itoa(int(connLimit(sp.ConnectionLimit))), strconv.Itoa(int(r.connLimit)), false)
	// Extensions not listed are left alone: only missing ones are drift.
	present := slices.DeleteFunc(slices.Clone(sp.Extensions), func(e string) bool { return !slices.Contains(installed, e) })
	df.Add("spec.extensions", renderSet(sp.Extensions), renderSet(present), false)
	return managed.Observation{Exists: true, Owner: ownerOf(r.comment), Diff: df.Diffs}, nil
}

func encodingOf(e string) string {
	if e == "" {
		return "UTF8"
	}
	return e
}

// encodingName compares encodings the way PostgreSQL names them: "utf-8"
// and "UTF8" are the same.
func encodingName(e string) string {
	return strings.ToUpper(strings.NewReplacer("-", "", "_", "").Replace(e))
}

// pendingPrefix starts the temporary name a database is created under.
const pendingPrefix = "infraplane-creating-"

// pendingName is the temporary name this object creates database name
// under: only this object ever uses it.
func pendingName(owner, name string) string {
	sum := sha256.Sum256([]byte(owner + "/" + name))
	return pendingPrefix + hex.EncodeToString(sum[:8])
}

// Create makes the database so that it never exists under its name without
// this object's marker. CREATE DATABASE cannot run in a transaction with
// the COMMENT that marks it, so the database is created under a temporary
// name (pendingName), marked there, and renamed: the rename, atomic, is
// what makes it appear. A create cut off before the rename leaves only the
// temporary database, which the next attempt drops; one cut off after it
// leaves a marked database, which the next pass finds as its own.
func (c *databaseClient) Create(ctx context.Context, d *postgresv1.Database) error {
	sp := d.Spec
	if err := checkName("spec.resourceID", c.name); err != nil {
		return err
	}
	var owner string
	if sp.OwnerRef != nil {
		owner = c.env.Refs[fieldOwnerRef]
		if err := checkName(fieldOwnerRef, owner); err != nil {
			return err
		}
	}
	// Cheap, and usual on adoption: no temporary database for nothing.
	var one int
	found, err := c.s.queryRow(ctx, "SELECT 1 FROM pg_database WHERE datname = $1", []any{c.name}, &one)
	if err != nil {
		return err
	}
	if found {
		return status.Errorf(codes.AlreadyExists, "database %q already exists", c.name)
	}

	tmp := pendingName(c.env.Owner, c.name)
	if err := c.s.exec(ctx, "DROP DATABASE", "DROP DATABASE IF EXISTS "+ident(tmp)+" WITH (FORCE)"); err != nil {
		return err
	}
	// template0: the only template a new encoding or locale may copy.
	stmt := "CREATE DATABASE " + ident(tmp) + " WITH TEMPLATE template0 ENCODING " + literal(encodingOf(sp.Encoding))
	if sp.LCCollate != "" {
		stmt += " LC_COLLATE " + literal(sp.LCCollate)
	}
	if sp.LCCtype != "" {
		stmt += " LC_CTYPE " + literal(sp.LCCtype)
	}
	stmt += " CONNECTION LIMIT " + strconv.Itoa(int(connLimit(sp.ConnectionLimit)))
	if owner != "" {
		stmt += " OWNER " + ident(owner)
	}
	if err := c.s.exec(ctx, "CREATE DATABASE", stmt); err != nil {
		return err
	}
	if err := interrupted(c.name); err != nil {
		return err
	}
	if err := c.s.exec(ctx, "COMMENT ON DATABASE", "COMMENT ON DATABASE "+ident(tmp)+" IS "+literal(ownerComment(c.env.Owner))); err != nil {
		return err
	}
	if err := c.s.exec(ctx, "ALTER DATABASE", "ALTER DATABASE "+ident(tmp)+" RENAME TO "+ident(c.name)); err != nil {
		if managed.IsAlreadyExists(err) { // created by someone else meanwhile
			_ = c.s.exec(context.WithoutCancel(ctx), "DROP DATABASE", "DROP DATABASE IF EXISTS "+ident(tmp)+" WITH (FORCE)")
		}
		return err
	}
	// It is ours now: if the rest fails, the next pass takes it up.
	if len(sp.Extensions) > 0 {
		if _, err := c.ensureExtensions(ctx, sp.Extensions); err != nil {
			return managed.CreateAccepted(err)
		}
	}
	// status.observed, from the server: the locales the spec leaves unset
	// are the server's defaults.
	_, err = c.Observe(ctx, d)
	return managed.CreateAccepted(err)
}

func (c *databaseClient) Update(ctx context.Context, d *postgresv1.Database, diff []managed.FieldDiff) error {
	sp := d.Spec
	if managed.Differs(diff, fieldOwnerRef) {
		owner := c.env.Refs[fieldOwnerRef]
		if err := checkName(fieldOwnerRef, owner); err != nil {
			return err
		}
		if err := c.s.exec(ctx, "ALTER DATABASE", "ALTER DATABASE "+ident(c.name)+" OWNER TO "+ident(owner)); err != nil {
			return err
		}
	}
	if managed.Differs(diff, "spec.connectionLimit") {
		stmt := "ALTER DATABASE " + ident(c.name) + " WITH CONNECTION LIMIT " + strconv.Itoa(int(connLimit(sp.ConnectionLimit)))
		if err := c.s.exec(ctx, "ALTER DATABASE", stmt); err != nil {
			return err
		}
	}
	var installed []string
	if managed.Differs(diff, "spec.extensions") {
		var err error
		if installed, err = c.ensureExtensions(ctx, sp.Extensions); err != nil {
			return err
		}
	}
	// status.observed is this pass's reading: bring the changed fields up
	// to date rather than read everything again.
	if obs := d.Status.Observed; obs != nil {
		if managed.Differs(diff, fieldOwnerRef) {
			obs.Owner = c.env.Refs[fieldOwnerRef]
		}
		if managed.Differs(diff, "spec.connectionLimit") {
			obs.ConnectionLimit = connLimit(sp.ConnectionLimit)
		}
		if installed != nil {
			obs.Extensions = installed
		}
	}
	return nil
}

func (c *databaseClient) Delete(ctx context.Context, _ *postgresv1.Database) error {
	c.s.dbs.forget(c.name)
	// FORCE ends the sessions still connected: deletionPolicy Delete asked
	// for the database to go (the reconciler calls Delete only then).
	return c.s.exec(ctx, "DROP DATABASE", "DROP DATABASE IF EXISTS "+ident(c.name)+" WITH (FORCE)")
}

// extensions lists the extensions installed in the database.
func (c *databaseClient) extensions(ctx context.Context) ([]string, error) {
	var out []string
	err := c.s.dbs.with(ctx, c.name, func(conn *pgx.Conn) error {
		var err error
		out, err = installedExtensions(ctx, conn)
		return err
	})
	return out, err
}

func installedExtensions(ctx context.Context, conn *pgx.Conn) ([]string, error) {
	start := time.Now()
	rows, err := conn.Query(ctx, "SELECT extname FROM pg_extension ORDER BY 1")
	if err != nil {
		return nil, read("SELECT", start, err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	return names, read("SELECT", start, err)
}

// ensureExtensions creates the extensions exts that are missing, and
// returns those installed then, on one connection to the database.
func (c *databaseClient) ensureExtensions(ctx context.Context, exts []string) ([]string, error) {
	var installed []string
	err := c.s.dbs.with(ctx, c.name, func(conn *pgx.Conn) error {
		for _, e := range exts {
			if err := exec(ctx, conn, "CREATE EXTENSION", "CREATE EXTENSION IF NOT EXISTS "+ident(e)); err != nil {
				return err
			}
		}
		var err error
		installed, err = installedExtensions(ctx, conn)
		return err
	})
	return installed, err
}
