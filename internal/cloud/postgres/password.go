package postgres

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	postgresv1 "github.com/infraplane/infraplane/api/postgres/v1alpha1"
)

// A Role's password Secret is in the Role's namespace: read through the
// cache (and past it), created when missing, patched to add a missing key.
//
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;create;patch

// passwordKey is the Secret key of a Role's password.
func passwordKey(r *postgresv1.Role) string {
	if k := r.Spec.PasswordSecretRef.Key; k != "" {
		return k
	}
	return "password"
}

// passwordHash identifies a password applied to a role, for status, and
// never the password itself. Salted with the Role's UID, so equal
// passwords of two roles do not look alike, and with the Secret's UID,
// which only those who may read the Secret know: a viewer of the Role's
// status (who may not read Secrets) cannot test guesses of a chosen
// password against a fast hash. A new Secret (new UID) is a new password.
func passwordHash(r *postgresv1.Role, sec *corev1.Secret, password string) string {
	sum := sha256.Sum256([]byte(string(r.UID) + "\x00" + string(sec.UID) + "\x00" + password))
	return "sha256:" + hex.EncodeToString(sum[:16])
}

// readSecret reads the Role's password Secret: through the cache, then
// (not found there, or without the password a Role may have just added)
// straight from the API server, so a Secret or key written a moment ago is
// not taken for a missing one.
func (c *roleClient) readSecret(ctx context.Context, r *postgresv1.Role) (*corev1.Secret, error) {
	key := types.NamespacedName{Namespace: r.Namespace, Name: r.Spec.PasswordSecretRef.Name}
	var sec corev1.Secret
	err := c.env.Provider.Reader.Get(ctx, key, &sec)
	stale := err == nil && len(sec.Data[passwordKey(r)]) == 0 && r.Spec.PasswordSecretRef.GenerateMissingKey
	if apierrors.IsNotFound(err) || stale {
		if _, api := c.clients.kubeClients(); api != nil {
			err = api.Get(ctx, key, &sec)
		}
	}
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading Secret %s: %w", key, err)
	}
	if ownedBy(&sec, r) && changedByOthers(&sec) {
		if err := c.release(ctx, r, &sec); err != nil {
			return nil, err
		}
		log.FromContext(ctx).Info("let go of the Role's password Secret: someone else changed it; deleting the Role no longer deletes it", "secret", key.Name)
	}
	if !usableBy(&sec, r) {
		return nil, status.Errorf(codes.PermissionDenied,
			"spec.passwordSecretRef: Secret %q is not this Role's to use: a Role uses only a Secret it created or one labelled %s=true, a label only someone who may write Secrets can set (kubectl label secret %s -n %s %s=true); nothing was read from it or changed",
			sec.Name, postgresv1.PasswordSecretLabel, sec.Name, sec.Namespace, postgresv1.PasswordSecretLabel)
	}
	return &sec, nil
}

// usableBy says whether a Role may use a Secret as its password Secret:
// one it created (owned by this very Role, by UID, or let go of since),
// or one whose writer labelled it for Roles. Anything else would make the controller a deputy
// reading Secrets for someone who may only write Roles.
func usableBy(sec *corev1.Secret, r *postgresv1.Role) bool {
	return labelled(sec) || ownedBy(sec, r) || releasedFrom(sec, r)
}

func labelled(sec *corev1.Secret) bool { return sec.Labels[postgresv1.PasswordSecretLabel] == "true" }

// releasedFrom says whether the Role created the Secret and let go of it
// when someone else changed it (by UID: a later Role of the same name is
// another Role).
func releasedFrom(sec *corev1.Secret, r *postgresv1.Role) bool {
	return r.UID != "" && sec.Annotations[postgresv1.ReleasedFromAnnotation] == string(r.UID)
}

// ownedBy says whether the Role created the Secret (an owner reference
// to this very Role, by UID).
func ownedBy(sec *corev1.Secret, r *postgresv1.Role) bool {
	return slices.ContainsFunc(sec.OwnerReferences, func(o metav1.OwnerReference) bool { return isOwnerRef(o, r) })
}

func isOwnerRef(o metav1.OwnerReference, r *postgresv1.Role) bool {
	return o.UID == r.UID && o.Kind == "Role" && o.APIVersion == postgresv1.GroupVersion.String()
}

// dataDigest is what GeneratedDataAnnotation holds: a digest of a
// Secret's keys and values.
func dataDigest(data map[string][]byte) string {
	h := sha256.New()
	for _, k := range slices.Sorted(maps.Keys(data)) {
		fmt.Fprintf(h, "%d:%s%d:", len(k), k, len(data[k]))
		h.Write(data[k])
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)[:16])
}

// changedByOthers says whether a Secret the Role created holds other data
// than the Role wrote. Secrets created before the digest was kept have
// none and are taken as unchanged.
func changedByOthers(sec *corev1.Secret) bool {
	d, ok := sec.Annotations[postgresv1.GeneratedDataAnnotation]
	return ok && d != dataDigest(sec.Data)
}

// release lets go of a Secret the Role created and someone else changed:
// its owner reference (so the garbage collector does not delete it with
// the Role) and the digest go, a note of which Role let go comes (so it
// may go on using it); its data stays as it is. The patch carries
// the resourceVersion read: a Secret that changed again is read again on
// the next try.
func (c *roleClient) release(ctx context.Context, r *postgresv1.Role, sec *corev1.Secret) error {
	kube, _ := c.clients.kubeClients()
	if kube == nil {
		return status.Errorf(codes.FailedPrecondition, "spec.passwordSecretRef: Secret %q, created by this Role, was changed by someone else, and this process cannot let go of it", sec.Name)
	}
	before := sec.DeepCopy()
	sec.OwnerReferences = slices.DeleteFunc(sec.OwnerReferences, func(o metav1.OwnerReference) bool { return isOwnerRef(o, r) })
	delete(sec.Annotations, postgresv1.GeneratedDataAnnotation)
	sec.Annotations[postgresv1.ReleasedFromAnnotation] = string(r.UID)
	if err := kube.Patch(ctx, sec, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
		if apierrors.IsConflict(err) {
			return status.Errorf(codes.Unavailable, "spec.passwordSecretRef: Secret %q changed while the Role let go of it; reading it on the next try", sec.Name)
		}
		return fmt.Errorf("letting go of Secret %q: %w", sec.Name, err)
	}
	return nil
}

// passwordState is what the spec asks the password to be, comparable with
// status.passwordHash: the hash of the Secret's value, or why there is none.
func (c *roleClient) passwordState(ctx context.Context, r *postgresv1.Role) (string, error) {
	sec, err := c.readSecret(ctx, r)
	if err != nil {
		return "", err
	}
	if sec == nil {
		return fmt.Sprintf("a new password in Secret %q (missing)", r.Spec.PasswordSecretRef.Name), nil
	}
	v := sec.Data[passwordKey(r)]
	if len(v) == 0 {
		if r.Spec.PasswordSecretRef.GenerateMissingKey {
			return fmt.Sprintf("a new password under key %q of Secret %q (missing)", passwordKey(r), sec.Name), nil
		}
		return fmt.Sprintf("Secret %q has no key %q", sec.Name, passwordKey(r)), nil
	}
	return passwordHash(r, sec, string(v)), nil
}

// ensurePassword returns the password from the Role's Secret and its hash
// for status, creating the Secret (owned by the Role) with a generated
// password when it is missing.
func (c *roleClient) ensurePassword(ctx context.Context, r *postgresv1.Role) (string, string, error) {
	password, sec, err := c.ensureSecret(ctx, r)
	if err != nil {
		return "", "", err
	}
	return password, passwordHash(r, sec, password), nil
}

func (c *roleClient) ensureSecret(ctx context.Context, r *postgresv1.Role) (string, *corev1.Secret, error) {
	ref := r.Spec.PasswordSecretRef
	sec, err := c.readSecret(ctx, r)
	if err != nil {
		return "", nil, err
	}
	if sec != nil {
		v := sec.Data[passwordKey(r)]
		if len(v) == 0 && ref.GenerateMissingKey && !ownedBy(sec, r) && !labelled(sec) {
			return "", nil, status.Errorf(codes.FailedPrecondition, "spec.passwordSecretRef: Secret %q, which this Role created, was changed by someone else and has no key %q now: a Role writes nothing into a Secret that is no longer its alone; put the password there, or label it %s=true to have one generated", ref.Name, passwordKey(r), postgresv1.PasswordSecretLabel)
		}
		if len(v) == 0 && ref.GenerateMissingKey {
			password, err := c.addPassword(ctx, r, sec)
			return password, sec, err
		}
		if len(v) == 0 {
			return "", nil, status.Errorf(codes.FailedPrecondition, "spec.passwordSecretRef: Secret %q has no key %q (or it is empty): put the password there, or set spec.passwordSecretRef.generateMissingKey to have one generated", ref.Name, passwordKey(r))
		}
		if err := checkText("spec.passwordSecretRef", string(v)); err != nil {
			return "", nil, err
		}
		return string(v), sec, nil
	}
	kube, _ := c.clients.kubeClients()
	if kube == nil {
		return "", nil, status.Errorf(codes.FailedPrecondition, "spec.passwordSecretRef: Secret %q does not exist, and this process cannot create it", ref.Name)
	}
	password, err := generatePassword()
	if err != nil {
		return "", nil, err
	}
	data := map[string][]byte{passwordKey(r): []byte(password)}
	sec = &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name: ref.Name, Namespace: r.Namespace,
			Annotations: map[string]string{postgresv1.GeneratedDataAnnotation: dataDigest(data)},
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: postgresv1.GroupVersion.String(), Kind: "Role", Name: r.Name, UID: r.UID,
				BlockOwnerDeletion: ptr.To(false),
			}},
		},
		Type: corev1.SecretTypeOpaque,
		Data: data,
	}
	if err := kube.Create(ctx, sec); err != nil {
		if apierrors.IsAlreadyExists(err) {
			return "", nil, status.Errorf(codes.Unavailable, "spec.passwordSecretRef: Secret %q was just created by someone else; reading it on the next try", ref.Name)
		}
		return "", nil, fmt.Errorf("creating Secret %q: %w", ref.Name, err)
	}
	return password, sec, nil
}

// addPassword writes a generated password under the Role's key of a
// Secret that exists without one (spec.passwordSecretRef.generateMissingKey).
// The patch carries the Secret's resourceVersion: if the Secret changed
// since it was read (perhaps a password was just added), nothing is
// written and the next try reads it again.
func (c *roleClient) addPassword(ctx context.Context, r *postgresv1.Role, sec *corev1.Secret) (string, error) {
	kube, _ := c.clients.kubeClients()
	if kube == nil {
		return "", status.Errorf(codes.FailedPrecondition, "spec.passwordSecretRef: Secret %q has no key %q, and this process cannot write it", sec.Name, passwordKey(r))
	}
	password, err := generatePassword()
	if err != nil {
		return "", err
	}
	before := sec.DeepCopy()
	if sec.Data == nil {
		sec.Data = map[string][]byte{}
	}
	sec.Data[passwordKey(r)] = []byte(password)
	if ownedBy(sec, r) {
		// The Role's own Secret: the digest follows what it wrote.
		if sec.Annotations == nil {
			sec.Annotations = map[string]string{}
		}
		sec.Annotations[postgresv1.GeneratedDataAnnotation] = dataDigest(sec.Data)
	}
	if err := kube.Patch(ctx, sec, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
		if apierrors.IsConflict(err) {
			return "", status.Errorf(codes.Unavailable, "spec.passwordSecretRef: Secret %q changed while a password was being added; reading it on the next try", sec.Name)
		}
		return "", fmt.Errorf("adding key %q to Secret %q: %w", passwordKey(r), sec.Name, err)
	}
	return password, nil
}

// generatePassword returns 32 random bytes, base64url: 43 characters that
// need no quoting anywhere a password goes (URLs, .pgpass, shells).
func generatePassword() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
