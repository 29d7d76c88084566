package ledger

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Type says what an entry records.
type Type string

// The entry types.
const (
	// TypeSync is a GitOps sync: Revision, Author (of the commit), Objects
	// (those changed).
	TypeSync Type = "sync"
	// TypeCloudWrite is a controller's create, update or delete in the
	// cloud: Object, Fields (names), Error, and details operation,
	// resource and (for updates) cause = drift-repair or spec-change.
	TypeCloudWrite Type = "cloud-write"
	// TypeCloudWriteIntent is a controller's cloud write about to be sent,
	// appended before it is: no write goes out unrecorded. Its outcome is
	// the TypeCloudWrite entry whose Details["intent"] is this entry's seq.
	TypeCloudWriteIntent Type = "cloud-write-intent"
	// TypeDirectEdit is a write to a managed object that did not come from
	// the GitOps syncer: Actor is the user, Fields the fields written.
	TypeDirectEdit Type = "direct-edit"
	// The break-glass life cycle; BreakGlass names the session.
	TypeBreakGlassOpen     Type = "breakglass-open"
	TypeBreakGlassClose    Type = "breakglass-close"
	TypeBreakGlassExpire   Type = "breakglass-expire"
	TypeBreakGlassRevert   Type = "breakglass-revert"
	TypeBreakGlassBackport Type = "breakglass-backport"
	// TypeBreakGlassRelease: a held object matches git again (a backport
	// was merged, or git was changed by hand); the hold ended.
	TypeBreakGlassRelease Type = "breakglass-release"
	// TypeLedgerKey: the ledger was opened with a signing key that the
	// entry before did not use (the first key, or a rotation): entries
	// are signed with it from here on. Details: signer, previousSigner
	// ("" when the entries before carry no MAC).
	TypeLedgerKey Type = "ledger-key"
)

// Types lists every entry type, in the order of the life cycle.
var Types = []Type{
	TypeSync, TypeCloudWriteIntent, TypeCloudWrite, TypeDirectEdit,
	TypeBreakGlassOpen, TypeBreakGlassClose, TypeBreakGlassExpire, TypeBreakGlassRevert, TypeBreakGlassBackport, TypeBreakGlassRelease,
	TypeLedgerKey,
}

// Valid reports whether t is one of Types.
func (t Type) Valid() bool {
	for _, k := range Types {
		if t == k {
			return true
		}
	}
	return false
}

// ParseType returns the Type named s, or an error listing the valid ones.
func ParseType(s string) (Type, error) {
	if t := Type(s); t.Valid() {
		return t, nil
	}
	names := make([]string, len(Types))
	for i, t := range Types {
		names[i] = string(t)
	}
	return "", fmt.Errorf("unknown entry type %q: one of %s", s, strings.Join(names, ", "))
}

// Entry is one line of the ledger. Append fills Seq, Time, Prev, Hash and
// MAC; the caller fills the rest. The JSON member order below is the order on
// disk, and it matters: see the package documentation for what is hashed.
//
// An Entry records who did what to which object, never values: there is
// no field for the value of a spec field, and Details keys that look like
// credentials are dropped (see SecretKey).
type Entry struct {
	// Seq is 1 for the first entry and grows by one, without gaps.
	Seq uint64 `json:"seq"`
	// Time is when the entry was appended, UTC.
	Time time.Time `json:"time"`
	Type Type      `json:"type"`
	// Actor is who acted: a user name, "controller/<Kind>", "syncer".
	Actor string `json:"actor"`
	// Object is the object acted on, "<Kind> <namespace>/<name>" (see
	// ObjectRef), or empty.
	Object string `json:"object,omitempty"`
	// Summary is one line for people.
	Summary string `json:"summary"`

	// Revision is the Git revision (sync, break-glass backport).
	Revision string `json:"revision,omitempty"`
	// Author is the author of that revision.
	Author string `json:"author,omitempty"`
	// Reason is the reason a person gave (break-glass).
	Reason string `json:"reason,omitempty"`
	// BreakGlass names the break-glass session the entry belongs to.
	BreakGlass string `json:"breakGlass,omitempty"`
	// Fields are field names (never values).
	Fields []string `json:"fields,omitempty"`
	// Objects are the objects an entry names: a sync's, each
	// "<verb> <Kind>/<namespace>/<name>" (verb created, configured, pruned
	// or released; "<Kind>/<name>" when cluster-scoped, and for a pruned
	// object in entries written before pruned ones carried their
	// namespace); a break-glass's, "<Kind>/<name>" in its namespace.
	Objects []string `json:"objects,omitempty"`
	// Error is what failed, if anything did.
	Error string `json:"error,omitempty"`
	// Details hold anything else. Keys that look like credentials are
	// dropped on Append (see SecretKey).
	Details map[string]string `json:"details,omitempty"`

	// Prev is the Hash of the previous entry, "" for the first.
	Prev string `json:"prev"`
	// Hash is the lowercase hex SHA-256 of this entry's line without its
	// hash and mac members (see the package documentation).
	Hash string `json:"hash,omitempty"`
	// MAC authenticates Hash, and through it the chain up to this entry:
	// "<key ID>:<lowercase hex HMAC-SHA256>" under one of the ledger's Keys.
	// Empty when the entry was written without a key.
	MAC string `json:"mac,omitempty"`
}

// ObjectRef formats an object the way Entry.Object holds it:
// "Topic team-a/orders", or "ProviderConfig default" when cluster-scoped.
func ObjectRef(kind, namespace, name string) string {
	if namespace == "" {
		return kind + " " + name
	}
	return kind + " " + namespace + "/" + name
}

// redactedKey is the Details key that lists the keys SecretKey dropped.
const redactedKey = "redacted"

// secretWords make a Details key look like a credential.
var secretWords = []string{"password", "passwd", "passphrase", "secret", "token", "key", "credential", "private", "cookie"}

// SecretKey reports whether a Details key looks like it names a credential:
// it contains, in any case, password, passwd, passphrase, secret, token,
// key, credential, private or cookie. The test is deliberately broad
// ("keyRing" and "monkey" match too): dropping a harmless detail costs
// little, writing a credential into a file kept forever costs a lot.
func SecretKey(k string) bool {
	k = strings.ToLower(k)
	for _, w := range secretWords {
		if strings.Contains(k, w) {
			return true
		}
	}
	return false
}

// secretValue reports whether a Details value looks like key material
// whatever its key: a PEM block or an HTTP authorization header.
func secretValue(v string) bool {
	return strings.Contains(v, "-----BEGIN ") || strings.HasPrefix(strings.ToLower(strings.TrimSpace(v)), "bearer ")
}

// sanitizeDetails returns a copy of d without the entries that look like
// credentials; the names of the keys it dropped are listed, sorted and
// comma-separated, under "redacted", so the ledger shows that something
// was withheld.
func sanitizeDetails(d map[string]string) map[string]string {
	if len(d) == 0 {
		return nil
	}
	out := make(map[string]string, len(d))
	var dropped []string
	for k, v := range d {
		if k == redactedKey {
			continue
		}
		if SecretKey(k) || secretValue(v) {
			dropped = append(dropped, k)
			continue
		}
		out[k] = v
	}
	if r, ok := d[redactedKey]; ok && r != "" {
		dropped = append(dropped, strings.Split(r, ",")...)
	}
	if len(dropped) > 0 {
		sort.Strings(dropped)
		out[redactedKey] = strings.Join(dropped, ",")
	}
	return out
}

// prepare validates e, drops what Append fills and copies what the caller
// could change while the entry waits to be written.
func prepare(e Entry) (Entry, error) {
	if !e.Type.Valid() {
		_, err := ParseType(string(e.Type))
		return Entry{}, fmt.Errorf("ledger: %w", err)
	}
	if strings.TrimSpace(e.Actor) == "" {
		return Entry{}, errors.New("ledger: an entry needs an actor")
	}
	if strings.TrimSpace(e.Summary) == "" {
		return Entry{}, errors.New("ledger: an entry needs a summary")
	}
	e.Seq, e.Time, e.Prev, e.Hash, e.MAC = 0, time.Time{}, "", "", ""
	if e.Fields != nil {
		e.Fields = append([]string(nil), e.Fields...)
	}
	if e.Objects != nil {
		e.Objects = append([]string(nil), e.Objects...)
	}
	e.Details = sanitizeDetails(e.Details)
	return e, nil
}

// hashLen is the length of a hex SHA-256 (and of a hex HMAC-SHA256).
const hashLen = 2 * sha256.Size

// hashMember and macMember precede the hash and the MAC at the end of a
// line.
const (
	hashMember = `,"hash":"`
	macMember  = `,"mac":"`
)

// encodeLine returns e's line (with the newline) and its hash, and signs
// it with keys' signing key (no mac member when keys is nil). e.Hash and
// e.MAC are ignored.
func encodeLine(e Entry, keys *Keys) (line []byte, hash, mac string, err error) {
	body, err := encodeBody(e)
	if err != nil {
		return nil, "", "", err
	}
	sum := sha256.Sum256(body)
	hash = hex.EncodeToString(sum[:])
	if !keys.empty() {
		mac = keys.sign(hash)
	}
	return appendTail(body, hash, mac), hash, mac, nil
}

// encodeBody is the hashed part of e's line: {"seq":…,"prev":"…"}.
func encodeBody(e Entry) ([]byte, error) {
	e.Hash, e.MAC = "", ""
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(e); err != nil {
		return nil, fmt.Errorf("ledger: encoding entry: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// appendTail makes a line of a body: the body without its closing }, the
// hash member, the mac member if mac is set, } and a newline.
func appendTail(body []byte, hash, mac string) []byte {
	line := make([]byte, 0, len(body)+len(hashMember)+len(hash)+len(macMember)+len(mac)+4)
	line = append(line, body[:len(body)-1]...)
	line = append(line, hashMember...)
	line = append(line, hash...)
	line = append(line, '"')
	if mac != "" {
		line = append(line, macMember...)
		line = append(line, mac...)
		line = append(line, '"')
	}
	return append(line, "}\n"...)
}

// decodeLine parses one line (without its newline) and checks that its hash
// matches its content. It returns the parsed entry even when only the hash
// is wrong (errHashMismatch), so Verify can say which seq it is. The MAC,
// if any, is only checked for its form here (Keys.checkMAC checks it).
func decodeLine(line []byte) (Entry, error) { return parseLine(line, true) }

// parseLine is decodeLine, with the hash check optional (Read skips it).
func parseLine(line []byte, checkHash bool) (Entry, error) {
	var e Entry
	if err := json.Unmarshal(line, &e); err != nil {
		return Entry{}, fmt.Errorf("%w: %v", errUnparsable, err)
	}
	cut, stored, mac, err := splitTail(line)
	if err != nil {
		return e, fmt.Errorf("%w: %v", errUnparsable, err)
	}
	if stored != e.Hash || mac != e.MAC {
		return e, fmt.Errorf("%w: the line has more than one hash or mac member", errUnparsable)
	}
	if !checkHash {
		return e, nil
	}
	body := make([]byte, 0, cut+1)
	body = append(body, line[:cut]...)
	body = append(body, '}')
	sum := sha256.Sum256(body)
	if got := hex.EncodeToString(sum[:]); got != stored {
		return e, fmt.Errorf("%w: content hashes to %s, the line says %s", errHashMismatch, got, stored)
	}
	return e, nil
}

// splitTail finds the members at the end of a line:
// `,"hash":"<64 hex>"}` or `,"hash":"<64 hex>","mac":"<key ID>:<64 hex>"}`.
// cut is where the hash member starts: the hashed body is line[:cut]+"}".
func splitTail(line []byte) (cut int, hash, mac string, err error) {
	errNoHash := errors.New("the line does not end with its hash member")
	n := len(line)
	if n < 2 || line[n-1] != '}' || line[n-2] != '"' {
		return 0, "", "", errNoHash
	}
	end := n - 2 // the closing quote of the last member's value
	if i := bytes.LastIndex(line, []byte(macMember)); i >= 0 && bytes.IndexByte(line[i+len(macMember):end], '"') < 0 {
		// The last member is the mac.
		mac = string(line[i+len(macMember) : end])
		id, sum, ok := strings.Cut(mac, ":")
		if !ok || !keyIDPattern.MatchString(id) || !isLowerHex(sum, hashLen) {
			return 0, "", "", fmt.Errorf("the mac member %q is malformed: want \"<key ID>:<%d lowercase hex digits>\"", mac, hashLen)
		}
		end = i - 1
		if end < 0 || line[end] != '"' {
			return 0, "", "", errors.New("the mac member does not follow the hash member")
		}
	}
	start := end - hashLen
	cut = start - len(hashMember)
	if cut < 1 || !bytes.Equal(line[cut:start], []byte(hashMember)) {
		return 0, "", "", errNoHash
	}
	return cut, string(line[start:end]), mac, nil
}

func isLowerHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

var (
	errUnparsable   = errors.New("unparsable")
	errHashMismatch = errors.New("hash mismatch")
)
