package postgres_test

import (
	"maps"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
	postgresv1 "github.com/infraplane/infraplane/api/postgres/v1alpha1"
	"github.com/infraplane/infraplane/internal/testenv"
)

// A Secret someone else wrote, holding the connection's other settings,
// gets a generated password under the Role's key only when the Role asks
// for it (generateMissingKey); without it, the missing key is an error
// saying so. The Secret stays its writer's.
func TestRoleGeneratesMissingKeyInExistingSecret(t *testing.T) {
	s := setup(t)
	name := s.unique("svc")
	sec := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "svc-postgres", Namespace: s.ns, Labels: map[string]string{postgresv1.PasswordSecretLabel: "true"}},
		StringData: map[string]string{"PGHOST": s.srv.Host, "PGUSER": name, "PGDATABASE": "postgres"},
	}
	env.Create(t, sec)

	r := &postgresv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "svc", Namespace: s.ns}}
	r.Spec.ResourceID = name
	r.Spec.Login = true
	r.Spec.PasswordSecretRef = &postgresv1.PasswordSecretRef{Name: "svc-postgres", Key: "PGPASSWORD"}
	env.Create(t, r)
	c := env.WaitFor(t, r, commonv1.TypeSynced, metav1.ConditionFalse, "")
	for _, want := range []string{`Secret "svc-postgres" has no key "PGPASSWORD"`, "spec.passwordSecretRef.generateMissingKey"} {
		if !strings.Contains(c.Message, want) {
			t.Errorf("Synced message %q does not mention %q", c.Message, want)
		}
	}
	if roleExists(t, s, name) {
		t.Fatal("the role was created without a password")
	}

	// Asked for, the password is generated into the existing Secret.
	testenv.Update(t, env, r, func(r *postgresv1.Role) { r.Spec.PasswordSecretRef.GenerateMissingKey = true })
	env.WaitReady(t, r)
	if err := env.Client.Get(t.Context(), client.ObjectKeyFromObject(sec), sec); err != nil {
		t.Fatal(err)
	}
	password := string(sec.Data["PGPASSWORD"])
	if len(password) != 43 {
		t.Fatalf("PGPASSWORD has %d characters, want a generated 43", len(password))
	}
	if string(sec.Data["PGHOST"]) != s.srv.Host || string(sec.Data["PGUSER"]) != name || len(sec.Data) != 4 {
		t.Errorf("the Secret's other keys changed: %v", slices.Sorted(maps.Keys(sec.Data)))
	}
	if len(sec.OwnerReferences) != 0 {
		t.Errorf("the Role took the Secret over: owners %+v", sec.OwnerReferences)
	}
	if !loginWorks(s, name, password, "postgres") {
		t.Fatal("cannot log in with the generated password")
	}

	// Deleting the Role leaves the Secret to its writer.
	if err := env.Client.Delete(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	env.WaitGone(t, r)
	if err := env.Client.Get(t.Context(), client.ObjectKeyFromObject(sec), sec); err != nil {
		t.Errorf("the Secret went with the Role: %v", err)
	}
}
