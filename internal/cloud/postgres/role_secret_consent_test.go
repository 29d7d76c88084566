package postgres_test

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
	postgresv1 "github.com/infraplane/infraplane/api/postgres/v1alpha1"
	"github.com/infraplane/infraplane/internal/testenv"
)

// Whoever may write Roles (an editor, a repository) may not read Secrets:
// a Role that names a Secret it did not create and nobody labelled for
// Roles is refused, before the controller uses or changes anything. The
// attack: point a Role at the GitSource's git token, so it becomes a
// database password (whose hash status shows) — or, with
// generateMissingKey, make the controller write into that Secret.
func TestRoleRefusesASecretNotMeantForIt(t *testing.T) {
	s := setup(t)
	token := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "git-token", Namespace: s.ns},
		Data:       map[string][]byte{"password": []byte("ghp_" + randomWord(t)), "username": []byte("git")},
	}
	env.Create(t, token)
	other := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "cloud-key", Namespace: s.ns},
		Data:       map[string][]byte{"key.json": []byte(`{"private_key": "x"}`)},
	}
	env.Create(t, other)
	unchanged := func(sec *corev1.Secret) {
		t.Helper()
		var now corev1.Secret
		if err := env.Client.Get(t.Context(), client.ObjectKeyFromObject(sec), &now); err != nil {
			t.Fatal(err)
		}
		if now.ResourceVersion != sec.ResourceVersion || len(now.Data) != len(sec.Data) || len(now.OwnerReferences) != 0 {
			t.Errorf("Secret %s changed: resourceVersion %s → %s, keys %d → %d, owners %+v",
				sec.Name, sec.ResourceVersion, now.ResourceVersion, len(sec.Data), len(now.Data), now.OwnerReferences)
		}
	}
	refusal := func(secret string) []string {
		return []string{
			`Secret "` + secret + `" is not this Role's to use`,
			"kubectl label secret " + secret + " -n " + s.ns + " postgres.infraplane.dev/role-password=true",
			"nothing was read from it or changed",
		}
	}

	t.Run("a new Role is not created", func(t *testing.T) {
		name := s.unique("deputy")
		r := &postgresv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "deputy", Namespace: s.ns}}
		r.Spec.ResourceID = name
		r.Spec.Login = true
		r.Spec.PasswordSecretRef = &postgresv1.PasswordSecretRef{Name: "git-token"}
		env.Create(t, r)
		waitRefused(t, r, []string{commonv1.ReasonCloudError}, refusal("git-token")...)
		if roleExists(t, s, name) {
			t.Error("the role was created with the git token as its password")
		}
		if r.Status.PasswordHash != "" {
			t.Errorf("status.passwordHash = %q: a hash of the token was published", r.Status.PasswordHash)
		}
		unchanged(token)
	})

	t.Run("generateMissingKey writes nothing", func(t *testing.T) {
		r := &postgresv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "filler", Namespace: s.ns}}
		r.Spec.ResourceID = s.unique("filler")
		r.Spec.Login = true
		r.Spec.PasswordSecretRef = &postgresv1.PasswordSecretRef{Name: "cloud-key", GenerateMissingKey: true}
		env.Create(t, r)
		waitRefused(t, r, []string{commonv1.ReasonCloudError}, refusal("cloud-key")...)
		if roleExists(t, s, r.Spec.ResourceID) {
			t.Error("the role was created")
		}
		unchanged(other)
	})

	// A Role that has a password keeps it when its reference moves to a
	// Secret it may not use; labelling that Secret (by someone who may
	// write Secrets) is the way forward.
	t.Run("an existing role keeps its password until the Secret is labelled", func(t *testing.T) {
		name := s.unique("moved")
		r := &postgresv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "moved", Namespace: s.ns}}
		r.Spec.ResourceID = name
		r.Spec.Login = true
		r.Spec.PasswordSecretRef = &postgresv1.PasswordSecretRef{Name: "moved-password"}
		env.Create(t, r)
		env.WaitReady(t, r)
		var own corev1.Secret
		if err := env.Client.Get(t.Context(), client.ObjectKey{Namespace: s.ns, Name: "moved-password"}, &own); err != nil {
			t.Fatal(err)
		}
		first, hash := string(own.Data["password"]), r.Status.PasswordHash
		if _, labelled := own.Labels[postgresv1.PasswordSecretLabel]; labelled {
			t.Error("the Role's own Secret is labelled for every Role of the namespace")
		}

		testenv.Update(t, env, r, func(r *postgresv1.Role) { r.Spec.PasswordSecretRef.Name = "git-token" })
		c := env.WaitForMessage(t, r, commonv1.TypeSynced, refusal("git-token")[0])
		if c.Status != metav1.ConditionFalse || !strings.Contains(c.Message, refusal("git-token")[1]) {
			t.Errorf("Synced = %s: %s", c.Status, c.Message)
		}
		if !loginWorks(s, name, first, "postgres") {
			t.Error("the role lost its password")
		}
		if r.Status.PasswordHash != hash {
			t.Errorf("status.passwordHash changed: %q → %q", hash, r.Status.PasswordHash)
		}
		unchanged(token)

		testenv.Update(t, env, token, func(sec *corev1.Secret) {
			sec.Labels = map[string]string{postgresv1.PasswordSecretLabel: "true"}
		})
		env.WaitFor(t, r, commonv1.TypeSynced, metav1.ConditionTrue, "")
		eventually(t, "the labelled Secret's value is the password", func() bool {
			return loginWorks(s, name, string(token.Data["password"]), "postgres")
		})
		if strings.Contains(r.Status.PasswordHash, string(token.Data["password"])) {
			t.Error("status shows the password")
		}
		// A viewer of the Role sees its UID and the hash, not the Secret:
		// a guess of the password, hashed with what the viewer can see,
		// does not match, so guesses cannot be tested offline.
		env.WaitFor(t, r, commonv1.TypeReady, metav1.ConditionTrue, "")
		guess := string(token.Data["password"])
		for _, salt := range []string{"", string(r.UID) + "\x00", string(r.UID)} {
			sum := sha256.Sum256([]byte(salt + guess))
			if h := "sha256:" + hex.EncodeToString(sum[:16]); h == r.Status.PasswordHash {
				t.Errorf("status.passwordHash %s is the SHA-256 of the password salted with %q only: a viewer can test guesses", h, salt)
			}
		}
	})
}
