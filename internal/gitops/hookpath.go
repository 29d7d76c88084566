package gitops

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
)

// A GitSource's own push-hook path: HookPathPrefix and an id that is a
// keyed hash of the GitSource's namespace and name, keyed with its webhook
// token. Knowing the names does not give the path; rotating the token
// changes it. The path lets the hook find the one GitSource (and so the one
// Secret) a request is for, before it reads the body.
const (
	// SharedHookPath checks a request against every webhook Secret.
	SharedHookPath = "/hooks/git"
	// HookPathPrefix starts every GitSource's own path.
	HookPathPrefix = SharedHookPath + "/"
	// hookIDLen is the length of a path's id (hex SHA-256).
	hookIDLen = 2 * sha256.Size
	// MinHookTokenLen is the shortest token given a path of its own. Any
	// viewer of the namespace reads the path, and can test guesses of the
	// token against it offline: a short token would fall to that.
	MinHookTokenLen = 16
)

// HookPath is the push-hook path of the GitSource namespace/name whose
// webhook token is token (surrounding whitespace already trimmed).
func HookPath(namespace, name string, token []byte) string {
	mac := hmac.New(sha256.New, token)
	// The prefix keeps these hashes apart from any other use of the token
	// (GitHub signs bodies with it); NUL separates names that cannot hold it.
	fmt.Fprintf(mac, "infraplane.dev/push-hook\x00%s\x00%s", namespace, name)
	return HookPathPrefix + hex.EncodeToString(mac.Sum(nil))
}

// hookPathField indexes GitSources by status.webhookPath in the cache the
// hook reads, so finding a path's GitSource is a map lookup.
const hookPathField = "status.webhookPath"

// IndexHookPaths registers the index the push hook finds a path's
// GitSource by (before the cache starts).
func IndexHookPaths(ctx context.Context, idx client.FieldIndexer) error {
	return idx.IndexField(ctx, &corev1alpha1.GitSource{}, hookPathField, func(o client.Object) []string {
		if p := o.(*corev1alpha1.GitSource).Status.WebhookPath; p != "" {
			return []string{p}
		}
		return nil
	})
}

// The PushHook condition: set only with spec.webhookSecretRef; it never
// affects Ready (a GitSource syncs on its interval without a hook).
const (
	TypePushHook = "PushHook"

	ReasonHookPathReady  = "PathReady"
	ReasonSecretNotFound = "SecretNotFound"
	ReasonTokenMissing   = "TokenMissing"
	ReasonTokenTooShort  = "TokenTooShort"
)

// setHookStatus sets status.webhookPath and the PushHook condition from
// the GitSource's webhook Secret. It leaves both as they are when the
// Secret cannot be read for another reason than its absence (the next
// reconcile tries again).
func (s *Syncer) setHookStatus(ctx context.Context, gs *corev1alpha1.GitSource) error {
	ref := gs.Spec.WebhookSecretRef
	if ref == nil || ref.Name == "" {
		gs.Status.WebhookPath = ""
		meta.RemoveStatusCondition(&gs.Status.Conditions, TypePushHook)
		return nil
	}
	cond := metav1.Condition{Type: TypePushHook, Status: metav1.ConditionFalse, ObservedGeneration: gs.Generation}
	var sec corev1.Secret
	err := s.client.Get(ctx, client.ObjectKey{Namespace: gs.Namespace, Name: ref.Name}, &sec)
	token := hookTokenOf(&sec)
	switch {
	case apierrors.IsNotFound(err):
		cond.Reason = ReasonSecretNotFound
		cond.Message = fmt.Sprintf("no push hook: Secret %q (spec.webhookSecretRef) does not exist in namespace %s; create it with a random key %q, e.g. --from-literal=%s=$(openssl rand -hex 32)", ref.Name, gs.Namespace, HookTokenKey, HookTokenKey)
	case err != nil:
		return fmt.Errorf("reading webhook Secret %q: %w", ref.Name, err)
	case len(token) == 0:
		cond.Reason = ReasonTokenMissing
		cond.Message = fmt.Sprintf("no push hook: Secret %q has no key %q, or it is empty; set it to a random token, e.g. $(openssl rand -hex 32)", ref.Name, HookTokenKey)
	case len(token) < MinHookTokenLen:
		cond.Reason = ReasonTokenTooShort
		cond.Message = fmt.Sprintf("no push-hook path: the token in Secret %q has %d characters, fewer than %d (a viewer could guess it from the path); set a random one, e.g. $(openssl rand -hex 32). The shared POST %s still accepts it", ref.Name, len(token), MinHookTokenLen, SharedHookPath)
	default:
		gs.Status.WebhookPath = HookPath(gs.Namespace, gs.Name, token)
		cond.Status = metav1.ConditionTrue
		cond.Reason = ReasonHookPathReady
		cond.Message = fmt.Sprintf("push notifications: POST %s (status.webhookPath) with the token of Secret %q", gs.Status.WebhookPath, ref.Name)
		meta.SetStatusCondition(&gs.Status.Conditions, cond)
		return nil
	}
	gs.Status.WebhookPath = ""
	meta.SetStatusCondition(&gs.Status.Conditions, cond)
	return nil
}

// hookSecretField indexes GitSources by the Secret of their
// spec.webhookSecretRef, so a token's change finds its GitSources.
const hookSecretField = "spec.webhookSecretRef.name"

func indexHookSecrets(ctx context.Context, idx client.FieldIndexer) error {
	return idx.IndexField(ctx, &corev1alpha1.GitSource{}, hookSecretField, func(o client.Object) []string {
		if ref := o.(*corev1alpha1.GitSource).Spec.WebhookSecretRef; ref != nil && ref.Name != "" {
			return []string{ref.Name}
		}
		return nil
	})
}

// hookSecretSources maps a webhook Secret to the GitSources naming it:
// a new, changed or deleted token changes their path at once (that
// reconcile also syncs; tokens change rarely).
func (s *Syncer) hookSecretSources(ctx context.Context, o client.Object) []reconcile.Request {
	var list corev1alpha1.GitSourceList
	if err := s.client.List(ctx, &list, client.InNamespace(o.GetNamespace()), client.MatchingFields{hookSecretField: o.GetName()}); err != nil {
		log.FromContext(ctx).Error(err, "listing the GitSources of a webhook Secret", "secret", client.ObjectKeyFromObject(o))
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(list.Items))
	for i := range list.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
	}
	return reqs
}

// tokenChanged passes a Secret's creation and deletion, and updates that
// change its token: not every write to every Secret of the cluster.
type tokenChanged struct{ predicate.Funcs }

func (tokenChanged) Update(e event.UpdateEvent) bool {
	o, ok1 := e.ObjectOld.(*corev1.Secret)
	n, ok2 := e.ObjectNew.(*corev1.Secret)
	return !ok1 || !ok2 || !bytes.Equal(hookTokenOf(o), hookTokenOf(n))
}
