package breakglass_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/infraplane/infraplane/internal/breakglass"
	"github.com/infraplane/infraplane/internal/controlplane"
	"github.com/infraplane/infraplane/internal/testenv"
)

// Anyone who can reach the webhook's port could POST an AdmissionReview
// claiming any user. The server accepts only the API server's client
// certificate, so a forged review never reaches a handler; the real path
// through the API server is what every other test here exercises.
func TestWebhookAcceptsOnlyTheAPIServer(t *testing.T) {
	url := "https://" + env.WebhookAddr() + breakglass.GuardPath

	// A user's certificate from the API server's own client CA is a real
	// credential for the API server, not for the webhook.
	userCfg, err := env.ControlPlane().IdentityRESTConfig(oncallUser, []string{"oncall"})
	if err != nil {
		t.Fatal(err)
	}
	userCert, err := tls.X509KeyPair(userCfg.CertData, userCfg.KeyData)
	if err != nil {
		t.Fatal(err)
	}
	files := controlplane.WebhookClientFiles(env.ControlPlane().DataDir())
	apiServerCert, err := tls.LoadX509KeyPair(files.CertFile, files.KeyFile)
	if err != nil {
		t.Fatal(err)
	}

	for name, certs := range map[string][]tls.Certificate{
		"no client certificate":              nil,
		"a user's certificate":               {userCert},
		"a certificate from an unrelated CA": {clientCert(t, newCA(t), "infraplane-apiserver")},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := postReview(url, certs)
			if err == nil || !strings.Contains(err.Error(), "tls: ") {
				t.Errorf("forged review: %v, want a TLS handshake failure", err)
			}
		})
	}

	// The API server's certificate gets an answer: the refusals above are
	// about the certificate, not about reaching the server.
	resp, err := postReview(url, []tls.Certificate{apiServerCert})
	if err != nil {
		t.Fatalf("with the API server's certificate: %v", err)
	}
	if resp.Response == nil || resp.Response.UID != forgedUID {
		t.Errorf("with the API server's certificate: answer %+v", resp.Response)
	}
}

// In controller mode, --webhook-client-ca makes the server require client
// certificates signed by that CA.
func TestWebhookServerWithClientCA(t *testing.T) {
	dir := t.TempDir()
	if _, err := controlplane.EnsureWebhookCerts(dir); err != nil {
		t.Fatal(err)
	}
	ca := newCA(t)
	caFile := filepath.Join(dir, "client-ca.crt")
	if err := os.WriteFile(caFile, ca.certPEM, 0o600); err != nil {
		t.Fatal(err)
	}

	if _, err := breakglass.NewWebhookServer(breakglass.Options{CertDir: dir, ClientCAFile: filepath.Join(dir, "missing.crt")}); err == nil {
		t.Error("a missing client CA file was accepted")
	}
	port := freePort(t)
	srv, err := breakglass.NewWebhookServer(breakglass.Options{WebhookHost: "127.0.0.1", WebhookPort: port, CertDir: dir, ClientCAFile: caFile})
	if err != nil {
		t.Fatal(err)
	}
	srv.Register("/review", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":%q,"allowed":true}}`, forgedUID)
	}))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Start(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	url := "https://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) + "/review"
	good := []tls.Certificate{clientCert(t, ca, "kube-apiserver")}
	testenv.Eventually(t, 10*time.Second, func() error {
		_, err := postReview(url, good)
		return err
	})
	if _, err := postReview(url, nil); err == nil || !strings.Contains(err.Error(), "tls: ") {
		t.Errorf("without a client certificate: %v, want a TLS handshake failure", err)
	}
	if _, err := postReview(url, []tls.Certificate{clientCert(t, newCA(t), "kube-apiserver")}); err == nil || !strings.Contains(err.Error(), "tls: ") {
		t.Errorf("with a certificate from another CA: %v, want a TLS handshake failure", err)
	}
}

const forgedUID = types.UID("00000000-0000-0000-0000-000000000001")

// postReview POSTs a dry-run AdmissionReview claiming to be the on-call
// engineer (the server's own certificate is not checked: an attacker
// would not care).
func postReview(url string, certs []tls.Certificate) (*admissionv1.AdmissionReview, error) {
	review := admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID:       forgedUID,
			Kind:      metav1.GroupVersionKind{Group: "pubsub.infraplane.dev", Version: "v1alpha1", Kind: "Subscription"},
			Resource:  metav1.GroupVersionResource{Group: "pubsub.infraplane.dev", Version: "v1alpha1", Resource: "subscriptions"},
			Operation: admissionv1.Update,
			Name:      "orders-worker", Namespace: "default",
			UserInfo: authenticationv1.UserInfo{Username: oncallUser, Groups: []string{"oncall"}},
			DryRun:   ptr.To(true),
		},
	}
	body, err := json.Marshal(review)
	if err != nil {
		return nil, err
	}
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		InsecureSkipVerify: true, //nolint:gosec // the caller plays an attacker
		Certificates:       certs,
	}}}
	resp, err := hc.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %s", resp.Status)
	}
	var out admissionv1.AdmissionReview
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, err
	}
	return &out, nil
}

type testCA struct {
	cert    *x509.Certificate
	key     *ecdsa.PrivateKey
	certPEM []byte
}

func newCA(t *testing.T) testCA {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test-ca"},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
	}
	key, der := sign(t, tmpl, nil, nil)
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return testCA{cert: cert, key: key, certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

func clientCert(t *testing.T, ca testCA, cn string) tls.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	key, der := sign(t, tmpl, ca.cert, ca.key)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// sign makes a key and a certificate for it from tmpl, signed by parent
// (self-signed when nil).
func sign(t *testing.T, tmpl, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*ecdsa.PrivateKey, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), parentKey)
	if err != nil {
		t.Fatal(err)
	}
	return key, der
}

func freePort(t *testing.T) int {
	t.Helper()
	p, err := controlplane.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return p
}
