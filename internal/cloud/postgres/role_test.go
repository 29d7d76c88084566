package postgres_test

import (
	"context"
	"net/url"
	"strconv"
	"testing"

	"github.com/jackc/pgx/v5"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
	postgresv1 "github.com/infraplane/infraplane/api/postgres/v1alpha1"
	"github.com/infraplane/infraplane/internal/testenv"
)

// loginWorks reports whether role can log in to db with password.
func loginWorks(s *scenario, role, password, db string) bool {
	u := url.URL{Scheme: "postgres", User: url.UserPassword(role, password), Host: s.srv.Host + ":" + strconv.Itoa(s.srv.Port), Path: "/" + db, RawQuery: "sslmode=disable"}
	conn, err := pgx.Connect(context.Background(), u.String())
	if err != nil {
		return false
	}
	conn.Close(context.Background())
	return true
}

// A login Role gets a generated password in a new Secret it owns, its
// memberships and database privileges; a new Secret value rotates the
// password at once.
func TestRolePasswordMembershipsPrivileges(t *testing.T) {
	s := setup(t)
	// The group is a Role of the namespace: a Role joins only those (and
	// the ProviderConfig's allowedMemberships).
	group := s.unique("readers")
	g := &postgresv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "readers", Namespace: s.ns}}
	g.Spec.ResourceID = group
	env.Create(t, g)
	env.WaitReady(t, g)
	dbName := s.unique("appdb")
	db := &postgresv1.Database{ObjectMeta: metav1.ObjectMeta{Name: "appdb", Namespace: s.ns}}
	db.Spec.ResourceID = dbName
	env.Create(t, db)

	name := s.unique(`us'er "x"`)
	r := &postgresv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "user", Namespace: s.ns}}
	r.Spec.ResourceID = name
	r.Spec.Login = true
	r.Spec.PasswordSecretRef = &postgresv1.PasswordSecretRef{Name: "user-password"}
	r.Spec.MemberOf = []string{group}
	r.Spec.Privileges = []postgresv1.DatabasePrivileges{{DatabaseRef: commonv1.ResourceRef{Name: "appdb"}, Privileges: []postgresv1.DatabasePrivilege{"CONNECT", "CREATE"}}}
	env.Create(t, r)
	env.WaitReady(t, r)
	env.WaitFor(t, r, commonv1.TypeSynced, metav1.ConditionTrue, "")

	var sec corev1.Secret
	if err := env.Client.Get(t.Context(), client.ObjectKey{Namespace: s.ns, Name: "user-password"}, &sec); err != nil {
		t.Fatal(err)
	}
	password := string(sec.Data["password"])
	if len(password) < 32 || len(sec.OwnerReferences) != 1 || sec.OwnerReferences[0].UID != r.UID {
		t.Fatalf("generated Secret: %d-character password, owners %+v", len(password), sec.OwnerReferences)
	}
	if !loginWorks(s, name, password, dbName) {
		t.Fatal("cannot log in with the generated password")
	}
	if r.Status.PasswordHash == "" || r.Status.PasswordHash == password {
		t.Errorf("status.passwordHash = %q", r.Status.PasswordHash)
	}
	if !scalar[bool](t, s, "SELECT pg_has_role($1, $2, 'MEMBER')", name, group) {
		t.Error("not a member of the group role")
	}
	if !scalar[bool](t, s, "SELECT has_database_privilege($1, $2, 'CREATE')", name, dbName) {
		t.Error("no CREATE on the database")
	}
	if scalar[bool](t, s, "SELECT rolsuper OR rolcreaterole OR rolreplication OR rolbypassrls FROM pg_roles WHERE rolname = $1", name) {
		t.Error("role has an unsafe attribute")
	}

	// Rotation: a new value in the Secret becomes the password.
	testenv.Update(t, env, &sec, func(s *corev1.Secret) { s.Data["password"] = []byte(`n3w 'pass\word"`) })
	eventually(t, "the new password works", func() bool { return loginWorks(s, name, `n3w 'pass\word"`, dbName) })
	if loginWorks(s, name, password, dbName) {
		t.Error("the old password still works")
	}

	// Update: drop CREATE and the membership; they are revoked.
	testenv.Update(t, env, r, func(r *postgresv1.Role) {
		r.Spec.MemberOf = nil
		r.Spec.Privileges[0].Privileges = []postgresv1.DatabasePrivilege{"CONNECT"}
		r.Spec.ConnectionLimit = ptr(int32(3))
	})
	eventually(t, "CREATE revoked, membership gone, limit 3", func() bool {
		return !scalar[bool](t, s, "SELECT has_database_privilege($1, $2, 'CREATE')", name, dbName) &&
			!scalar[bool](t, s, "SELECT pg_has_role($1, $2, 'MEMBER')", name, group) &&
			scalar[int32](t, s, "SELECT rolconnlimit FROM pg_roles WHERE rolname = $1", name) == 3
	})

	// Deleting the Role revokes its privileges, then drops it.
	if err := env.Client.Delete(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	env.WaitGone(t, r)
	if roleExists(t, s, name) {
		t.Error("role still exists")
	}
}
