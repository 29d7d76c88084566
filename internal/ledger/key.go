package ledger

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// KeyFileName is the key file of `infraplane up` in its data dir.
const KeyFileName = "ledger.key"

// DefaultKeyPath is the key file of the data dir dataDir.
func DefaultKeyPath(dataDir string) string { return filepath.Join(dataDir, KeyFileName) }

// macDomain starts every MAC's input, so that a MAC of the ledger can
// never be taken for a MAC of anything else made with the same key.
const macDomain = "infraplane-ledger-mac-v1\n"

// minKeyBytes is the shortest secret a key file may hold (256 bits).
const minKeyBytes = 32

var keyIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// Keys are the ledger's HMAC-SHA256 keys, read from a key file: the first
// signs new entries, all of them verify. They are kept outside the ledger
// (a file of the data dir for `infraplane up`, a mounted Secret for the
// controller), so that someone who can rewrite the ledger cannot make
// valid MACs. The zero value and nil hold no key.
type Keys struct {
	ids     []string          // in file order; ids[0] signs
	secrets map[string][]byte // by ID
}

// String names the keys, never their secrets.
func (k *Keys) String() string {
	if k == nil || len(k.ids) == 0 {
		return "no ledger key"
	}
	return "ledger keys " + strings.Join(k.ids, ", ")
}

// GoString keeps %#v from printing the secrets.
func (k *Keys) GoString() string { return k.String() }

// SigningID is the ID of the key that signs new entries ("" for none).
func (k *Keys) SigningID() string {
	if k == nil || len(k.ids) == 0 {
		return ""
	}
	return k.ids[0]
}

// IDs are the key IDs, the signing key first.
func (k *Keys) IDs() []string {
	if k == nil {
		return nil
	}
	return append([]string(nil), k.ids...)
}

// Has reports whether the key id is one of k.
func (k *Keys) Has(id string) bool {
	if k == nil {
		return false
	}
	_, ok := k.secrets[id]
	return ok
}

func (k *Keys) empty() bool { return k == nil || len(k.ids) == 0 }

// mac is the hex HMAC-SHA256 of an entry's hash under the key id.
func (k *Keys) mac(id, hash string) string {
	m := hmac.New(sha256.New, k.secrets[id])
	m.Write([]byte(macDomain))
	m.Write([]byte(hash))
	return hex.EncodeToString(m.Sum(nil))
}

// sign returns the mac member's value for an entry's hash:
// "<signing key ID>:<hex HMAC>".
func (k *Keys) sign(hash string) string {
	id := k.ids[0]
	return id + ":" + k.mac(id, hash)
}

// macStatus is what checking one entry's MAC found.
type macStatus int

const (
	macNone      macStatus = iota // the entry has no MAC
	macUnchecked                  // it has one, and there is no key to check it
	macUnknown                    // it has one, of a key not in Keys
	macValid
	macWrong
)

// checkMAC checks the MAC of an entry whose line was already parsed (so
// e.MAC, if any, is well formed) against its hash.
func (k *Keys) checkMAC(e Entry) macStatus {
	if e.MAC == "" {
		return macNone
	}
	if k.empty() {
		return macUnchecked
	}
	id, sum, _ := strings.Cut(e.MAC, ":")
	if !k.Has(id) {
		return macUnknown
	}
	if !hmac.Equal([]byte(sum), []byte(k.mac(id, e.Hash))) {
		return macWrong
	}
	return macValid
}

// macKeyID is the key ID of a mac member's value.
func macKeyID(mac string) string {
	id, _, _ := strings.Cut(mac, ":")
	return id
}

// ParseKeys reads a key file's content: one key per line, "ID SECRET",
// where ID is 1 to 64 of A-Z a-z 0-9 . _ - and SECRET is standard base64
// of at least 32 random bytes; blank lines and lines starting with # are
// ignored. The first key signs; the others only verify older entries.
func ParseKeys(data []byte) (*Keys, error) {
	k := &Keys{secrets: map[string][]byte{}}
	for n, raw := range bytes.Split(data, []byte("\n")) {
		line := strings.TrimSpace(string(raw))
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 2 {
			return nil, fmt.Errorf("line %d: want \"ID SECRET\" (a key ID, a space, the secret in base64), found %d fields", n+1, len(f))
		}
		id, enc := f[0], f[1]
		if !keyIDPattern.MatchString(id) {
			return nil, fmt.Errorf("line %d: key ID %q: use 1 to 64 of A-Z a-z 0-9 . _ -", n+1, id)
		}
		secret, err := base64.StdEncoding.DecodeString(enc)
		if err != nil {
			return nil, fmt.Errorf("line %d (key %s): the secret is not standard base64 (make one with `head -c 32 /dev/urandom | base64`): %v", n+1, id, err)
		}
		if len(secret) < minKeyBytes {
			return nil, fmt.Errorf("line %d (key %s): the secret has %d bytes: give at least %d random bytes (`head -c 32 /dev/urandom | base64`)", n+1, id, len(secret), minKeyBytes)
		}
		if _, dup := k.secrets[id]; dup {
			return nil, fmt.Errorf("line %d: key ID %s appears twice: each key needs an ID of its own", n+1, id)
		}
		k.ids = append(k.ids, id)
		k.secrets[id] = secret
	}
	if len(k.ids) == 0 {
		return nil, errors.New(`no key: add a line "ID SECRET", e.g. echo "k1 $(head -c 32 /dev/urandom | base64)"`)
	}
	return k, nil
}

// LoadKeys reads the key file at path (see ParseKeys).
func LoadKeys(path string) (*Keys, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("ledger key file: %w", err)
	}
	k, err := ParseKeys(data)
	if err != nil {
		return nil, fmt.Errorf("ledger key file %s: %w", path, err)
	}
	return k, nil
}

// EnsureKeyFile loads the key file at path, or, if there is none, creates
// it (mode 0600) with one new random key whose ID is "k" and today's date
// (k20261125). created reports whether it did.
func EnsureKeyFile(path string, now time.Time) (k *Keys, created bool, err error) {
	k, err = LoadKeys(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return k, false, err
	}
	secret := make([]byte, minKeyBytes)
	if _, err := rand.Read(secret); err != nil {
		return nil, false, fmt.Errorf("ledger key: %w", err)
	}
	id := "k" + now.UTC().Format("20060102")
	content := "# infraplane audit ledger keys (HMAC-SHA256): one per line, \"ID SECRET\" (base64).\n" +
		"# The first key signs new entries; the others only verify older ones.\n" +
		"# To rotate, add a new line on top and keep the old ones (see `infraplane audit --help`).\n" +
		id + " " + base64.StdEncoding.EncodeToString(secret) + "\n"
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		// Created meanwhile by another process: use that one.
		k, err = LoadKeys(path)
		return k, false, err
	}
	if err != nil {
		return nil, false, fmt.Errorf("ledger key file: %w", err)
	}
	_, err = f.WriteString(content)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = syncDir(filepath.Dir(path))
	}
	if err != nil {
		os.Remove(path)
		return nil, false, fmt.Errorf("ledger key file %s: %w", path, err)
	}
	k, err = ParseKeys([]byte(content))
	return k, err == nil, err
}
