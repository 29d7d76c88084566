package ledger

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// forge rewrites es as someone who can write the ledger but has no key:
// from index from on, entries are renumbered, re-chained and re-hashed,
// and each gets mac(e) as its MAC (keepMAC: the one it had, which no
// longer matches). It returns the lines.
func forge(t testing.TB, es []Entry, from int, mac func(e Entry) string) []string {
	t.Helper()
	var lines []string
	prev := ""
	for i, e := range es {
		if i >= from {
			e.Seq, e.Prev = uint64(i+1), prev
			body, err := encodeBody(e)
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(body)
			e.Hash = hex.EncodeToString(sum[:])
			e.MAC = mac(e)
		}
		body, err := encodeBody(e)
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, strings.TrimSuffix(string(appendTail(body, e.Hash, e.MAC)), "\n"))
		prev = e.Hash
	}
	return lines
}

func keepMAC(e Entry) string { return e.MAC }
func noMAC(Entry) string     { return "" }

// A MAC of a key the forger made up.
func fakeKeyMAC(e Entry) string { return "k1-new:" + strings.Repeat("ab", 32) }

// Rewriting the chain with fresh hashes, which the hash chain alone cannot
// show, is caught by the first entry whose MAC does not match.
func TestVerifyMACRewrites(t *testing.T) {
	keys := testKeys(t, "k1")
	const n = 6
	for _, tc := range []struct {
		name   string
		forge  func(es []Entry) []string
		line   int
		seq    uint64
		kind   ProblemKind
		detail string
		// keyless: Verify without the key sees it too (a MAC missing
		// after entries with one).
		keyless bool
	}{{
		name: "an entry removed, the rest renumbered and re-hashed",
		forge: func(es []Entry) []string {
			return forge(t, slices.Delete(slices.Clone(es), 2, 3), 2, keepMAC)
		},
		line: 3, seq: 3, kind: ProblemMAC, detail: "MAC (key k1) does not match",
	}, {
		name: "an entry edited and re-hashed, with the entries after it",
		forge: func(es []Entry) []string {
			es = slices.Clone(es)
			es[3].Actor = "mallory"
			return forge(t, es, 3, keepMAC)
		},
		line: 4, seq: 4, kind: ProblemMAC, detail: "MAC (key k1) does not match",
	}, {
		name: "an entry edited and re-hashed, MACs removed from there on",
		forge: func(es []Entry) []string {
			es = slices.Clone(es)
			es[3].Actor = "mallory"
			return forge(t, es, 3, noMAC)
		},
		line: 4, seq: 4, kind: ProblemNoMAC, detail: "has no MAC, and entries before it have one", keyless: true,
	}, {
		name: "a forged entry with a key ID of its own",
		forge: func(es []Entry) []string {
			es = slices.Clone(es)
			es[4].Summary = "nothing happened"
			return forge(t, es, 4, fakeKeyMAC)
		},
		line: 5, seq: 5, kind: ProblemUnknownKey, detail: "key k1-new, which is not in the key file",
	}, {
		name: "an entry appended by someone without the key",
		forge: func(es []Entry) []string {
			extra := entry(99)
			extra.Time = es[n-1].Time
			return forge(t, append(slices.Clone(es), extra), n, noMAC)
		},
		line: 7, seq: 7, kind: ProblemNoMAC, keyless: true,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			path, es := keyedLedger(t, keys, n)
			if rep := verifyWith(t, path, VerifyOptions{Keys: keys}); !rep.OK() || rep.Authenticated != n ||
				!strings.HasPrefix(rep.String(), "ledger intact and authenticated: 6 entries") {
				t.Fatalf("before: %s", rep)
			}
			writeLines(t, path, tc.forge(es), true)

			// The chain alone is intact: that is the attack.
			if rep := mustVerify(t, path); rep.OK() == tc.keyless {
				t.Fatalf("without the key: %s", rep)
			}
			rep := verifyWith(t, path, VerifyOptions{Keys: keys})
			p := rep.Problem
			if p == nil || p.Line != tc.line || p.Seq != tc.seq || p.Kind != tc.kind || rep.Entries != tc.line-1 ||
				!strings.Contains(p.Detail, tc.detail) {
				t.Fatalf("got %s, want line %d seq %d %s", rep, tc.line, tc.seq, tc.kind)
			}
			s := rep.String()
			if !strings.HasPrefix(s, "ledger BROKEN at line "+strconv.Itoa(tc.line)) || !strings.Contains(s, "nothing from that line on can be trusted") {
				t.Errorf("report:\n%s", s)
			}
		})
	}
}

// A key that does not match at the tail stops a writer from chaining after
// a forged last entry.
func TestOpenRefusesWrongMACAtTail(t *testing.T) {
	keys := testKeys(t, "k1")
	path, es := keyedLedger(t, keys, 3)
	es = slices.Clone(es)
	es[2].Summary = "nothing to see"
	writeLines(t, path, forge(t, es, 2, keepMAC), true)
	if _, err := OpenWith(t.Context(), path, Options{Keys: keys}); err == nil || !strings.Contains(err.Error(), "MAC (key k1) does not match") {
		t.Fatalf("Open: %v", err)
	}
	// Without the key, the writer cannot tell.
	l, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
}

// Without a key, MACs are reported as not checked.
func TestVerifyMACWithoutKey(t *testing.T) {
	keys := testKeys(t, "k1")
	path, es := keyedLedger(t, keys, 3)
	rep := mustVerify(t, path)
	s := rep.String()
	if !rep.OK() || rep.UncheckedMACs["k1"] != 3 || !strings.HasPrefix(s, "hash chain intact: 3 entries, last hash "+es[2].Hash) ||
		!strings.Contains(s, "MACs NOT CHECKED: no key given (--ledger-key-file); 3 entries carry a MAC (k1: 3)") {
		t.Fatalf("report:\n%s", s)
	}
	// The lines are what the documentation says: hash, then mac, last.
	data, _ := os.ReadFile(path)
	first := strings.Split(string(data), "\n")[0]
	if !strings.HasSuffix(first, `,"hash":"`+es[0].Hash+`","mac":"`+es[0].MAC+`"}`) || !strings.HasPrefix(es[0].MAC, "k1:") {
		t.Fatalf("line: %s", first)
	}
}
