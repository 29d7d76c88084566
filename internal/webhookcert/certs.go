// Package webhookcert gives the admission webhook server of `infraplane
// controller` its serving certificate, and the API server the CA bundle
// that trusts it. Two sources:
//
//   - SelfManaged (the default): the controller keeps a CA of its own and
//     a serving certificate in a Secret of its namespace, creates them
//     when absent (replicas race: the API server decides), renews them
//     before they expire, and writes the certificate where the webhook
//     server reads it.
//   - Files: the certificate is mounted (cert-manager's Secret) and the CA
//     bundle read from a file next to it.
//
// Either way the bundle is what the controller puts in the webhook
// configurations it registers, and Rotated reports a new one.
package webhookcert

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"slices"
	"time"
)

// Files of the serving certificate, in the directory the webhook server
// reads (controller-runtime's names).
const (
	CertFile = "tls.crt"
	KeyFile  = "tls.key"
)

// Keys of the Secret a SelfManaged source keeps. tls.crt and tls.key make
// it a kubernetes.io/tls Secret; ca.crt is the signing CA, the others the
// CAs trusted around a CA change.
const (
	keyCert     = "tls.crt"
	keyKey      = "tls.key"
	keyCA       = "ca.crt"
	keyCAKey    = "ca.key"
	keyNext     = "next-ca.crt"
	keyNextKey  = "next-ca.key"
	keyPrevious = "previous-ca.crt"
)

// Lifetimes say how long certificates live and when they are renewed.
type Lifetimes struct {
	// CA is a new CA's validity; CARenewBefore is how long before the CA
	// expires its successor is made.
	CA, CARenewBefore time.Duration
	// Publish is how long a successor CA is trusted before it signs: every
	// replica registers the bundle with it before any serves a
	// certificate it signed (they check far more often).
	Publish time.Duration
	// Serving is a serving certificate's validity (capped by its CA's);
	// ServingRenewBefore is how long before it expires a new one is made.
	Serving, ServingRenewBefore time.Duration
}

// DefaultLifetimes: a CA for ten years, replaced a year ahead; serving
// certificates for 90 days, replaced 30 days ahead.
var DefaultLifetimes = Lifetimes{
	CA: 10 * 365 * 24 * time.Hour, CARenewBefore: 365 * 24 * time.Hour,
	Publish: 24 * time.Hour,
	Serving: 90 * 24 * time.Hour, ServingRenewBefore: 30 * 24 * time.Hour,
}

// backdate makes certificates valid a little before they were made, for
// clocks that lag.
const backdate = time.Hour

// Names are what the serving certificate is for: the names and addresses
// the API server calls the webhook by.
type Names struct {
	DNS []string
	IPs []net.IP
}

func (n Names) matches(c *x509.Certificate) bool {
	return slices.Equal(sorted(n.DNS), sorted(c.DNSNames)) && slices.Equal(sortedIPs(n.IPs), sortedIPs(c.IPAddresses))
}

func sorted(s []string) []string { s = slices.Clone(s); slices.Sort(s); return s }

func sortedIPs(ips []net.IP) []string {
	out := make([]string, len(ips))
	for i, ip := range ips {
		out[i] = ip.String()
	}
	slices.Sort(out)
	return out
}

// authority is a CA: its certificate and key, parsed and as PEM.
type authority struct {
	cert    *x509.Certificate
	key     *ecdsa.PrivateKey
	certPEM []byte
	keyPEM  []byte
}

// renew decides, from what the Secret holds (data), what it must hold at
// now: a CA that is not expired (and its successor when it nears its
// end), and a serving certificate for names, signed by the current CA and
// not near its end. It returns the new data and whether anything changed.
// Data that does not parse is replaced, as if it were missing.
func renew(data map[string][]byte, now time.Time, names Names, l Lifetimes) (map[string][]byte, bool, error) {
	current := parseAuthority(data[keyCA], data[keyCAKey])
	next := parseAuthority(data[keyNext], data[keyNextKey])
	previous := parseCert(data[keyPrevious])
	serving := parseCert(data[keyCert])
	if serving != nil && !keyMatches(serving, data[keyKey]) {
		serving = nil
	}
	changed := false
	var err error

	if current == nil || !now.Before(current.cert.NotAfter) {
		// First start, or a CA that expired (nothing it signed is valid):
		// start over.
		if current, err = newAuthority(now, l.CA); err != nil {
			return nil, false, err
		}
		next, previous, serving, changed = nil, nil, nil, true
	}
	if previous != nil && !now.Before(previous.NotAfter) {
		previous, changed = nil, true
	}
	if next == nil && current.cert.NotAfter.Sub(now) < l.CARenewBefore {
		if next, err = newAuthority(now, l.CA); err != nil {
			return nil, false, err
		}
		changed = true
	}
	if next != nil && now.Sub(next.cert.NotBefore) >= l.Publish+backdate {
		// The successor has been trusted long enough: it signs from now
		// on, and the old CA stays trusted for the certificates it signed.
		previous, current, next, serving, changed = current.cert, next, nil, nil, true
	}
	if !servingOK(serving, current, names, now, l) {
		pair, err := newServing(current, names, now, l)
		if err != nil {
			return nil, false, err
		}
		data = map[string][]byte{keyCert: pair[0], keyKey: pair[1]}
		changed = true
	} else if changed {
		data = map[string][]byte{keyCert: data[keyCert], keyKey: data[keyKey]}
	}
	if !changed {
		return data, false, nil
	}
	data[keyCA], data[keyCAKey] = current.certPEM, current.keyPEM
	if next != nil {
		data[keyNext], data[keyNextKey] = next.certPEM, next.keyPEM
	}
	if previous != nil {
		data[keyPrevious] = pemCert(previous.Raw)
	}
	return data, true, nil
}

// bundle is the CAs the API server must trust: the signing one, its
// successor and its predecessor, as the Secret holds them.
func bundle(data map[string][]byte) []byte {
	var b bytes.Buffer
	for _, k := range []string{keyCA, keyNext, keyPrevious} {
		b.Write(data[k])
	}
	return b.Bytes()
}

// servingOK: the certificate is for names, signed by the current CA, and
// not yet due for renewal (unless a new one would not last longer: its
// CA's end caps both).
func servingOK(c *x509.Certificate, ca *authority, names Names, now time.Time, l Lifetimes) bool {
	if c == nil || !names.matches(c) || c.CheckSignatureFrom(ca.cert) != nil || !now.Before(c.NotAfter) {
		return false
	}
	due := !now.Before(c.NotAfter.Add(-l.ServingRenewBefore))
	return !due || !c.NotAfter.Before(servingEnd(ca, now, l))
}

func servingEnd(ca *authority, now time.Time, l Lifetimes) time.Time {
	end := now.Add(l.Serving)
	if ca.cert.NotAfter.Before(end) {
		end = ca.cert.NotAfter
	}
	return end
}

func newAuthority(now time.Time, lifetime time.Duration) (*authority, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := serialNumber()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		// Each CA its own name: a bundle of two is easy to tell apart.
		Subject:               pkix.Name{CommonName: "infraplane-webhook-ca " + now.UTC().Format("2006-01-02T15:04:05Z")},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(lifetime),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	a := parseAuthority(pemCert(der), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
	if a == nil {
		return nil, errors.New("a CA just made does not parse")
	}
	return a, nil
}

// newServing returns a serving certificate and key (PEM) for names.
func newServing(ca *authority, names Names, now time.Time, l Lifetimes) ([2][]byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return [2][]byte{}, err
	}
	serial, err := serialNumber()
	if err != nil {
		return [2][]byte{}, err
	}
	cn := "infraplane-webhook"
	if len(names.DNS) > 0 {
		cn = names.DNS[0]
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    now.Add(-backdate),
		NotAfter:     servingEnd(ca, now, l),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     names.DNS,
		IPAddresses:  names.IPs,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		return [2][]byte{}, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return [2][]byte{}, err
	}
	return [2][]byte{pemCert(der), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})}, nil
}

func serialNumber() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
}

func pemCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func parseCert(p []byte) *x509.Certificate {
	b, _ := pem.Decode(p)
	if b == nil || b.Type != "CERTIFICATE" {
		return nil
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		return nil
	}
	return c
}

func parseKey(p []byte) *ecdsa.PrivateKey {
	b, _ := pem.Decode(p)
	if b == nil {
		return nil
	}
	k, err := x509.ParseECPrivateKey(b.Bytes)
	if err != nil {
		return nil
	}
	return k
}

func parseAuthority(certPEM, keyPEM []byte) *authority {
	c, k := parseCert(certPEM), parseKey(keyPEM)
	if c == nil || k == nil || !c.IsCA || !k.PublicKey.Equal(c.PublicKey) {
		return nil
	}
	return &authority{cert: c, key: k, certPEM: certPEM, keyPEM: keyPEM}
}

func keyMatches(c *x509.Certificate, keyPEM []byte) bool {
	k := parseKey(keyPEM)
	return k != nil && k.PublicKey.Equal(c.PublicKey)
}

// checkBundle tells whether p holds at least one CA certificate.
func checkBundle(p []byte) error {
	for len(p) > 0 {
		var b *pem.Block
		b, p = pem.Decode(p)
		if b == nil {
			break
		}
		if c, err := x509.ParseCertificate(b.Bytes); err == nil && c.IsCA {
			return nil
		}
	}
	return fmt.Errorf("no CA certificate (PEM) in it")
}
