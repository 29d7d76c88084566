package postgres_test

import (
	"maps"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
	postgresv1 "github.com/infraplane/infraplane/api/postgres/v1alpha1"
	"github.com/infraplane/infraplane/internal/testenv"
)

// A Role creates its missing password Secret under any name it is given,
// and owns it. The attack: take, with a Role, the name of a Secret the
// platform team will later apply into the namespace (a git credential).
// The platform's apply lands in the Role's Secret; deleting the Role would
// then have the garbage collector delete the platform's Secret. A Role
// lets go of a Secret it created once someone else changed it (as it does
// when a person rotates the password there): its owner reference goes,
// and the Secret outlives the Role with the platform's data intact. The
// Role goes on using it — its writers cannot read it, and the hash in
// status is salted with what only Secret readers know — but a new Role of
// the same name may not.
func TestRoleLetsGoOfASecretSomeoneElseChanged(t *testing.T) {
	s := setup(t)
	name := s.unique("squatter")
	r := &postgresv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "squatter", Namespace: s.ns}}
	r.Spec.ResourceID = name
	r.Spec.Login = true
	r.Spec.PasswordSecretRef = &postgresv1.PasswordSecretRef{Name: "team-git", GenerateMissingKey: true}
	env.Create(t, r)
	env.WaitReady(t, r)
	key := client.ObjectKey{Namespace: s.ns, Name: "team-git"}
	var sec corev1.Secret
	if err := env.Client.Get(t.Context(), key, &sec); err != nil {
		t.Fatal(err)
	}
	if len(sec.OwnerReferences) != 1 || sec.Annotations[postgresv1.GeneratedDataAnnotation] == "" {
		t.Fatalf("the Role's new Secret: owners %+v, annotations %v", sec.OwnerReferences, sec.Annotations)
	}

	// The platform team applies its Secret of that name (as kubectl apply
	// would: its keys merged into the existing Secret).
	token := "ghp_" + randomWord(t)
	testenv.Update(t, env, &sec, func(sec *corev1.Secret) {
		sec.Data["password"] = []byte(token)
		sec.Data["username"] = []byte("git")
	})
	platform := maps.Clone(sec.Data)
	testenv.Update(t, env, r, func(r *postgresv1.Role) {
		r.Annotations = map[string]string{commonv1.RequestedAtAnnotation: time.Now().UTC().Format(time.RFC3339Nano)}
	})
	eventually(t, "the Role let go of the Secret", func() bool {
		if err := env.Client.Get(t.Context(), key, &sec); err != nil {
			t.Fatal(err)
		}
		return len(sec.OwnerReferences) == 0
	})
	if _, ok := sec.Annotations[postgresv1.GeneratedDataAnnotation]; ok || sec.Annotations[postgresv1.ReleasedFromAnnotation] != string(r.UID) {
		t.Errorf("the Secret's annotations: %v, want the Role's digest gone and a note of the Role's UID", sec.Annotations)
	}
	if !maps.EqualFunc(sec.Data, platform, func(a, b []byte) bool { return string(a) == string(b) }) {
		t.Errorf("the platform's data changed: %v", sec.Data)
	}
	env.WaitFor(t, r, commonv1.TypeSynced, metav1.ConditionTrue, "")

	// Deleting the Role leaves the Secret: once the garbage collector has
	// deleted another Secret the Role owns, it has passed this one by.
	owned := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "owned-by-squatter", Namespace: s.ns,
		OwnerReferences: []metav1.OwnerReference{{APIVersion: postgresv1.GroupVersion.String(), Kind: "Role", Name: r.Name, UID: r.UID}}}}
	env.Create(t, owned)
	if err := env.Client.Delete(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	env.WaitGone(t, r)
	env.WaitGone(t, owned)
	if err := env.Client.Get(t.Context(), key, &sec); err != nil {
		t.Fatalf("the platform's Secret is gone with the Role: %v", err)
	}

	// A new Role of the same name is another Role: the Secret is not its.
	again := &postgresv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "squatter", Namespace: s.ns}}
	again.Spec.ResourceID = s.unique("again")
	again.Spec.Login = true
	again.Spec.PasswordSecretRef = &postgresv1.PasswordSecretRef{Name: "team-git"}
	env.Create(t, again)
	waitRefused(t, again, []string{commonv1.ReasonCloudError}, `Secret "team-git" is not this Role's to use`, "nothing was read from it or changed")
	if roleExists(t, s, again.Spec.ResourceID) {
		t.Error("a new Role of the same name was created with the platform's Secret as its password")
	}
}
