package webhookcert

import (
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var names = Names{DNS: []string{"infraplane-webhook.infraplane-system.svc"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}}

// trusted tells whether the serving certificate in data verifies against
// the bundle in trust, for names, at t.
func trusted(t *testing.T, data map[string][]byte, trust []byte, at time.Time) bool {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(trust) {
		t.Fatal("bundle holds no certificate")
	}
	c := parseCert(data[keyCert])
	if c == nil {
		t.Fatal("no serving certificate")
	}
	_, err := c.Verify(x509.VerifyOptions{Roots: pool, DNSName: names.DNS[0], CurrentTime: at})
	return err == nil
}

func mustRenew(t *testing.T, data map[string][]byte, now time.Time, n Names) (map[string][]byte, bool) {
	t.Helper()
	out, changed, err := renew(data, now, n, DefaultLifetimes)
	if err != nil {
		t.Fatal(err)
	}
	return out, changed
}

func TestRenewMakesAndKeeps(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	data, changed := mustRenew(t, nil, now, names)
	if !changed || data[keyCA] == nil || data[keyCert] == nil {
		t.Fatalf("first start made nothing: %v", changed)
	}
	if !trusted(t, data, bundle(data), now) {
		t.Fatal("the serving certificate does not verify against the bundle")
	}
	if _, changed := mustRenew(t, data, now.Add(time.Hour), names); changed {
		t.Fatal("a current certificate was renewed")
	}
	// A replica asked for other names (the Service moved) gets a new
	// certificate from the same CA.
	other := Names{DNS: []string{"webhook.other.svc"}}
	moved, changed := mustRenew(t, data, now, other)
	if !changed || string(moved[keyCA]) != string(data[keyCA]) || string(moved[keyCert]) == string(data[keyCert]) {
		t.Fatal("new names did not get a new certificate from the same CA")
	}
	// Garbage is replaced, not kept.
	broken := map[string][]byte{keyCA: []byte("x"), keyCAKey: []byte("y"), keyCert: []byte("z")}
	if fixed, changed := mustRenew(t, broken, now, names); !changed || !trusted(t, fixed, bundle(fixed), now) {
		t.Fatal("unparsable data was not replaced")
	}
}

func TestRenewServingBeforeExpiry(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	data, _ := mustRenew(t, nil, now, names)
	first := parseCert(data[keyCert])
	// Just before the renewal window: kept.
	at := first.NotAfter.Add(-DefaultLifetimes.ServingRenewBefore - time.Minute)
	if _, changed := mustRenew(t, data, at, names); changed {
		t.Fatal("renewed before it was due")
	}
	at = first.NotAfter.Add(-DefaultLifetimes.ServingRenewBefore + time.Minute)
	renewed, changed := mustRenew(t, data, at, names)
	if !changed {
		t.Fatal("not renewed within the window")
	}
	if string(renewed[keyCA]) != string(data[keyCA]) {
		t.Fatal("renewing the serving certificate changed the CA (the API server would have to learn it first)")
	}
	if !parseCert(renewed[keyCert]).NotAfter.After(first.NotAfter) || !trusted(t, renewed, bundle(data), at) {
		t.Fatal("the renewed certificate does not outlast the old one, or the registered bundle does not trust it")
	}
}

// A CA near its end: its successor is trusted first, signs only after
// Publish, and the old CA stays trusted until it expires. At no point does
// a replica serve a certificate the bundle registered one check earlier
// does not trust.
func TestRenewCAOverlaps(t *testing.T) {
	l := DefaultLifetimes
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	data, _ := mustRenew(t, nil, now, names)
	caEnd := parseCert(data[keyCA]).NotAfter
	step := 10 * time.Minute
	registered := bundle(data)
	var published, promoted, retired bool
	for at := caEnd.Add(-l.CARenewBefore - 2*step); at.Before(caEnd.Add(2 * l.Serving)); {
		next, changed := mustRenew(t, data, at, names)
		if changed {
			if !trusted(t, next, registered, at) {
				t.Fatalf("%s: the new serving certificate is not trusted by the bundle the API server has", at)
			}
			switch {
			case next[keyNext] != nil && data[keyNext] == nil:
				published = true
			case next[keyPrevious] != nil && data[keyPrevious] == nil:
				promoted = true
				if got := at.Sub(parseCert(data[keyNext]).NotBefore); got < l.Publish {
					t.Fatalf("the successor signed %s after it was made, before Publish (%s)", got, l.Publish)
				}
			case next[keyPrevious] == nil && data[keyPrevious] != nil:
				retired = true
			}
			data = next
			registered = bundle(data)
		}
		if !trusted(t, data, registered, at) {
			t.Fatalf("%s: the serving certificate is not trusted", at)
		}
		// Coarse steps once nothing is about to happen.
		if promoted {
			at = at.Add(24 * time.Hour)
		} else {
			at = at.Add(step)
		}
	}
	if !published || !promoted || !retired {
		t.Fatalf("published %v, promoted %v, retired %v: the CA change did not run its course", published, promoted, retired)
	}
}

func TestWriteFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "certs")
	if err := writeFiles(dir, []byte("cert"), []byte("key")); err != nil {
		t.Fatal(err)
	}
	if err := writeFiles(dir, []byte("cert2"), []byte("key")); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, CertFile))
	if string(b) != "cert2" {
		t.Fatalf("tls.crt = %q", b)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Fatalf("left temporary files: %v", entries)
	}
}

func TestFilesReadsAndWatchesTheCA(t *testing.T) {
	dir := t.TempDir()
	f := &Files{Dir: dir, CAFile: filepath.Join(dir, "ca.crt"), Every: 10 * time.Millisecond}
	if _, err := f.Ensure(t.Context()); err == nil {
		t.Fatal("no certificate in the directory, and no error")
	}
	now := time.Now()
	data, _ := mustRenew(t, nil, now, names)
	for name, key := range map[string]string{CertFile: keyCert, KeyFile: keyKey, "ca.crt": keyCA} {
		if err := os.WriteFile(filepath.Join(dir, name), data[key], 0o600); err != nil {
			t.Fatal(err)
		}
	}
	got, err := f.Ensure(t.Context())
	if err != nil || string(got) != string(data[keyCA]) {
		t.Fatalf("Ensure = %q, %v", got, err)
	}
	go f.Start(t.Context()) //nolint:errcheck // returns nil when the test ends
	other, _ := mustRenew(t, nil, now, names)
	if err := os.WriteFile(f.CAFile, other[keyCA], 0o600); err != nil {
		t.Fatal(err)
	}
	select {
	case b := <-f.Rotated():
		if string(b) != string(other[keyCA]) {
			t.Fatal("Rotated delivered another bundle")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("a changed CA file was not reported")
	}
}
