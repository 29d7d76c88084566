package controlplane

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"net"
	"os"
	"path/filepath"
	"slices"
)

// Webhook certificate files, in the directory given to
// EnsureWebhookCerts (controller-runtime's webhook server reads
// tls.crt/tls.key from it).
const (
	WebhookCertFile = "tls.crt"
	WebhookKeyFile  = "tls.key"
	webhookCACert   = "ca.crt"
	webhookCAKey    = "ca.key"
)

// EnsureWebhookCerts makes (or reuses) a CA of its own for infraplane's
// admission webhook and a serving certificate for the loopback addresses,
// in dir. It returns the CA certificate (PEM) the API server must trust:
// the webhook's CA is separate from the API server's, so a leaked webhook
// key cannot impersonate the API server.
func EnsureWebhookCerts(dir string) ([]byte, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	ips := []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	ca, err := loadOrCreateCA(filepath.Join(dir, webhookCACert), filepath.Join(dir, webhookCAKey), "infraplane-webhook-ca")
	if err != nil {
		return nil, err
	}
	tmpl := func() *x509.Certificate {
		return &x509.Certificate{
			Subject:     pkix.Name{CommonName: "infraplane-webhook"},
			KeyUsage:    x509.KeyUsageDigitalSignature,
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			IPAddresses: ips,
			DNSNames:    []string{"localhost"},
		}
	}
	ok := func(c *x509.Certificate) bool {
		return slices.ContainsFunc(c.IPAddresses, ips[0].Equal)
	}
	if _, err := loadOrIssue(filepath.Join(dir, WebhookCertFile), filepath.Join(dir, WebhookKeyFile), ca, tmpl, ok); err != nil {
		return nil, err
	}
	return append([]byte(nil), ca.certPEM...), nil
}
