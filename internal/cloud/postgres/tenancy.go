package postgres

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
	postgresv1 "github.com/infraplane/infraplane/api/postgres/v1alpha1"
	"github.com/infraplane/infraplane/internal/managed"
)

// Tenancy: several teams' namespaces share one PostgreSQL server, which
// infraplane administers as a superuser (or, in clouds, as the cloud's
// admin role). A Role object must never give its team more than the team's
// own roles: it never adopts a role that reaches beyond them (a superuser,
// a role that creates roles, the administrator, a predefined role...), and
// it joins only roles its own namespace manages, or that the platform
// listed in the ProviderConfig's spec.postgres.allowedMemberships.

// cloudAdminRoles are the administrator roles of managed PostgreSQL
// services: a member of one administers the server.
var cloudAdminRoles = []string{
	"cloudsqlsuperuser", "cloudsqladmin", "cloudsqlreplica", // Cloud SQL
	"rds_superuser", "rdsadmin", "rds_replication", // Amazon RDS
	"azure_pg_admin", "azuresu", // Azure
	"alloydbsuperuser", "alloydbadmin", // AlloyDB
}

// serverAccessRoles are the predefined roles that read or write the
// server's files or run programs on its host: each is a superuser in all
// but name. They are never joined, even when listed in allowedMemberships
// (the CRD refuses them in memberOf too).
var serverAccessRoles = []string{"pg_read_server_files", "pg_write_server_files", "pg_execute_server_program"}

// reservedNames are names PostgreSQL refuses or reads as something else
// than a role (public, none) or that mean another role in SQL
// (current_user...).
var reservedNames = []string{"public", "none", "current_user", "session_user", "current_role"}

func isPredefined(name string) bool { return strings.HasPrefix(name, "pg_") }

func isCloudAdmin(name string) bool {
	return slices.ContainsFunc(cloudAdminRoles, func(n string) bool { return strings.EqualFold(n, name) })
}

// checkCreatable refuses, before anything is written, to create a role
// under a name that is PostgreSQL's, a cloud's or the administrator's.
func (c *roleClient) checkCreatable() error {
	name := c.name
	switch {
	case isPredefined(name):
		return invalid("spec.resourceID", "role name %q is reserved: names starting with pg_ are PostgreSQL's predefined roles; choose another name", name)
	case slices.ContainsFunc(reservedNames, func(n string) bool { return strings.EqualFold(n, name) }):
		return invalid("spec.resourceID", "role name %q is reserved by PostgreSQL; choose another name", name)
	case isCloudAdmin(name):
		return invalid("spec.resourceID", "role name %q is a cloud provider's administrator role; choose another name", name)
	case name == c.s.admin:
		return invalid("spec.resourceID", "role %q is the administrator infraplane connects as (ProviderConfig %q); choose another name", name, c.env.Provider.Name)
	}
	return nil
}

// privilegedAbove lists, for the role with oid $1, the roles it is
// (directly or through other roles) a member of that reach beyond a
// tenant: those with SUPERUSER, CREATEROLE, REPLICATION or BYPASSRLS, the
// server-access roles, and the administrator ($2). A member can SET ROLE
// to any of them.
const privilegedAbove = `WITH RECURSIVE up(oid) AS (
		SELECT m.roleid FROM pg_auth_members m WHERE m.member = $1
		UNION SELECT m.roleid FROM pg_auth_members m JOIN up ON m.member = up.oid)
	SELECT g.rolname::text FROM up JOIN pg_roles g ON g.oid = up.oid
	WHERE g.rolsuper OR g.rolcreaterole OR g.rolreplication OR g.rolbypassrls
		OR g.rolname IN ('pg_read_server_files', 'pg_write_server_files', 'pg_execute_server_program') OR g.rolname = $2
	ORDER BY 1`

// unsafeAttributes names the attributes of row no Role may have.
func unsafeAttributes(row *roleRow) []string {
	var out []string
	for _, a := range []struct {
		on   bool
		name string
	}{{row.superuser, "SUPERUSER"}, {row.createRole, "CREATEROLE"}, {row.replication, "REPLICATION"}, {row.bypassRLS, "BYPASSRLS"}} {
		if a.on {
			out = append(out, a.name)
		}
	}
	return out
}

// checkManageable refuses to write to an existing role that reaches
// beyond one team: taking it over (adopting it, resetting its password)
// would hand the team the server. It runs before any write of every pass
// that may write, so it also stops a role made superuser behind
// infraplane's back from being written to. Roles marked as another
// object's are refused by the generic adoption rules.
func (c *roleClient) checkManageable(row *roleRow, above []string) error {
	var why []string
	if isPredefined(c.name) {
		why = append(why, "it is a predefined PostgreSQL role (pg_*)")
	}
	if c.name == c.s.admin {
		why = append(why, fmt.Sprintf("it is the administrator infraplane connects as (ProviderConfig %q)", c.env.Provider.Name))
	}
	if isCloudAdmin(c.name) {
		why = append(why, "it is a cloud provider's administrator role")
	}
	if attrs := unsafeAttributes(row); len(attrs) > 0 {
		why = append(why, "it has "+strings.Join(attrs, ", "))
	}
	if len(above) > 0 {
		why = append(why, "it is a member of "+quoteList(above)+" (it can SET ROLE to them)")
	}
	if len(why) == 0 {
		return nil
	}
	return status.Errorf(codes.PermissionDenied,
		"refusing to manage role %q: %s. A Role never adopts or writes to a role that can administer the server or other teams' roles: "+
			"nothing was changed. Choose another spec.resourceID (or delete this object); if the role is really meant to be this team's, "+
			"a database administrator must first remove what makes it privileged (e.g. ALTER ROLE … NOSUPERUSER NOCREATEROLE NOREPLICATION NOBYPASSRLS, REVOKE the memberships)",
		c.name, strings.Join(why, "; "))
}

func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, ", ")
}

// candidate is what the server says about a role named in memberOf.
type candidate struct {
	name   string
	exists bool
	owner  string   // its ownership marker's value, "" without one
	attrs  []string // its unsafe attributes
	above  []string // privileged roles it is a member of
}

// candidatesQuery reads the roles named in $1; $2 is the administrator.
const candidatesQuery = `SELECT r.rolname::text, coalesce(shobj_description(r.oid, 'pg_authid'), ''),
	r.rolsuper, r.rolcreaterole, r.rolreplication, r.rolbypassrls,
	array(WITH RECURSIVE up(oid) AS (
			SELECT m.roleid FROM pg_auth_members m WHERE m.member = r.oid
			UNION SELECT m.roleid FROM pg_auth_members m JOIN up ON m.member = up.oid)
		SELECT g.rolname::text FROM up JOIN pg_roles g ON g.oid = up.oid
		WHERE g.rolsuper OR g.rolcreaterole OR g.rolreplication OR g.rolbypassrls
			OR g.rolname IN ('pg_read_server_files', 'pg_write_server_files', 'pg_execute_server_program') OR g.rolname = $2
		ORDER BY 1)
FROM pg_roles r WHERE r.rolname = ANY($1)`

// memberPolicy decides which roles a Role object may join.
type memberPolicy struct {
	// Namespace is the Role object's namespace; ProviderConfig its
	// ProviderConfig's name, for messages.
	Namespace, ProviderConfig string
	// Admin is the administrator's role name.
	Admin string
	// Allowed is the ProviderConfig's spec.postgres.allowedMemberships.
	Allowed []string
	// Managed maps a role name to the ownership marker value of every Role
	// object of the namespace that claims it (status.resourceID).
	Managed map[string][]string
}

// refusal is one role memberOf may not name, and why.
type refusal struct {
	name, why string
	never     bool // not even if listed in allowedMemberships
}

// decide applies the policy to one role.
//
// "A role the namespace manages" needs both sides to agree: a Role object
// of this namespace claims it (its status.resourceID), and the role on the
// server carries that very object's ownership marker. The namespace is
// Kubernetes' word, guarded by RBAC: the marker alone cannot say it (the
// marker value is a lossy, truncated label that anyone with CREATEROLE on
// the server can write). The marker is what the server says: it keeps a
// stale or hand-edited status, or a role re-created by someone else since,
// from counting; and an adopted role (never marked: adopting writes
// nothing) is not enough, since two namespaces could both have adopted an
// unmarked role. Such a role can still be listed in allowedMemberships.
func (p *memberPolicy) decide(cd candidate) *refusal {
	g := cd.name
	switch {
	case g == p.Admin:
		return &refusal{g, "it is the administrator infraplane connects as", true}
	case slices.Contains(serverAccessRoles, g):
		return &refusal{g, "it reaches the server's files or programs", true}
	case len(cd.attrs) > 0:
		return &refusal{g, "it has " + strings.Join(cd.attrs, ", ") + " (a member could SET ROLE to it)", true}
	case len(cd.above) > 0:
		return &refusal{g, "it is a member of " + quoteList(cd.above) + " (a member could SET ROLE to them)", true}
	case !cd.exists:
		return nil // the GRANT says so; checked again when it exists
	case slices.Contains(p.Allowed, g):
		return nil
	case isPredefined(g):
		return &refusal{g, "it is a predefined PostgreSQL role", false}
	case isCloudAdmin(g):
		return &refusal{g, "it is a cloud provider's administrator role", false}
	case cd.owner != "" && slices.Contains(p.Managed[g], cd.owner):
		return nil
	case len(p.Managed[g]) > 0 && cd.owner == "":
		return &refusal{g, fmt.Sprintf("it was adopted by a Role of namespace %q but carries no ownership marker, so the server cannot confirm it is this namespace's", p.Namespace), false}
	}
	return &refusal{g, fmt.Sprintf("no Role object of namespace %q manages it", p.Namespace), false}
}

// check refuses memberships the policy does not allow, naming each role,
// why, and what to do.
func (p *memberPolicy) check(cands []candidate, held []string) error {
	var never, unlisted []string
	for _, cd := range cands {
		r := p.decide(cd)
		if r == nil {
			continue
		}
		s := fmt.Sprintf("%q (%s", r.name, r.why)
		if slices.Contains(held, r.name) {
			s += "; the role is a member already"
		}
		s += ")"
		if r.never {
			never = append(never, s)
		} else {
			unlisted = append(unlisted, s)
		}
	}
	var parts []string
	if len(never) > 0 {
		parts = append(parts, "never allowed, even if listed in the ProviderConfig's spec.postgres.allowedMemberships: "+strings.Join(never, ", "))
	}
	if len(unlisted) > 0 {
		parts = append(parts, fmt.Sprintf("not allowed: %s. A Role may join only roles that Role objects of its own namespace manage, and those ProviderConfig %q lists in spec.postgres.allowedMemberships: "+
			"ask the platform team to list the role there if this team should have it", strings.Join(unlisted, ", "), p.ProviderConfig))
	}
	if len(parts) == 0 {
		return nil
	}
	return status.Errorf(codes.PermissionDenied, "%s: refused memberships, nothing was changed; %s", fieldMemberOf, strings.Join(parts, "; "))
}

// checkMemberships checks the roles want names (and held, those the role
// is a member of now, when adopting) against the membership policy, before
// anything is written.
func (c *roleClient) checkMemberships(ctx context.Context, q querier, r *postgresv1.Role, want, held []string) error {
	names := slices.Clone(want)
	for _, g := range held {
		if !slices.Contains(names, g) {
			names = append(names, g)
		}
	}
	if len(names) == 0 {
		return nil
	}
	for _, g := range names {
		if err := checkName(fieldMemberOf, g); err != nil {
			return err
		}
	}
	found := map[string]candidate{}
	var cd candidate
	var super, createRole, replication, bypassRLS bool
	err := queryRows(ctx, q, candidatesQuery, []any{names, c.s.admin}, []any{&cd.name, &cd.owner, &super, &createRole, &replication, &bypassRLS, &cd.above}, func() error {
		cd.exists = true
		cd.owner = ownerOf(cd.owner)
		cd.attrs = unsafeAttributes(&roleRow{superuser: super, createRole: createRole, replication: replication, bypassRLS: bypassRLS})
		found[cd.name] = cd
		cd = candidate{}
		return nil
	})
	if err != nil {
		return err
	}
	policy, err := c.membershipPolicy(ctx, r)
	if err != nil {
		return err
	}
	cands := make([]candidate, len(names))
	for i, g := range names {
		if f, ok := found[g]; ok {
			cands[i] = f
		} else {
			cands[i] = candidate{name: g}
		}
	}
	return policy.check(cands, held)
}

// membershipPolicy builds the policy of r's namespace: the Role objects
// there (read through the manager's cache) and the ProviderConfig.
func (c *roleClient) membershipPolicy(ctx context.Context, r *postgresv1.Role) (*memberPolicy, error) {
	p := &memberPolicy{Namespace: r.Namespace, ProviderConfig: c.env.Provider.Name, Admin: c.s.admin, Managed: map[string][]string{}}
	if pg := c.env.Provider.Postgres; pg != nil {
		p.Allowed = pg.AllowedMemberships
	}
	if c.env.Provider.Reader == nil {
		return nil, status.Errorf(codes.FailedPrecondition, "%s: no Kubernetes reader to list the namespace's Roles", fieldMemberOf)
	}
	var list postgresv1.RoleList
	if err := c.env.Provider.Reader.List(ctx, &list, client.InNamespace(r.Namespace)); err != nil {
		return nil, fmt.Errorf("listing the Roles of namespace %s: %w", r.Namespace, err)
	}
	for _, o := range list.Items {
		if id := o.Status.ResourceID; id != "" {
			p.Managed[id] = append(p.Managed[id], managed.OwnerValue(o.Namespace, o.Name))
		}
	}
	return p, nil
}

// writes reports whether passes of r may write to the server (the checks
// that guard writes are skipped for a Role that only observes).
func writes(r *postgresv1.Role) bool {
	return r.Spec.ManagementPolicy != commonv1.ManagementObserveOnly
}

// checkNotClaimed refuses to adopt an unmarked role that another Role
// object has adopted already (its status.resourceID), on the same server.
// Adopting writes no marker, so without this a second team could adopt the
// role a first team adopted, and reset its password.
func (c *roleClient) checkNotClaimed(ctx context.Context, r *postgresv1.Role) error {
	reader := c.env.Provider.Reader
	if reader == nil {
		return status.Errorf(codes.FailedPrecondition, "no Kubernetes reader to check which objects manage role %q", c.name)
	}
	var list postgresv1.RoleList
	if err := reader.List(ctx, &list); err != nil {
		return fmt.Errorf("listing Roles: %w", err)
	}
	for _, o := range list.Items {
		if o.Status.ResourceID != c.name || (o.Namespace == r.Namespace && o.Name == r.Name) {
			continue
		}
		if o.Namespace != r.Namespace {
			same, err := c.sameServer(ctx, reader, o.Namespace)
			if err != nil {
				return err
			}
			if !same {
				continue
			}
		}
		return status.Errorf(codes.AlreadyExists,
			"refusing to adopt role %q: Role %s/%s manages it already (it adopted it; adopted roles carry no ownership marker). "+
				"Two objects never manage one role, and nothing was changed: choose another spec.resourceID, or delete the other object (deletionPolicy: Abandon keeps the role)",
			c.name, o.Namespace, o.Name)
	}
	return nil
}

// sameServer reports whether the objects of namespace ns use the same
// PostgreSQL server (host and port) as this client. A namespace whose
// ProviderConfig cannot be read counts as the same: unsure, refuse.
func (c *roleClient) sameServer(ctx context.Context, reader client.Reader, ns string) (bool, error) {
	var namespace corev1.Namespace
	if err := reader.Get(ctx, types.NamespacedName{Name: ns}, &namespace); err != nil && !apierrors.IsNotFound(err) {
		return false, fmt.Errorf("reading namespace %q: %w", ns, err)
	}
	name := corev1alpha1.DefaultProviderConfig
	if v := namespace.Annotations[corev1alpha1.NamespaceAnnotation]; v != "" {
		name = v
	}
	if name == c.env.Provider.Name {
		return true, nil
	}
	var pc corev1alpha1.ProviderConfig
	if err := reader.Get(ctx, types.NamespacedName{Name: name}, &pc); err != nil {
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		return false, fmt.Errorf("reading ProviderConfig %q: %w", name, err)
	}
	return serverKey(pc.Spec.Postgres) == serverKey(c.env.Provider.Postgres), nil
}

// serverKey identifies a server by host and port.
func serverKey(pg *corev1alpha1.PostgresServer) string {
	if pg == nil {
		return ""
	}
	port := pg.Port
	if port == 0 {
		port = 5432
	}
	return fmt.Sprintf("%s:%d", strings.ToLower(pg.Host), port)
}
