package postgres

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	postgresv1 "github.com/infraplane/infraplane/api/postgres/v1alpha1"
	"github.com/infraplane/infraplane/internal/managed"
	"github.com/infraplane/infraplane/internal/provider"
)

// RoleKind describes Role to the generic reconciler.
func RoleKind(clients *Clients) managed.Kind[*postgresv1.Role] {
	return managed.Kind[*postgresv1.Role]{
		Name:    "Role",
		New:     func() *postgresv1.Role { return &postgresv1.Role{} },
		NewList: func() client.ObjectList { return &postgresv1.RoleList{} },
		Connector: managed.ConnectorFunc[*postgresv1.Role](func(ctx context.Context, _ *postgresv1.Role, env managed.Env) (managed.ExternalClient[*postgresv1.Role], error) {
			s, err := clients.get(ctx, env.Provider)
			if err != nil {
				return nil, err
			}
			return &roleClient{s: s, env: env, name: env.ResourceID, clients: clients}, nil
		}),
		References: roleReferences,
		Targets:    []managed.ReferenceTarget{DatabaseTarget},
	}
}

// RoleTarget lets other kinds reference roles; a role's cloud name is its
// name.
var RoleTarget = managed.ReferenceTarget{Kind: "Role", New: func() managed.Object { return &postgresv1.Role{} }, CloudName: bareName}

func privilegeRefField(i int) string { return fmt.Sprintf("spec.privileges[%d].databaseRef", i) }

func roleReferences(r *postgresv1.Role) []managed.Reference {
	var refs []managed.Reference
	for i, p := range r.Spec.Privileges {
		refs = append(refs, managed.Reference{Field: privilegeRefField(i), Ref: p.DatabaseRef, Target: DatabaseTarget})
	}
	return refs
}

// Role spec fields the client diffs.
const (
	fieldLogin     = "spec.login"
	fieldConnLimit = "spec.connectionLimit"
	fieldInherit   = "spec.inherit"
	fieldCreateDB  = "spec.createdb"
	fieldMemberOf  = "spec.memberOf"
	fieldPrivs     = "spec.privileges"
	fieldPassword  = "spec.passwordSecretRef"
)

type roleClient struct {
	s       *server
	env     managed.Env
	name    string
	clients *Clients
}

func (c *roleClient) Name() string { return c.name }

// roleRow is a role as pg_roles has it.
type roleRow struct {
	oid                                 uint32
	login, inherit, createDB, superuser bool
	createRole, replication, bypassRLS  bool
	connLimit                           int32
	comment                             string
	memberOf                            []string
	// above are the privileged roles it is a member of (privilegedAbove).
	above []string
}

const roleQuery = `SELECT r.oid, r.rolcanlogin, r.rolinherit, r.rolcreatedb, r.rolsuper, r.rolcreaterole, r.rolreplication, r.rolbypassrls, r.rolconnlimit,
	coalesce(shobj_description(r.oid, 'pg_authid'), ''),
	array(SELECT g.rolname::text FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid WHERE m.member = r.oid ORDER BY 1)
FROM pg_roles r WHERE r.rolname = $1`

func (c *roleClient) read(ctx context.Context, q querier) (*roleRow, error) {
	var r roleRow
	found, err := queryRow(ctx, q, roleQuery, []any{c.name}, &r.oid, &r.login, &r.inherit, &r.createDB, &r.superuser, &r.createRole, &r.replication, &r.bypassRLS, &r.connLimit, &r.comment, &r.memberOf)
	if err != nil || !found {
		return nil, err
	}
	var g string
	err = queryRows(ctx, q, privilegedAbove, []any{r.oid, c.s.admin}, []any{&g}, func() error {
		r.above = append(r.above, g)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &r, nil
}

// grantsQuery lists the privileges granted directly to a role on each
// database (an owner's implicit privileges are not grants).
const grantsQuery = `SELECT d.datname::text, a.privilege_type
FROM pg_database d, aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) a
WHERE a.grantee = $1 AND a.grantee <> d.datdba ORDER BY 1, 2`

// grants maps database name to privileges.
type grants map[string][]string

func (c *roleClient) grants(ctx context.Context, q querier, oid uint32) (grants, error) {
	out := grants{}
	var db, priv string
	err := queryRows(ctx, q, grantsQuery, []any{oid}, []any{&db, &priv}, func() error {
		out[db] = append(out[db], priv)
		return nil
	})
	return out, err
}

func (g grants) render() []string {
	var out []string
	for _, db := range slices.Sorted(maps.Keys(g)) {
		out = append(out, db+": "+renderSet(g[db]))
	}
	return out
}

// desiredGrants is the spec's privileges, by resolved database name.
func (c *roleClient) desiredGrants(r *postgresv1.Role) grants {
	out := grants{}
	for i, p := range r.Spec.Privileges {
		db := c.env.Refs[privilegeRefField(i)]
		for _, priv := range p.Privileges {
			if !slices.Contains(out[db], string(priv)) {
				out[db] = append(out[db], string(priv))
			}
		}
	}
	return out
}

func inheritOf(r *postgresv1.Role) bool { return r.Spec.Inherit == nil || *r.Spec.Inherit }

func (c *roleClient) Observe(ctx context.Context, r *postgresv1.Role) (managed.Observation, error) {
	if err := checkName("spec.resourceID", c.name); err != nil {
		return managed.Observation{}, err
	}
	var row *roleRow
	var have grants
	err := c.s.pool.with(ctx, func(conn *pgx.Conn) error {
		var err error
		if row, err = c.read(ctx, conn); err != nil || row == nil {
			return err
		}
		if have, err = c.grants(ctx, conn, row.oid); err != nil {
			return err
		}
		if !writes(r) || (ownerOf(row.comment) != "" && ownerOf(row.comment) != c.env.Owner) {
			// Only read; or another object's, which the adoption rules
			// refuse with their own message.
			return nil
		}
		// Before the adoption rules, and before any write of the pass: a
		// role beyond one team is never taken over, and memberships are
		// checked whether or not they are granted already. Adopting, the
		// memberships the role holds now are checked too.
		if err := c.checkManageable(row, row.above); err != nil {
			return err
		}
		var held []string
		if ownerOf(row.comment) != c.env.Owner {
			held = row.memberOf
			if err := c.checkNotClaimed(ctx, r); err != nil {
				return err
			}
		}
		return c.checkMemberships(ctx, conn, r, r.Spec.MemberOf, held)
	})
	if err != nil {
		return managed.Observation{}, err
	}
	if row == nil {
		r.Status.Observed = nil
		return managed.Observation{}, nil
	}
	r.Status.Observed = &postgresv1.RoleObservation{
		Login: row.login, ConnectionLimit: row.connLimit, Inherit: row.inherit, CreateDB: row.createDB,
		Superuser: row.superuser, MemberOf: row.memberOf, Privileges: have.render(),
	}

	sp := r.Spec
	var d managed.Differ
	d.AddBool(fieldLogin, sp.Login, row.login)
	d.Add(fieldConnLimit, strconv.Itoa(int(connLimit(sp.ConnectionLimit))), strconv.Itoa(int(row.connLimit)), false)
	d.AddBool(fieldInherit, inheritOf(r), row.inherit)
	d.AddBool(fieldCreateDB, sp.CreateDB, row.createDB)
	d.Add(fieldMemberOf, renderSet(sp.MemberOf), renderSet(row.memberOf), false)
	d.Add(fieldPrivs, strings.Join(c.desiredGrants(r).render(), "; "), strings.Join(have.render(), "; "), false)
	if sp.PasswordSecretRef != nil {
		want, err := c.passwordState(ctx, r)
		if err != nil {
			return managed.Observation{}, err
		}
		d.Add(fieldPassword, want, r.Status.PasswordHash, false)
	}
	return managed.Observation{Exists: true, Owner: ownerOf(row.comment), Diff: d.Diffs}, nil
}

// attributes renders the role attributes of the spec. The unsafe ones
// are always off.
func attributes(r *postgresv1.Role) string {
	flag := func(on bool, name string) string {
		if on {
			return name
		}
		return "NO" + name
	}
	return strings.Join([]string{
		flag(r.Spec.Login, "LOGIN"), flag(inheritOf(r), "INHERIT"), flag(r.Spec.CreateDB, "CREATEDB"),
		"CONNECTION LIMIT " + strconv.Itoa(int(connLimit(r.Spec.ConnectionLimit))),
	}, " ")
}

// Create creates the role, marks it as this object's and gives it its
// memberships and privileges in one transaction: it never exists unmarked
// or half made.
func (c *roleClient) Create(ctx context.Context, r *postgresv1.Role) error {
	if err := checkName("spec.resourceID", c.name); err != nil {
		return err
	}
	if err := c.checkCreatable(); err != nil {
		return err
	}
	// Before the password Secret is made for nothing.
	err := c.s.pool.with(ctx, func(conn *pgx.Conn) error { return c.checkMemberships(ctx, conn, r, r.Spec.MemberOf, nil) })
	if err != nil {
		return err
	}
	stmt := "CREATE ROLE " + ident(c.name) + " WITH NOSUPERUSER NOCREATEROLE NOREPLICATION NOBYPASSRLS " + attributes(r)
	var hash string
	if r.Spec.PasswordSecretRef != nil {
		password, h, err := c.ensurePassword(ctx, r)
		if err != nil {
			return err
		}
		verifier, err := scramVerifier(password)
		if err != nil {
			return err
		}
		stmt += " PASSWORD " + literal(verifier)
		hash = h
	}
	err = c.s.inTx(ctx, func(tx pgx.Tx) error {
		if err := exec(ctx, tx, "CREATE ROLE", stmt); err != nil {
			return err
		}
		if err := interrupted(c.name); err != nil {
			return err
		}
		if err := exec(ctx, tx, "COMMENT ON ROLE", "COMMENT ON ROLE "+ident(c.name)+" IS "+literal(ownerComment(c.env.Owner))); err != nil {
			return err
		}
		if err := c.syncMemberships(ctx, tx, r, nil); err != nil {
			return err
		}
		return c.syncGrants(ctx, tx, c.desiredGrants(r), grants{})
	})
	if err != nil {
		return err
	}
	r.Status.PasswordHash = hash
	_, err = c.Observe(ctx, r)
	return managed.CreateAccepted(err)
}

// Update makes the changes in diff in one transaction: all or none.
func (c *roleClient) Update(ctx context.Context, r *postgresv1.Role, diff []managed.FieldDiff) error {
	// Checked before any write (Observe checked them in this pass too).
	if managed.Differs(diff, fieldMemberOf) {
		err := c.s.pool.with(ctx, func(conn *pgx.Conn) error { return c.checkMemberships(ctx, conn, r, r.Spec.MemberOf, nil) })
		if err != nil {
			return err
		}
	}
	var password, hash, verifier string
	if managed.Differs(diff, fieldPassword) {
		var err error
		if password, hash, err = c.ensurePassword(ctx, r); err != nil {
			return err
		}
		if verifier, err = scramVerifier(password); err != nil {
			return err
		}
	}
	err := c.s.inTx(ctx, func(tx pgx.Tx) error {
		// Read again in the transaction: what was checked still holds.
		row, err := c.read(ctx, tx)
		if err != nil {
			return err
		}
		if row == nil {
			return status.Errorf(codes.Unavailable, "role %q disappeared during the update", c.name)
		}
		if err := c.checkManageable(row, row.above); err != nil {
			return err
		}
		if managed.Differs(diff, fieldLogin) || managed.Differs(diff, fieldConnLimit) || managed.Differs(diff, fieldInherit) || managed.Differs(diff, fieldCreateDB) {
			if err := exec(ctx, tx, "ALTER ROLE", "ALTER ROLE "+ident(c.name)+" WITH "+attributes(r)); err != nil {
				return err
			}
		}
		if managed.Differs(diff, fieldMemberOf) || managed.Differs(diff, fieldPrivs) {
			if err := c.syncMemberships(ctx, tx, r, row.memberOf); err != nil {
				return err
			}
			have, err := c.grants(ctx, tx, row.oid)
			if err != nil {
				return err
			}
			if err := c.syncGrants(ctx, tx, c.desiredGrants(r), have); err != nil {
				return err
			}
		}
		if verifier != "" {
			// The verifier, never the password: statements can end up in
			// the server's log.
			return exec(ctx, tx, "ALTER ROLE", "ALTER ROLE "+ident(c.name)+" WITH PASSWORD "+literal(verifier))
		}
		return nil
	})
	if err != nil {
		return err
	}
	if password != "" {
		r.Status.PasswordHash = hash
	}
	_, err = c.Observe(ctx, r)
	return err
}

// syncMemberships grants the memberships r's spec lists and the role
// lacks (have), and revokes those it holds the spec does not list. The
// policy is checked again in the transaction, just before the grants.
func (c *roleClient) syncMemberships(ctx context.Context, q querier, r *postgresv1.Role, have []string) error {
	want := r.Spec.MemberOf
	var add []string
	for _, g := range want {
		if !slices.Contains(have, g) {
			add = append(add, g)
		}
	}
	if err := c.checkMemberships(ctx, q, r, add, nil); err != nil {
		return err
	}
	for _, g := range add {
		if err := exec(ctx, q, "GRANT", "GRANT "+ident(g)+" TO "+ident(c.name)); err != nil {
			return err
		}
	}
	for _, g := range have {
		if !slices.Contains(want, g) {
			if err := exec(ctx, q, "REVOKE", "REVOKE "+ident(g)+" FROM "+ident(c.name)); err != nil {
				return err
			}
		}
	}
	return nil
}

// privilegeKeywords are the only privileges written into statements
// (the schema allows no others; this keeps it so).
var privilegeKeywords = []string{"CONNECT", "CREATE", "TEMPORARY"}

func (c *roleClient) syncGrants(ctx context.Context, q querier, want, have grants) error {
	for _, db := range slices.Sorted(maps.Keys(want)) {
		if err := checkName(fieldPrivs, db); err != nil {
			return err
		}
		var add []string
		for _, p := range want[db] {
			if !slices.Contains(privilegeKeywords, p) {
				return invalid(fieldPrivs, "unknown privilege %q", p)
			}
			if !slices.Contains(have[db], p) {
				add = append(add, p)
			}
		}
		if len(add) > 0 {
			if err := exec(ctx, q, "GRANT", "GRANT "+strings.Join(add, ", ")+" ON DATABASE "+ident(db)+" TO "+ident(c.name)); err != nil {
				return err
			}
		}
	}
	for _, db := range slices.Sorted(maps.Keys(have)) {
		var drop []string
		for _, p := range have[db] {
			if slices.Contains(privilegeKeywords, p) && !slices.Contains(want[db], p) {
				drop = append(drop, p)
			}
		}
		if len(drop) > 0 {
			if err := exec(ctx, q, "REVOKE", "REVOKE "+strings.Join(drop, ", ")+" ON DATABASE "+ident(db)+" FROM "+ident(c.name)); err != nil {
				return err
			}
		}
	}
	return nil
}

// Delete revokes the role's database privileges (a role holding some
// cannot be dropped) and drops it, in one transaction: when PostgreSQL
// refuses the drop, nothing has changed.
func (c *roleClient) Delete(ctx context.Context, _ *postgresv1.Role) error {
	return c.s.inTx(ctx, func(tx pgx.Tx) error {
		row, err := c.read(ctx, tx)
		if err != nil || row == nil {
			return err
		}
		have, err := c.grants(ctx, tx, row.oid)
		if err != nil {
			return err
		}
		if err := c.syncGrants(ctx, tx, grants{}, have); err != nil {
			return err
		}
		start := time.Now()
		_, err = tx.Exec(ctx, "DROP ROLE IF EXISTS "+ident(c.name))
		provider.RecordCall(Service, "DROP ROLE", cloudError(err), time.Since(start))
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "2BP01" { // dependent_objects_still_exist
			return status.Errorf(codes.FailedPrecondition,
				"PostgreSQL refuses to drop role %q, which still owns or has privileges on objects (%s); nothing was changed. "+
					"Give those objects another owner or drop them (for a Database object: change its spec.ownerRoleRef or delete it; otherwise REASSIGN OWNED BY / DROP OWNED BY in each database named), "+
					"and the deletion goes on by itself; or set spec.deletionPolicy: Abandon to keep the role",
				c.name, strings.ReplaceAll(pe.Detail, "\n", "; "))
		}
		return cloudError(err)
	})
}
