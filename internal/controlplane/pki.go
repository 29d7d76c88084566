package controlplane

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"
)

const (
	caValidity   = 10 * 365 * 24 * time.Hour
	leafValidity = 365 * 24 * time.Hour
	// Leaf certificates closer than this to expiry are reissued on start, so a
	// long-lived data dir never ends up with an expired serving or admin cert.
	renewBefore = 30 * 24 * time.Hour

	adminUser  = "infraplane-admin"
	adminGroup = "system:masters"
)

// File names inside DataDir/pki.
const (
	caCertFile       = "ca.crt"
	caKeyFile        = "ca.key"
	servingCertFile  = "apiserver.crt"
	servingKeyFile   = "apiserver.key"
	clientCACertFile = "client-ca.crt"
	clientCAKeyFile  = "client-ca.key"
	adminCertFile    = "admin.crt"
	adminKeyFile     = "admin.key"
	saKeyFile        = "sa.key"

	// etcd has a CA of its own: it trusts only client certificates from it,
	// and only the API server holds one.
	etcdCACertFile     = "etcd-ca.crt"
	etcdCAKeyFile      = "etcd-ca.key"
	etcdServerCertFile = "etcd-server.crt"
	etcdServerKeyFile  = "etcd-server.key"
	etcdClientCertFile = "apiserver-etcd-client.crt"
	etcdClientKeyFile  = "apiserver-etcd-client.key"

	// The API server's client certificate for admission webhooks, from a CA
	// used for nothing else: a webhook that trusts this CA trusts only the
	// API server.
	webhookClientCACertFile = "webhook-client-ca.crt"
	webhookClientCAKeyFile  = "webhook-client-ca.key"
	webhookClientCertFile   = "apiserver-webhook-client.crt"
	webhookClientKeyFile    = "apiserver-webhook-client.key"
)

// keyPair is a parsed certificate with its private key and PEM encodings.
type keyPair struct {
	cert    *x509.Certificate
	key     crypto.Signer
	certPEM []byte
	keyPEM  []byte
}

// pki holds everything loaded from (or generated into) DataDir/pki.
type pki struct {
	dir      string
	ca       *keyPair // signs the serving certificate; clients trust it
	clientCA *keyPair // signs client certificates; the API server trusts it
	serving  *keyPair
	admin    *keyPair

	etcdCA     *keyPair // etcd trusts client certificates from it only
	etcdServer *keyPair
	etcdClient *keyPair // the API server's, for etcd

	webhookClientCA *keyPair // webhooks that trust it trust only the API server
	webhookClient   *keyPair // the API server's, for admission webhooks
}

func (p *pki) path(name string) string { return filepath.Join(p.dir, name) }

// ensurePKI loads the CAs and certificates from dir, creating whatever is
// missing. CAs are never regenerated once they exist: every kubeconfig handed
// out depends on them. Leaf certificates are reissued when they are close to
// expiry, no longer match their CA, or lack a required SAN.
func ensurePKI(dir string, servingIPs []net.IP, servingDNS []string) (*pki, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	p := &pki{dir: dir}
	var err error
	if p.ca, err = loadOrCreateCA(p.path(caCertFile), p.path(caKeyFile), "infraplane-ca"); err != nil {
		return nil, err
	}
	if p.clientCA, err = loadOrCreateCA(p.path(clientCACertFile), p.path(clientCAKeyFile), "infraplane-client-ca"); err != nil {
		return nil, err
	}

	servingTmpl := func() *x509.Certificate {
		return &x509.Certificate{
			Subject:     pkix.Name{CommonName: "infraplane-apiserver"},
			KeyUsage:    x509.KeyUsageDigitalSignature,
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			IPAddresses: servingIPs,
			DNSNames:    servingDNS,
		}
	}
	servingOK := func(c *x509.Certificate) bool {
		for _, ip := range servingIPs {
			if !slices.ContainsFunc(c.IPAddresses, ip.Equal) {
				return false
			}
		}
		for _, n := range servingDNS {
			if !slices.Contains(c.DNSNames, n) {
				return false
			}
		}
		return true
	}
	if p.serving, err = loadOrIssue(p.path(servingCertFile), p.path(servingKeyFile), p.ca, servingTmpl, servingOK); err != nil {
		return nil, err
	}

	adminTmpl := func() *x509.Certificate { return clientTemplate(adminUser, []string{adminGroup}) }
	adminOK := func(c *x509.Certificate) bool {
		return c.Subject.CommonName == adminUser && slices.Contains(c.Subject.Organization, adminGroup)
	}
	if p.admin, err = loadOrIssue(p.path(adminCertFile), p.path(adminKeyFile), p.clientCA, adminTmpl, adminOK); err != nil {
		return nil, err
	}

	if p.etcdCA, err = loadOrCreateCA(p.path(etcdCACertFile), p.path(etcdCAKeyFile), "infraplane-etcd-ca"); err != nil {
		return nil, err
	}
	// etcd listens on loopback only, whatever the API server binds to.
	etcdIPs := []net.IP{net.IPv4(127, 0, 0, 1)}
	etcdServerTmpl := func() *x509.Certificate {
		return &x509.Certificate{
			Subject:     pkix.Name{CommonName: "infraplane-etcd"},
			KeyUsage:    x509.KeyUsageDigitalSignature,
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			IPAddresses: etcdIPs,
			DNSNames:    []string{"localhost"},
		}
	}
	etcdServerOK := func(c *x509.Certificate) bool { return slices.ContainsFunc(c.IPAddresses, etcdIPs[0].Equal) }
	if p.etcdServer, err = loadOrIssue(p.path(etcdServerCertFile), p.path(etcdServerKeyFile), p.etcdCA, etcdServerTmpl, etcdServerOK); err != nil {
		return nil, err
	}
	if p.etcdClient, err = loadOrIssueClient(p.path(etcdClientCertFile), p.path(etcdClientKeyFile), p.etcdCA, "infraplane-apiserver"); err != nil {
		return nil, err
	}

	if p.webhookClientCA, err = loadOrCreateCA(p.path(webhookClientCACertFile), p.path(webhookClientCAKeyFile), "infraplane-webhook-client-ca"); err != nil {
		return nil, err
	}
	if p.webhookClient, err = loadOrIssueClient(p.path(webhookClientCertFile), p.path(webhookClientKeyFile), p.webhookClientCA, "infraplane-apiserver"); err != nil {
		return nil, err
	}

	// The service-account signing key must survive restarts, otherwise every
	// issued token becomes invalid.
	if _, err := os.Stat(p.path(saKeyFile)); errors.Is(err, fs.ErrNotExist) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, err
		}
		keyPEM, err := encodeKey(key)
		if err != nil {
			return nil, err
		}
		if err := writeFileAtomic(p.path(saKeyFile), keyPEM, 0o600); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, err
	}
	return p, nil
}

func clientTemplate(user string, groups []string) *x509.Certificate {
	return &x509.Certificate{
		Subject:     pkix.Name{CommonName: user, Organization: groups},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
}

// loadOrIssueClient is loadOrIssue for a client certificate of user (no
// groups) signed by ca.
func loadOrIssueClient(certPath, keyPath string, ca *keyPair, user string) (*keyPair, error) {
	tmpl := func() *x509.Certificate { return clientTemplate(user, nil) }
	ok := func(c *x509.Certificate) bool {
		return c.Subject.CommonName == user && slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageClientAuth)
	}
	return loadOrIssue(certPath, keyPath, ca, tmpl, ok)
}

func loadOrCreateCA(certPath, keyPath, cn string) (*keyPair, error) {
	kp, err := loadKeyPair(certPath, keyPath)
	if err == nil {
		if !kp.cert.IsCA {
			return nil, fmt.Errorf("%s is not a CA certificate", certPath)
		}
		return kp, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		// A damaged CA must not be silently replaced: existing kubeconfigs
		// would stop working without any hint why.
		return nil, fmt.Errorf("loading CA %s: %w", certPath, err)
	}
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: cn},
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	kp, err = issue(tmpl, nil, caValidity)
	if err != nil {
		return nil, err
	}
	if err := kp.save(certPath, keyPath); err != nil {
		return nil, err
	}
	return kp, nil
}

// loadOrIssue reuses the key pair on disk if it is still good, else issues a
// fresh one from tmpl signed by ca.
func loadOrIssue(certPath, keyPath string, ca *keyPair, tmpl func() *x509.Certificate, ok func(*x509.Certificate) bool) (*keyPair, error) {
	kp, err := loadKeyPair(certPath, keyPath)
	if err == nil && kp.cert.CheckSignatureFrom(ca.cert) == nil &&
		time.Until(kp.cert.NotAfter) > renewBefore && ok(kp.cert) {
		return kp, nil
	}
	// Leaf certificates carry no state worth keeping: anything unreadable,
	// stale or mismatched is simply reissued.
	kp, err = issue(tmpl(), ca, leafValidity)
	if err != nil {
		return nil, err
	}
	if err := kp.save(certPath, keyPath); err != nil {
		return nil, err
	}
	return kp, nil
}

// issue creates a new ECDSA key and a certificate for it, signed by parent or
// self-signed when parent is nil.
func issue(tmpl *x509.Certificate, parent *keyPair, validity time.Duration) (*keyPair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl.SerialNumber = serial
	tmpl.NotBefore = now.Add(-5 * time.Minute) // tolerate small clock skew
	tmpl.NotAfter = now.Add(validity)
	signerCert, signerKey := tmpl, crypto.Signer(key)
	if parent != nil {
		signerCert, signerKey = parent.cert, parent.key
		if tmpl.NotAfter.After(parent.cert.NotAfter) {
			tmpl.NotAfter = parent.cert.NotAfter
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signerCert, key.Public(), signerKey)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return nil, err
	}
	return &keyPair{
		cert:    cert,
		key:     key,
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyPEM:  keyPEM,
	}, nil
}

func encodeKey(key *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), nil
}

func loadKeyPair(certPath, keyPath string) (*keyPair, error) {
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		return nil, err
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, err
	}
	cb, _ := pem.Decode(certPEM)
	if cb == nil || cb.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("%s: no PEM certificate", certPath)
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", certPath, err)
	}
	kb, _ := pem.Decode(keyPEM)
	if kb == nil {
		return nil, fmt.Errorf("%s: no PEM key", keyPath)
	}
	key, err := parseKey(kb)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", keyPath, err)
	}
	if !publicKeysEqual(cert.PublicKey, key.Public()) {
		return nil, fmt.Errorf("%s does not match %s", keyPath, certPath)
	}
	return &keyPair{cert: cert, key: key, certPEM: certPEM, keyPEM: keyPEM}, nil
}

func parseKey(b *pem.Block) (crypto.Signer, error) {
	switch b.Type {
	case "EC PRIVATE KEY":
		return x509.ParseECPrivateKey(b.Bytes)
	case "RSA PRIVATE KEY":
		return x509.ParsePKCS1PrivateKey(b.Bytes)
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
		if err != nil {
			return nil, err
		}
		s, ok := k.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("unsupported key type %T", k)
		}
		return s, nil
	}
	return nil, fmt.Errorf("unsupported PEM block %q", b.Type)
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	ea, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && ea.Equal(b)
}

func (kp *keyPair) save(certPath, keyPath string) error {
	// Key first: a cert without its key would be loaded as broken next time.
	if err := writeFileAtomic(keyPath, kp.keyPEM, 0o600); err != nil {
		return err
	}
	return writeFileAtomic(certPath, kp.certPEM, 0o644)
}

// writeFileAtomic writes via a temp file + rename so a crash never leaves a
// truncated key, certificate or kubeconfig behind.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) //nolint:errcheck // no-op after a successful rename
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
