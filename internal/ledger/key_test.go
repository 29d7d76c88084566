package ledger

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// keyFileText is a key file with a new random key for each id, the first
// signing.
func keyFileText(t testing.TB, ids ...string) string {
	t.Helper()
	var b strings.Builder
	for _, id := range ids {
		secret := make([]byte, 32)
		rand.Read(secret)
		b.WriteString(id + " " + base64.StdEncoding.EncodeToString(secret) + "\n")
	}
	return b.String()
}

// testKeys are new random keys.
func testKeys(t testing.TB, ids ...string) *Keys {
	t.Helper()
	k, err := ParseKeys([]byte(keyFileText(t, ids...)))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// subset is the keys of k with the given ids, in that order: a key file
// after a rotation, or with a key removed.
func subset(t testing.TB, k *Keys, ids ...string) *Keys {
	t.Helper()
	out := &Keys{secrets: map[string][]byte{}}
	for _, id := range ids {
		if !k.Has(id) {
			t.Fatalf("no key %s", id)
		}
		out.ids = append(out.ids, id)
		out.secrets[id] = k.secrets[id]
	}
	return out
}

// keyedLedger writes n entries to a new ledger file signed with keys,
// closes it and returns its path and entries.
func keyedLedger(t *testing.T, keys *Keys, n int) (string, []Entry) {
	t.Helper()
	path := filepath.Join(t.TempDir(), FileName)
	l, err := OpenWith(context.Background(), path, Options{Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	es := appendN(t, l, 1, n)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return path, es
}

func verifyWith(t *testing.T, loc string, o VerifyOptions) Report {
	t.Helper()
	rep, err := VerifyWith(context.Background(), loc, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s", rep)
	return rep
}

func TestKeyFile(t *testing.T) {
	text := "# rotated on 2026-11-25\n\n" + keyFileText(t, "k2", "k1.old_2025-x")
	k, err := ParseKeys([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	if k.SigningID() != "k2" || strings.Join(k.IDs(), ",") != "k2,k1.old_2025-x" || !k.Has("k1.old_2025-x") || k.Has("k3") {
		t.Fatalf("keys %v", k.IDs())
	}
	// Formatting never shows a secret.
	secret := strings.Fields(strings.Split(text, "\n")[2])[1]
	raw, _ := base64.StdEncoding.DecodeString(secret)
	for _, s := range []string{k.String(), k.GoString()} {
		if strings.Contains(s, secret) || strings.Contains(s, string(raw)) || s != "ledger keys k2, k1.old_2025-x" {
			t.Errorf("formatted: %q", s)
		}
	}

	for name, bad := range map[string]string{
		"empty":            "# nothing\n",
		"no secret":        "k1\n",
		"three fields":     "k1 AAAA AAAA\n",
		"bad ID":           "k:1 " + strings.Fields(keyFileText(t, "x"))[1] + "\n",
		"not base64":       "k1 not*base64\n",
		"short":            "k1 " + base64.StdEncoding.EncodeToString(make([]byte, 16)) + "\n",
		"duplicate ID":     strings.ReplaceAll(keyFileText(t, "a", "b"), "b ", "a "),
		"URL-safe base64":  "k1 " + strings.Repeat("_", 44) + "\n",
		"no padding (raw)": "k1 " + base64.RawStdEncoding.EncodeToString(make([]byte, 32)) + "\n",
	} {
		if _, err := ParseKeys([]byte(bad)); err == nil {
			t.Errorf("%s: accepted", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
}

func TestEnsureKeyFile(t *testing.T) {
	dir := t.TempDir()
	path := DefaultKeyPath(dir)
	now := time.Date(2026, 11, 25, 23, 0, 0, 0, time.UTC)
	k, created, err := EnsureKeyFile(path, now)
	if err != nil || !created || k.SigningID() != "k20261125" {
		t.Fatalf("EnsureKeyFile = %v, %v, %v", k, created, err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" && st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", st.Mode().Perm())
	}
	// The second time it is read, not replaced.
	k2, created, err := EnsureKeyFile(path, now.Add(48*time.Hour))
	if err != nil || created || k2.SigningID() != "k20261125" || string(k2.secrets["k20261125"]) != string(k.secrets["k20261125"]) {
		t.Fatalf("second EnsureKeyFile = %v, %v, %v", k2, created, err)
	}
	loaded, err := LoadKeys(path)
	if err != nil || loaded.SigningID() != "k20261125" {
		t.Fatalf("LoadKeys = %v, %v", loaded, err)
	}
	// A damaged key file is an error, never replaced.
	os.WriteFile(path, []byte("k1 short\n"), 0o600)
	if _, _, err := EnsureKeyFile(path, now); err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("damaged key file: %v", err)
	}
}
