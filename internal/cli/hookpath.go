package cli

import (
	"bytes"
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/infraplane/infraplane/internal/gitops"
)

// hookPathOf is the push-hook path of GitSource ns/name, computed from the
// token of its webhook Secret as the controller computes its
// status.webhookPath: the CLI can print it before the first sync. ok is
// false when the token cannot be read or is too short for a path.
func hookPathOf(ctx context.Context, c client.Reader, ns, name, secret string) (path string, ok bool) {
	var sec corev1.Secret
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: secret}, &sec); err != nil {
		return "", false
	}
	token := bytes.TrimSpace(sec.Data[gitops.HookTokenKey])
	if len(token) < gitops.MinHookTokenLen {
		return "", false
	}
	return gitops.HookPath(ns, name, token), true
}

// hookPathShell is a shell expression for GitSource ns/name's path, for
// when the CLI cannot compute it.
func hookPathShell(ns, name string) string {
	return fmt.Sprintf("$(kubectl get gitsource -n %s %s -o jsonpath='{.status.webhookPath}')", ns, name)
}
