package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"

	postgresv1 "github.com/infraplane/infraplane/api/postgres/v1alpha1"
	"github.com/infraplane/infraplane/internal/importer"
	"github.com/infraplane/infraplane/internal/provider"
)

// DatabaseLister lists the server's databases for `infraplane import`:
// all but templates, the administrator's own database and the temporary
// ones of creates in progress (pendingName).
func DatabaseLister(c *Clients) importer.Lister { return databaseLister{c} }

// RoleLister lists the server's roles for `infraplane import`: all but
// those a Role refuses to adopt (checkManageable): the predefined pg_*
// roles, the administrator, cloud administrator roles, roles with
// SUPERUSER, CREATEROLE, REPLICATION or BYPASSRLS, and members of such
// roles.
func RoleLister(c *Clients) importer.Lister { return roleLister{c} }

type databaseLister struct{ c *Clients }
type roleLister struct{ c *Clients }

func (databaseLister) GVK() schema.GroupVersionKind {
	return postgresv1.GroupVersion.WithKind("Database")
}
func (roleLister) GVK() schema.GroupVersionKind { return postgresv1.GroupVersion.WithKind("Role") }

// importableRole is the SQL condition for roles RoleLister lists; $1 is
// the administrator.
var importableRole = `r.rolname !~ '^pg_' AND r.rolname <> $1
	AND NOT (r.rolsuper OR r.rolcreaterole OR r.rolreplication OR r.rolbypassrls)
	AND lower(r.rolname) <> ALL (ARRAY['` + strings.Join(cloudAdminRoles, "', '") + `'])
	AND NOT EXISTS (` + strings.ReplaceAll(strings.ReplaceAll(privilegedAbove, "$1", "r.oid"), "$2", "$1") + `)`

var listDatabases = `SELECT d.datname::text, pg_get_userbyid(d.datdba)::text, pg_encoding_to_char(d.encoding), d.datcollate, d.datctype,
	d.datconnlimit, coalesce(shobj_description(d.oid, 'pg_database'), ''),
	EXISTS (SELECT 1 FROM pg_roles r WHERE r.oid = d.datdba AND ` + importableRole + `), d.datallowconn
FROM pg_database d WHERE NOT d.datistemplate AND d.datname <> $2 AND NOT starts_with(d.datname::text, '` + pendingPrefix + `') ORDER BY 1`

var localePattern = regexp.MustCompile(`^[A-Za-z0-9_.@-]{1,64}$`)

func (l databaseLister) List(ctx context.Context, p *provider.Config) ([]importer.Found, error) {
	s, err := l.c.get(ctx, p)
	if err != nil {
		return nil, err
	}
	var out []importer.Found
	var name, owner, enc, collate, ctype, comment string
	var limit int32
	var ownerImported, allowConn bool
	err = s.queryRows(ctx, listDatabases, []any{s.admin, s.adminDB}, []any{&name, &owner, &enc, &collate, &ctype, &limit, &comment, &ownerImported, &allowConn}, func() error {
		spec := map[string]any{"adopt": true}
		switch {
		case owner == s.admin:
			// The administrator's: the default, left out.
		case ownerImported:
			spec["ownerRoleRef"] = map[string]any{"name": objectName(owner)}
		default:
			spec["ownerRoleRef"] = map[string]any{"external": owner}
		}
		if encodingName(enc) != "UTF8" {
			spec["encoding"] = enc
		}
		if localePattern.MatchString(collate) {
			spec["lcCollate"] = collate
		}
		if localePattern.MatchString(ctype) {
			spec["lcCtype"] = ctype
		}
		if limit != -1 {
			spec["connectionLimit"] = int64(limit)
		}
		if allowConn {
			spec["extensions"] = []any{name} // placeholder, filled below
		}
		out = append(out, importer.Found{SelfLink: name, Owner: ownerOf(comment), Object: manifest("Database", name, spec)})
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, f := range out {
		spec := f.Object.Object["spec"].(map[string]any)
		if _, ok := spec["extensions"]; !ok {
			continue
		}
		delete(spec, "extensions")
		dc := &databaseClient{s: s, name: f.SelfLink}
		exts, err := dc.extensions(ctx)
		if err != nil {
			continue // a database that refuses connections keeps its extensions unlisted
		}
		var keep []any
		for _, e := range exts {
			if e != "plpgsql" { // every database has it
				keep = append(keep, e)
			}
		}
		if len(keep) > 0 {
			spec["extensions"] = keep
		}
	}
	return out, nil
}

var listRoles = `SELECT r.rolname::text, r.rolcanlogin, r.rolinherit, r.rolcreatedb, r.rolconnlimit,
	coalesce(shobj_description(r.oid, 'pg_authid'), ''),
	array(SELECT g.rolname::text FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid WHERE m.member = r.oid ORDER BY 1),
	array(SELECT d.datname::text || '=' || a.privilege_type FROM pg_database d, aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) a
		WHERE a.grantee = r.oid AND a.grantee <> d.datdba ORDER BY 1)
FROM pg_roles r WHERE ` + importableRole + ` ORDER BY 1`

func (l roleLister) List(ctx context.Context, p *provider.Config) ([]importer.Found, error) {
	s, err := l.c.get(ctx, p)
	if err != nil {
		return nil, err
	}
	imported, err := importedDatabases(ctx, s)
	if err != nil {
		return nil, err
	}
	var out []importer.Found
	var name, comment string
	var login, inherit, createDB bool
	var limit int32
	var memberOf, privs []string
	err = s.queryRows(ctx, listRoles, []any{s.admin}, []any{&name, &login, &inherit, &createDB, &limit, &comment, &memberOf, &privs}, func() error {
		spec := map[string]any{"adopt": true}
		if login {
			spec["login"] = true
		}
		if !inherit {
			spec["inherit"] = false
		}
		if createDB {
			spec["createdb"] = true
		}
		if limit != -1 {
			spec["connectionLimit"] = int64(limit)
		}
		if len(memberOf) > 0 {
			spec["memberOf"] = toAny(memberOf)
		}
		if ps := privilegesSpec(privs, imported); len(ps) > 0 {
			spec["privileges"] = ps
		}
		out = append(out, importer.Found{SelfLink: name, Owner: ownerOf(comment), Object: manifest("Role", name, spec)})
		return nil
	})
	return out, err
}

// importedDatabases are the databases DatabaseLister lists, for references
// by name.
func importedDatabases(ctx context.Context, s *server) (map[string]bool, error) {
	out := map[string]bool{}
	var name string
	err := s.queryRows(ctx, "SELECT datname::text FROM pg_database WHERE NOT datistemplate AND datname <> $1", []any{s.adminDB}, []any{&name}, func() error {
		out[name] = true
		return nil
	})
	return out, err
}

// privilegesSpec turns "db=PRIV" rows into spec.privileges.
func privilegesSpec(rows []string, imported map[string]bool) []any {
	var order []string
	by := map[string][]any{}
	for _, r := range rows {
		db, priv, _ := strings.Cut(r, "=")
		if _, ok := by[db]; !ok {
			order = append(order, db)
		}
		by[db] = append(by[db], priv)
	}
	var out []any
	for _, db := range order {
		ref := map[string]any{"external": db}
		if imported[db] {
			ref = map[string]any{"name": objectName(db)}
		}
		out = append(out, map[string]any{"databaseRef": ref, "privileges": by[db]})
	}
	return out
}

func toAny(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

// manifest is the adopting object of a database or role called name.
func manifest(kind, name string, spec map[string]any) *unstructured.Unstructured {
	obj := objectName(name)
	if obj != name {
		spec["resourceID"] = name
	}
	u := &unstructured.Unstructured{Object: map[string]any{"spec": spec}}
	u.SetAPIVersion(postgresv1.GroupVersion.String())
	u.SetKind(kind)
	u.SetName(obj)
	return u
}

// objectName is a valid object name for a database or role: the name
// itself when it is one, else a cleaned-up name with a hash of the real
// one (which then goes into spec.resourceID).
func objectName(name string) string {
	if len(name) <= 63 && len(validation.IsDNS1123Subdomain(name)) == 0 && !strings.HasPrefix(name, "pg_") {
		return name
	}
	clean := strings.Trim(strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			return r
		case r >= 'A' && r <= 'Z':
			return r + ('a' - 'A')
		}
		return '-'
	}, name), "-")
	if len(clean) > 40 {
		clean = strings.Trim(clean[:40], "-")
	}
	sum := sha256.Sum256([]byte(name))
	if clean == "" {
		clean = "pg"
	}
	return clean + "-" + hex.EncodeToString(sum[:4])
}
