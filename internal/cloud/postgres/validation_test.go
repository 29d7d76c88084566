package postgres_test

import (
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
	postgresv1 "github.com/infraplane/infraplane/api/postgres/v1alpha1"
)

// Bad input is refused by the API server, naming the field.
func TestBadInputRefused(t *testing.T) {
	s := setup(t)
	cases := []struct {
		name string
		obj  func() *postgresv1.Role
		want string
	}{
		{"reserved prefix", func() *postgresv1.Role {
			r := &postgresv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "r1", Namespace: s.ns}}
			r.Spec.ResourceID = "pg_mine"
			return r
		}, "spec.resourceID"},
		{"dangerous membership", func() *postgresv1.Role {
			r := &postgresv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "r2", Namespace: s.ns}}
			r.Spec.MemberOf = []string{"pg_execute_server_program"}
			return r
		}, "spec.memberOf"},
		{"unknown privilege", func() *postgresv1.Role {
			r := &postgresv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "r3", Namespace: s.ns}}
			r.Spec.Privileges = []postgresv1.DatabasePrivileges{{DatabaseRef: commonv1.ResourceRef{External: "x"}, Privileges: []postgresv1.DatabasePrivilege{"ALL"}}}
			return r
		}, "spec.privileges[0].privileges[0]"},
		{"too long", func() *postgresv1.Role {
			r := &postgresv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "r4", Namespace: s.ns}}
			r.Spec.ResourceID = strings.Repeat("x", 64)
			return r
		}, "spec.resourceID"},
	}
	for _, c := range cases {
		err := env.Client.Create(t.Context(), c.obj())
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one naming %s", c.name, err, c.want)
		}
	}
	db := &postgresv1.Database{ObjectMeta: metav1.ObjectMeta{Name: "d1", Namespace: s.ns}}
	db.Spec.Encoding = "UTF8; DROP"
	if err := env.Client.Create(t.Context(), db); err == nil || !strings.Contains(err.Error(), "spec.encoding") {
		t.Errorf("bad encoding: %v", err)
	}
	// Immutable fields cannot change.
	ok := &postgresv1.Database{ObjectMeta: metav1.ObjectMeta{Name: "d2", Namespace: s.ns}}
	ok.Spec.ManagementPolicy = commonv1.ManagementObserveOnly
	env.Create(t, ok)
	var err error
	for range 10 { // the controller's status writes can make an update conflict
		if err = env.Client.Get(t.Context(), client.ObjectKeyFromObject(ok), ok); err != nil {
			t.Fatal(err)
		}
		ok.Spec.Encoding = "LATIN1"
		if err = env.Client.Update(t.Context(), ok); !apierrors.IsConflict(err) {
			break
		}
	}
	if err == nil || !strings.Contains(err.Error(), "encoding cannot change") {
		t.Errorf("encoding change: %v", err)
	}
}

// A server error ends up in the Synced condition with the server's message:
// the owner role does not exist.
func TestServerErrorInSynced(t *testing.T) {
	s := setup(t)
	name := s.unique("orphan")
	db := &postgresv1.Database{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: s.ns}}
	db.Spec.OwnerRef = &commonv1.ResourceRef{External: "no-such-role"}
	env.Create(t, db)
	c := env.WaitFor(t, db, commonv1.TypeSynced, metav1.ConditionFalse, commonv1.ReasonCloudError)
	if !strings.Contains(c.Message, `role "no-such-role" does not exist`) || !strings.Contains(c.Message, "NotFound") {
		t.Errorf("Synced message = %q", c.Message)
	}
	if dbExists(t, s, name) {
		t.Error("database created anyway")
	}
}
