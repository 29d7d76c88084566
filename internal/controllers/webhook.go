package controllers

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
	"github.com/infraplane/infraplane/internal/breakglass"
	"github.com/infraplane/infraplane/internal/controlplane"
	"github.com/infraplane/infraplane/internal/crds"
)

// LoopbackWebhook sets b up to serve the admission webhook on 127.0.0.1:port
// (0 picks a free one; b.WebhookPort says which) with a CA of its own (made
// once, kept in dataDir/pki/webhook) and to register it with the API
// server: what `infraplane up` and the tests do. The server accepts only
// callers with the embedded API server's webhook client certificate, so the
// control plane must have started on dataDir first.
func LoopbackWebhook(dataDir string, port int, b *breakglass.Options) error {
	if port == 0 {
		p, err := controlplane.FreePort()
		if err != nil {
			return err
		}
		port = p
	}
	dir := filepath.Join(dataDir, "pki", "webhook")
	ca, err := controlplane.EnsureWebhookCerts(dir)
	if err != nil {
		return fmt.Errorf("webhook certificates: %w", err)
	}
	client := controlplane.WebhookClientFiles(dataDir)
	// The API server's own certificate doubles as the registration's probe
	// of the server: both live in this process.
	probe, err := tls.LoadX509KeyPair(client.CertFile, client.KeyFile)
	if err != nil {
		return fmt.Errorf("the API server's webhook client certificate (has the control plane started on %s?): %w", dataDir, err)
	}
	b.WebhookHost, b.WebhookPort, b.CertDir = "127.0.0.1", port, dir
	b.ClientCAFile, b.ProbeCert = client.CAFile, &probe
	b.Register = &breakglass.Endpoint{URL: fmt.Sprintf("https://127.0.0.1:%d", port), CABundle: ca}
	return nil
}

// WaitWebhook waits until the API server enforces the break-glass webhook:
// a dry-run break-glass naming a missing object is refused by it.
func WaitWebhook(ctx context.Context, c client.Client, namespace string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var last error
	start := time.Now()
	for attempt := 1; ; attempt++ {
		probe := &corev1alpha1.BreakGlass{
			ObjectMeta: metav1.ObjectMeta{Name: "infraplane-webhook-probe", Namespace: namespace},
			Spec: corev1alpha1.BreakGlassSpec{
				Targets:  []corev1alpha1.BreakGlassTarget{{Kind: "Topic", Name: "infraplane-webhook-probe-does-not-exist"}},
				Reason:   "probe: is the admission webhook serving?",
				Duration: metav1.Duration{Duration: time.Minute},
			},
		}
		// A dry-run apply, not a dry-run create: on a first start the
		// API server holds creates of a just-established kind for 2 s
		// (crds.DryRunCreate says why); admission sees both as a CREATE.
		_, err := crds.DryRunCreate(ctx, c, probe)
		if err != nil && strings.Contains(err.Error(), "no such Topic") {
			slog.Debug("admission webhook enforced", "took", time.Since(start), "attempts", attempt)
			return nil
		}
		if attempt%10 == 1 {
			slog.Debug("admission webhook not enforced yet", "answer", err)
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("the admission webhook is not enforced after a minute (last answer: %v)", last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
