package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
	postgresv1 "github.com/infraplane/infraplane/api/postgres/v1alpha1"
	"github.com/infraplane/infraplane/internal/cloud/postgres"
	"github.com/infraplane/infraplane/internal/importer"
	"github.com/infraplane/infraplane/internal/provider"
	"github.com/infraplane/infraplane/internal/testenv"
)

// The tests of "Tenancy, part 2": one team's Role objects never take over
// the server or another team's role (attack 4), never join another team's
// roles or the server's (attack 5), and passwords never travel in SQL
// text.

func q(name string) string { return pgx.Identifier{name}.Sanitize() }

func randomWord(t *testing.T) string {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// adminPassword is the shared server's superuser password.
func adminPassword(t *testing.T, s *scenario) string {
	u, err := url.Parse(s.srv.AdminDSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	p, _ := u.User.Password()
	return p
}

// mustExec runs statements as the server's superuser, outside infraplane.
func mustExec(t *testing.T, s *scenario, stmts ...string) {
	t.Helper()
	for _, stmt := range stmts {
		if _, err := s.admin.Exec(context.Background(), stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
}

// makeRole creates a role outside infraplane and drops it after the test.
func makeRole(t *testing.T, s *scenario, name, options string) {
	t.Helper()
	mustExec(t, s, "CREATE ROLE "+q(name)+" "+options)
	t.Cleanup(func() {
		_, _ = s.admin.Exec(context.Background(), "DROP ROLE IF EXISTS "+q(name))
	})
}

// roleState is everything that could be taken over about a role, as the
// server's superuser reads it on its own connection: attributes, the
// password verifier, the comment and memberships.
func roleState(t *testing.T, s *scenario, name string) string {
	t.Helper()
	return scalar[string](t, s, `SELECT concat_ws(' | ', a.rolsuper, a.rolcreaterole, a.rolreplication, a.rolbypassrls, a.rolcanlogin,
		a.rolinherit, a.rolcreatedb, a.rolconnlimit, coalesce(a.rolpassword, '<none>'), coalesce(shobj_description(a.oid, 'pg_authid'), '<no comment>'),
		array(SELECT g.rolname::text FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid WHERE m.member = a.oid ORDER BY 1)::text,
		array(SELECT u.rolname::text FROM pg_auth_members m JOIN pg_roles u ON u.oid = m.member WHERE m.roleid = a.oid ORDER BY 1)::text)
		FROM pg_authid a WHERE a.rolname = $1`, name)
}

// passwordSecret makes a Secret holding password in ns, labelled for
// Roles to use.
func passwordSecret(t *testing.T, ns, name, password string) {
	t.Helper()
	env.Create(t, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{postgresv1.PasswordSecretLabel: "true"}},
		Data:       map[string][]byte{"password": []byte(password)},
	})
}

// waitRefused waits until r's Synced condition is False with a message
// naming each of want, and returns it. The refusal comes from the client
// (reason CloudError) or the adoption rules (AlreadyExistsNotOwned).
func waitRefused(t *testing.T, r *postgresv1.Role, reasons []string, want ...string) metav1.Condition {
	t.Helper()
	c := env.WaitForMessage(t, r, commonv1.TypeSynced, want[0])
	t.Logf("Synced: %s: %s", c.Reason, c.Message)
	if c.Status != metav1.ConditionFalse {
		t.Errorf("Synced = %s, want False", c.Status)
	}
	reasonOK := false
	for _, reason := range reasons {
		reasonOK = reasonOK || c.Reason == reason
	}
	if !reasonOK {
		t.Errorf("Synced reason %q, want one of %v", c.Reason, reasons)
	}
	for _, w := range want {
		if !strings.Contains(c.Message, w) {
			t.Errorf("Synced message does not mention %q: %s", w, c.Message)
		}
	}
	if ready := findCondition(r, commonv1.TypeReady); ready == nil || ready.Status == metav1.ConditionTrue {
		t.Errorf("Ready = %+v, want not True", ready)
	}
	if r.Status.ResourceID != "" {
		t.Errorf("status.resourceID = %q: the role was taken", r.Status.ResourceID)
	}
	return c
}

func findCondition(r *postgresv1.Role, typ string) *metav1.Condition {
	for i := range r.Status.Conditions {
		if r.Status.Conditions[i].Type == typ {
			return &r.Status.Conditions[i]
		}
	}
	return nil
}

// refusedByClient are the reasons a refusal by the Role client carries
// (NotPermitted, should refusals get a reason of their own).
var refusedByClient = []string{commonv1.ReasonCloudError, "NotPermitted"}

// Attack 4: a Role adopting the server's superuser (here the very
// administrator infraplane connects as) with a password Secret of the
// team's is refused before anything is written: the administrator keeps
// its password (it still logs in), and no comment is added. Creating a
// Role under the administrator's name is refused as well.
func TestTenancyAdoptSuperuserRefused(t *testing.T) {
	s := setup(t)
	before := roleState(t, s, "postgres")
	passwordSecret(t, s.ns, "takeover", "team-a-owns-the-server")

	r := &postgresv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "takeover", Namespace: s.ns}}
	r.Spec.ResourceID = "postgres"
	r.Spec.Adopt = true
	r.Spec.Login = true
	r.Spec.PasswordSecretRef = &postgresv1.PasswordSecretRef{Name: "takeover"}
	env.Create(t, r)
	waitRefused(t, r, refusedByClient, `refusing to manage role "postgres"`, "SUPERUSER", "the administrator infraplane connects as", "nothing was changed")

	// Without adopt: a create under the administrator's name.
	c := &postgresv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "takeover2", Namespace: s.ns}}
	c.Spec.ResourceID = "postgres"
	c.Spec.Login = true
	c.Spec.PasswordSecretRef = &postgresv1.PasswordSecretRef{Name: "takeover"}
	env.Create(t, c)
	waitRefused(t, c, refusedByClient, `role "postgres" is the administrator`)

	if got := roleState(t, s, "postgres"); got != before {
		t.Errorf("the superuser changed:\n before %s\n after  %s", before, got)
	}
	if !loginWorks(s, "postgres", adminPassword(t, s), "postgres") {
		t.Error("the administrator's own password no longer works")
	}
	if loginWorks(s, "postgres", "team-a-owns-the-server", "postgres") {
		t.Error("the team's password logs in as the superuser")
	}
}

// Attack 4, the other privileged roles: CREATEROLE, REPLICATION,
// BYPASSRLS, a member of a superuser role, a cloud administrator role.
// Adopting each is refused; its password, attributes and memberships stay.
// Predefined roles (pg_*) cannot even be named (the API server refuses),
// and creating a role under a reserved name is refused.
func TestTenancyAdoptPrivilegedRoleRefused(t *testing.T) {
	s := setup(t)
	cases := []struct {
		obj, role, options, why string
	}{
		{"createrole", s.unique("creator"), "LOGIN CREATEROLE PASSWORD 'old-pw'", "CREATEROLE"},
		{"replication", s.unique("replicator"), "LOGIN REPLICATION PASSWORD 'old-pw'", "REPLICATION"},
		{"bypassrls", s.unique("bypasser"), "LOGIN BYPASSRLS PASSWORD 'old-pw'", "BYPASSRLS"},
		{"in-superuser", s.unique("deputy"), "LOGIN PASSWORD 'old-pw' IN ROLE postgres", `member of "postgres"`},
		{"in-server-program", s.unique("shell"), "LOGIN PASSWORD 'old-pw' IN ROLE pg_execute_server_program", `member of "pg_execute_server_program"`},
		{"cloud-admin", "cloudsqlsuperuser", "LOGIN PASSWORD 'old-pw'", "a cloud provider's administrator role"},
	}
	var roles []*postgresv1.Role
	var states []string
	for _, c := range cases {
		makeRole(t, s, c.role, c.options)
		states = append(states, roleState(t, s, c.role))
		passwordSecret(t, s.ns, c.obj, "new-pw")
		r := &postgresv1.Role{ObjectMeta: metav1.ObjectMeta{Name: c.obj, Namespace: s.ns}}
		r.Spec.ResourceID = c.role
		r.Spec.Adopt = true
		r.Spec.Login = true
		r.Spec.PasswordSecretRef = &postgresv1.PasswordSecretRef{Name: c.obj}
		env.Create(t, r)
		roles = append(roles, r)
	}
	for i, c := range cases {
		t.Run(c.obj, func(t *testing.T) {
			waitRefused(t, roles[i], refusedByClient, `refusing to manage role "`+c.role+`"`, c.why, "nothing was changed")
			if got := roleState(t, s, c.role); got != states[i] {
				t.Errorf("the role changed:\n before %s\n after  %s", states[i], got)
			}
			if !loginWorks(s, c.role, "old-pw", "postgres") || loginWorks(s, c.role, "new-pw", "postgres") {
				t.Error("the password was changed")
			}
		})
	}

	// pg_* never reaches the controller.
	p := &postgresv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "monitor", Namespace: s.ns}}
	p.Spec.ResourceID = "pg_monitor"
	p.Spec.Adopt = true
	env.CreateRefused(t, p, "spec.resourceID", "pg_")

	// Reserved names are refused before anything is written.
	for i, name := range []string{"public", "none", "current_user", "cloudsqladmin"} {
		r := &postgresv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "reserved-" + string(rune('a'+i)), Namespace: s.ns}}
		r.Spec.ResourceID = name
		env.Create(t, r)
		waitRefused(t, r, refusedByClient, `"`+name+`"`, "choose another name")
		if name != "public" && name != "none" && roleExists(t, s, name) {
			t.Errorf("role %q was created", name)
		}
	}
}

// Attack 4 against another team: team-a's Role adopting team-b's role
// (marked as team-b's object's) is refused by the adoption rules; team-b's
// role keeps its password, attributes and memberships.
func TestTenancyAdoptRoleOwnedByAnotherObjectRefused(t *testing.T) {
	a, b := setup(t), setup(t)
	name := b.unique("teamb_app")
	rb := &postgresv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: b.ns}}
	rb.Spec.ResourceID = name
	rb.Spec.Login = true
	rb.Spec.PasswordSecretRef = &postgresv1.PasswordSecretRef{Name: "app-password"}
	env.Create(t, rb)
	env.WaitReady(t, rb)
	env.WaitSynced(t, rb)
	var sec corev1.Secret
	if err := env.Client.Get(t.Context(), client.ObjectKey{Namespace: b.ns, Name: "app-password"}, &sec); err != nil {
		t.Fatal(err)
	}
	teamBPassword := string(sec.Data["password"])
	before := roleState(t, a, name)

	passwordSecret(t, a.ns, "steal", "team-a-now")
	ra := &postgresv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "steal", Namespace: a.ns}}
	ra.Spec.ResourceID = name
	ra.Spec.Adopt = true
	ra.Spec.Login = true
	ra.Spec.PasswordSecretRef = &postgresv1.PasswordSecretRef{Name: "steal"}
	env.Create(t, ra)
	waitRefused(t, ra, []string{commonv1.ReasonAlreadyExists}, "belongs to another object", "infraplane-owner="+b.ns+"--app")

	if got := roleState(t, a, name); got != before {
		t.Errorf("team-b's role changed:\n before %s\n after  %s", before, got)
	}
	if !loginWorks(a, name, teamBPassword, "postgres") || loginWorks(a, name, "team-a-now", "postgres") {
		t.Error("team-b's password was changed")
	}
}

// Attack 5: team-a's Role joining team-b's role is refused before anything
// is written: on create (the role is not even created) and on update (no
// GRANT). Joining a role of its own namespace works.
func TestTenancyMemberOfOtherTeamsRoleRefused(t *testing.T) {
	a, b := setup(t), setup(t)
	teamB := b.unique("teamb_data")
	rb := &postgresv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "data", Namespace: b.ns}}
	rb.Spec.ResourceID = teamB
	env.Create(t, rb)
	env.WaitReady(t, rb)
	beforeB := roleState(t, a, teamB)

	// Create: refused, nothing made.
	intruder := a.unique("intruder")
	r := &postgresv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "intruder", Namespace: a.ns}}
	r.Spec.ResourceID = intruder
	r.Spec.Login = true
	r.Spec.MemberOf = []string{teamB}
	env.Create(t, r)
	waitRefused(t, r, refusedByClient, `"`+teamB+`"`, `no Role object of namespace "`+a.ns+`" manages it`, "allowedMemberships", "ask the platform team")
	if roleExists(t, a, intruder) {
		t.Error("the refused role was created")
	}

	// Its own group role: allowed.
	own := a.unique("teama_readers")
	group := &postgresv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "readers", Namespace: a.ns}}
	group.Spec.ResourceID = own
	env.Create(t, group)
	env.WaitReady(t, group)
	user := a.unique("teama_user")
	u := &postgresv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "user", Namespace: a.ns}}
	u.Spec.ResourceID = user
	u.Spec.Login = true
	u.Spec.MemberOf = []string{own}
	env.Create(t, u)
	env.WaitReady(t, u)
	env.WaitSynced(t, u)
	if !scalar[bool](t, a, "SELECT pg_has_role($1, $2, 'MEMBER')", user, own) {
		t.Fatal("not a member of its own team's role")
	}

	// Update: adding team-b's role is refused; nothing changes.
	beforeUser := roleState(t, a, user)
	testenv.Update(t, env, u, func(u *postgresv1.Role) { u.Spec.MemberOf = []string{own, teamB} })
	c := env.WaitForMessage(t, u, commonv1.TypeSynced, teamB)
	t.Logf("Synced: %s: %s", c.Reason, c.Message)
	if c.Status != metav1.ConditionFalse || !strings.Contains(c.Message, "refused memberships") || !strings.Contains(c.Message, "allowedMemberships") {
		t.Errorf("Synced = %+v", c)
	}
	if scalar[bool](t, a, "SELECT pg_has_role($1, $2, 'MEMBER')", user, teamB) {
		t.Error("team-a's user was made a member of team-b's role")
	}
	if n := scalar[int64](t, a, "SELECT count(*) FROM pg_auth_members WHERE roleid = (SELECT oid FROM pg_roles WHERE rolname = $1)", teamB); n != 0 {
		t.Errorf("team-b's role has %d members", n)
	}
	if got := roleState(t, a, user); got != beforeUser {
		t.Errorf("team-a's user changed:\n before %s\n after  %s", beforeUser, got)
	}
	if got := roleState(t, a, teamB); got != beforeB {
		t.Errorf("team-b's role changed:\n before %s\n after  %s", beforeB, got)
	}

	// A role of no object (made by hand) is not the namespace's either.
	loose := a.unique("loose")
	makeRole(t, a, loose, "NOLOGIN")
	testenv.Update(t, env, u, func(u *postgresv1.Role) { u.Spec.MemberOf = []string{own, loose} })
	env.WaitForMessage(t, u, commonv1.TypeSynced, `"`+loose+`" (no Role object`)
	if scalar[bool](t, a, "SELECT pg_has_role($1, $2, 'MEMBER')", user, loose) {
		t.Error("joined a role no object manages")
	}
}

// tenancyProvider makes a ProviderConfig for the shared server (as its
// superuser, like the package's own) with the given allowedMemberships.
func tenancyProvider(t *testing.T, allowed ...string) string {
	t.Helper()
	s := setup(t) // the shared server and its credentials Secret exist
	name := "tenancy-" + strings.TrimPrefix(s.ns, "t-")
	var shared corev1alpha1.ProviderConfig
	if err := env.Client.Get(t.Context(), client.ObjectKey{Name: providerName}, &shared); err != nil {
		t.Fatal(err)
	}
	pc := &corev1alpha1.ProviderConfig{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: shared.Spec}
	pg := *shared.Spec.Postgres
	pg.AllowedMemberships = allowed
	pc.Spec.Postgres = &pg
	env.Create(t, pc)
	return name
}

// Attack 5, the server's roles: predefined roles and cloud administrator
// roles are refused unless the ProviderConfig lists them in
// allowedMemberships; roles that could administer the server are refused
// even then. The roles reaching the server's files and programs never get
// to the controller (the API server refuses them), and the controller would
// refuse them even if listed.
func TestTenancyMemberOfPredefinedRoleRefused(t *testing.T) {
	pcName := tenancyProvider(t)
	s := setup(t)
	s.ns = env.Namespace(t, pcName)

	superish := s.unique("ops_admin")
	makeRole(t, s, superish, "NOLOGIN CREATEROLE")
	name := s.unique("analyst")
	r := &postgresv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "analyst", Namespace: s.ns}}
	r.Spec.ResourceID = name
	r.Spec.Login = true
	r.Spec.MemberOf = []string{"pg_read_all_data"}
	env.Create(t, r)
	waitRefused(t, r, refusedByClient, `"pg_read_all_data" (it is a predefined PostgreSQL role)`, `ProviderConfig "`+pcName+`" lists in spec.postgres.allowedMemberships`)
	if roleExists(t, s, name) {
		t.Fatal("the refused role was created")
	}
	for _, g := range []string{"pg_execute_server_program", "pg_write_server_files"} {
		bad := &postgresv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "bad", Namespace: s.ns}}
		bad.Spec.MemberOf = []string{g}
		env.CreateRefused(t, bad, "spec.memberOf", g)
		if msg := postgres.MembershipRefusal(s.ns, "postgres", []string{g}, g, nil); !strings.Contains(msg, "never allowed, even if listed") {
			t.Errorf("%s listed in allowedMemberships: %q", g, msg)
		}
	}
	if msg := postgres.MembershipRefusal(s.ns, "postgres", []string{"cloudsqlsuperuser"}, "cloudsqlsuperuser", []string{"CREATEROLE"}); !strings.Contains(msg, "never allowed") {
		t.Errorf("cloudsqlsuperuser (CREATEROLE) listed: %q", msg)
	}
	if msg := postgres.MembershipRefusal(s.ns, "postgres", nil, "cloudsqlsuperuser", nil); !strings.Contains(msg, "cloud provider's administrator role") {
		t.Errorf("cloudsqlsuperuser unlisted: %q", msg)
	}

	// The platform lists pg_read_all_data and the CREATEROLE role.
	var pc corev1alpha1.ProviderConfig
	if err := env.Client.Get(t.Context(), client.ObjectKey{Name: pcName}, &pc); err != nil {
		t.Fatal(err)
	}
	testenv.Update(t, env, &pc, func(pc *corev1alpha1.ProviderConfig) {
		pc.Spec.Postgres.AllowedMemberships = []string{"pg_read_all_data", superish}
	})
	env.Poke(t, r)
	env.WaitReady(t, r)
	env.WaitSynced(t, r)
	if !scalar[bool](t, s, "SELECT pg_has_role($1, 'pg_read_all_data', 'MEMBER')", name) {
		t.Error("not a member of pg_read_all_data once listed")
	}

	// Listed, but it can create roles: never.
	before := roleState(t, s, name)
	testenv.Update(t, env, r, func(r *postgresv1.Role) { r.Spec.MemberOf = []string{"pg_read_all_data", superish} })
	c := env.WaitForMessage(t, r, commonv1.TypeSynced, "never allowed, even if listed")
	if c.Status != metav1.ConditionFalse || !strings.Contains(c.Message, superish) || !strings.Contains(c.Message, "CREATEROLE") {
		t.Errorf("Synced = %+v", c)
	}
	if got := roleState(t, s, name); got != before {
		t.Errorf("the role changed:\n before %s\n after  %s", before, got)
	}
	if scalar[bool](t, s, "SELECT pg_has_role($1, $2, 'MEMBER')", name, superish) {
		t.Error("joined a CREATEROLE role")
	}
}

// Passwords travel as SCRAM-SHA-256 verifiers computed by infraplane: with
// every statement logged, the server's log never holds the password (nor a
// rotated one); the role logs in with the password, and pg_authid holds a
// SCRAM verifier.
func TestTenancyPasswordNotInSQLText(t *testing.T) {
	s := setup(t)
	mustExec(t, s, "ALTER SYSTEM SET log_statement = 'all'", "SELECT pg_reload_conf()")
	t.Cleanup(func() {
		_, _ = s.admin.Exec(context.Background(), "ALTER SYSTEM RESET log_statement")
		_, _ = s.admin.Exec(context.Background(), "SELECT pg_reload_conf()")
	})
	// The reload is asynchronous: wait until a new session sees it.
	eventually(t, "log_statement = all", func() bool {
		conn, err := pgx.Connect(context.Background(), s.srv.AdminDSN("postgres"))
		if err != nil {
			return false
		}
		defer conn.Close(context.Background())
		var v string
		return conn.QueryRow(context.Background(), "SHOW log_statement").Scan(&v) == nil && v == "all"
	})
	first := "first-" + randomWord(t)
	passwordSecret(t, s.ns, "secret-pw", first)
	name := s.unique("logged")
	r := &postgresv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "logged", Namespace: s.ns}}
	r.Spec.ResourceID = name
	r.Spec.Login = true
	r.Spec.PasswordSecretRef = &postgresv1.PasswordSecretRef{Name: "secret-pw"}
	env.Create(t, r)
	env.WaitReady(t, r)
	env.WaitSynced(t, r)
	if !loginWorks(s, name, first, "postgres") {
		t.Fatal("cannot log in with the password")
	}
	verifier := scalar[string](t, s, "SELECT rolpassword FROM pg_authid WHERE rolname = $1", name)
	if !strings.HasPrefix(verifier, "SCRAM-SHA-256$4096:") {
		t.Errorf("pg_authid.rolpassword = %q, want a SCRAM-SHA-256 verifier", verifier)
	}

	// Rotation, to a password with quotes, a backslash and non-ASCII
	// letters.
	second := `zwéi 'pässwört\` + randomWord(t)
	var sec corev1.Secret
	if err := env.Client.Get(t.Context(), client.ObjectKey{Namespace: s.ns, Name: "secret-pw"}, &sec); err != nil {
		t.Fatal(err)
	}
	testenv.Update(t, env, &sec, func(s *corev1.Secret) { s.Data["password"] = []byte(second) })
	eventually(t, "the new password works", func() bool { return loginWorks(s, name, second, "postgres") })
	if loginWorks(s, name, first, "postgres") {
		t.Error("the old password still works")
	}

	b, err := os.ReadFile(filepath.Join(s.srv.Dir, "postgres.log"))
	if err != nil {
		t.Fatal(err)
	}
	log := string(b)
	if !strings.Contains(log, "CREATE ROLE "+q(name)) || !strings.Contains(log, "ALTER ROLE "+q(name)+" WITH PASSWORD") {
		t.Fatalf("the server did not log the statements (log_statement = all): %d bytes of log", len(log))
	}
	for _, p := range []string{first, second, strings.TrimPrefix(second, "zwéi ")} {
		if strings.Contains(log, p) {
			t.Errorf("the server's log holds the password %q", p)
		}
	}
	if got, _ := postgres.ScramVerifierWith("pencil", []byte("salt-of-sixteen!"), 4096); !strings.HasPrefix(got, "SCRAM-SHA-256$4096:c2FsdC1vZi1zaXh0ZWVuIQ==$") {
		t.Errorf("verifier format: %q", got)
	}
}

// `infraplane import` does not write manifests that would adopt a role a
// Role refuses to adopt.
func TestTenancyImportSkipsPrivilegedRoles(t *testing.T) {
	s := setup(t)
	plain := s.unique("plain")
	makeRole(t, s, plain, "LOGIN")
	refused := map[string]string{}
	for _, c := range []struct{ base, options string }{
		{"imp_creator", "CREATEROLE"}, {"imp_replicator", "REPLICATION"}, {"imp_bypasser", "BYPASSRLS"},
		{"imp_deputy", "IN ROLE postgres"}, {"imp_shell", "IN ROLE pg_execute_server_program"},
	} {
		name := s.unique(c.base)
		makeRole(t, s, name, c.options)
		refused[name] = c.options
	}
	p, err := provider.NewResolver(env.Client, provider.Options{}).ByName(t.Context(), providerName)
	if err != nil {
		t.Fatal(err)
	}
	clients := postgres.NewClients()
	defer clients.Close()
	found, err := postgres.RoleLister(clients).List(t.Context(), p)
	if err != nil {
		t.Fatal(err)
	}
	var sawPlain bool
	for _, f := range found {
		if opt, ok := refused[f.SelfLink]; ok {
			t.Errorf("listed %s (%s)", f.SelfLink, opt)
		}
		sawPlain = sawPlain || f.SelfLink == plain
	}
	if !sawPlain {
		t.Error("the plain role is not listed")
	}
	var _ importer.Lister = postgres.RoleLister(clients)
}

// Attack 4 against a role another team adopted (adopting writes no
// marker): team-a's Role adopting it as well is refused, naming team-b's
// object; the role keeps its password.
func TestTenancyAdoptRoleAdoptedByAnotherNamespaceRefused(t *testing.T) {
	a, b := setup(t), setup(t)
	name := b.unique("legacy_app")
	makeRole(t, b, name, "LOGIN PASSWORD 'team-b-pw'")
	rb := &postgresv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "legacy", Namespace: b.ns}}
	rb.Spec.ResourceID = name
	rb.Spec.Adopt = true
	rb.Spec.Login = true
	env.Create(t, rb)
	env.WaitReady(t, rb)
	env.WaitSynced(t, rb)
	before := roleState(t, a, name)

	passwordSecret(t, a.ns, "also", "team-a-pw")
	ra := &postgresv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "also", Namespace: a.ns}}
	ra.Spec.ResourceID = name
	ra.Spec.Adopt = true
	ra.Spec.Login = true
	ra.Spec.PasswordSecretRef = &postgresv1.PasswordSecretRef{Name: "also"}
	env.Create(t, ra)
	waitRefused(t, ra, refusedByClient, `refusing to adopt role "`+name+`"`, "Role "+b.ns+"/legacy manages it already", "nothing was changed")
	if got := roleState(t, a, name); got != before {
		t.Errorf("team-b's role changed:\n before %s\n after  %s", before, got)
	}
	if !loginWorks(a, name, "team-b-pw", "postgres") || loginWorks(a, name, "team-a-pw", "postgres") {
		t.Error("team-b's password was changed")
	}
	// Team-b's object is unaffected.
	env.Poke(t, rb)
	env.WaitSynced(t, rb)
}
