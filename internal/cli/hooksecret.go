package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/infraplane/infraplane/internal/gitops"
)

// upHookSecret is the Secret `infraplane up --repo` creates for the push
// hook of the GitSource "default" (its spec.webhookSecretRef).
const upHookSecret = "default-hook"

// ensureHookSecret creates the Secret name in ns with a random token, or
// gives an existing one a token if it has none; an existing token is kept
// (git hosts and scripts are configured with it).
func ensureHookSecret(ctx context.Context, c client.Client, ns, name string) error {
	sec := &corev1.Secret{}
	err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, sec)
	if err == nil && len(sec.Data[gitops.HookTokenKey]) > 0 {
		return nil
	}
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("reading Secret %s/%s: %w", ns, name, err)
	}
	raw := make([]byte, 32)
	if _, rerr := rand.Read(raw); rerr != nil {
		return rerr
	}
	token := []byte(hex.EncodeToString(raw))
	if apierrors.IsNotFound(err) {
		sec = &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns,
				Labels: map[string]string{"app.kubernetes.io/managed-by": "infraplane-up"}},
			Type: corev1.SecretTypeOpaque,
			Data: map[string][]byte{gitops.HookTokenKey: token},
		}
		if err := c.Create(ctx, sec); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating Secret %s/%s: %w", ns, name, err)
		}
		return nil
	}
	patch := client.MergeFrom(sec.DeepCopy())
	if sec.Data == nil {
		sec.Data = map[string][]byte{}
	}
	sec.Data[gitops.HookTokenKey] = token
	if err := c.Patch(ctx, sec, patch); err != nil {
		return fmt.Errorf("adding a token to Secret %s/%s: %w", ns, name, err)
	}
	return nil
}
