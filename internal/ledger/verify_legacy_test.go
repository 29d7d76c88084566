package ledger

import (
	"context"
	"strings"
	"testing"
)

// A ledger written before there were keys: its entries are reported as
// unauthenticated, never as plainly intact; once a writer opens it with a
// key, the entries from its ledger-key entry on are authenticated.
func TestVerifyLegacyLedger(t *testing.T) {
	keys := testKeys(t, "k1")
	path, _ := sealed(t, 3)

	rep := mustVerify(t, path)
	s := rep.String()
	if !rep.OK() || rep.Unauthenticated != 3 || !strings.HasPrefix(s, "hash chain intact: 3 entries") ||
		!strings.Contains(s, "NOT AUTHENTICATED: no entry carries a MAC (written without a key)") {
		t.Fatalf("without a key:\n%s", s)
	}
	// With the key, a ledger that no entry of which is authenticated is a
	// problem: its MACs may have been removed.
	rep = verifyWith(t, path, VerifyOptions{Keys: keys})
	if p := rep.Problem; p == nil || p.Kind != ProblemUnauthenticated || p.Line != 3 || !strings.Contains(p.Detail, "no entry is authenticated by the key file's keys (k1)") ||
		!strings.Contains(rep.String(), "the hash chain of its 3 entries is intact, but nothing shows") {
		t.Fatalf("with a key, before any keyed writer:\n%s", rep)
	}

	// The first keyed Open records the key; the old entries stay
	// unauthenticated, the new ones are.
	l, err := OpenWith(context.Background(), path, Options{Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 4, 1)
	l.Close()
	rep = verifyWith(t, path, VerifyOptions{Keys: keys})
	s = rep.String()
	if !rep.OK() || rep.Unauthenticated != 3 || rep.Authenticated != 2 || rep.FirstAuthenticated != 4 ||
		!strings.HasPrefix(s, "hash chain intact: 5 entries") ||
		!strings.Contains(s, "authenticated: 2 entries, from seq 4 on, carry a valid MAC (key k1)") ||
		!strings.Contains(s, "NOT AUTHENTICATED: entries 1 to 3 carry no MAC (written before the ledger had a key)") {
		t.Fatalf("after the first keyed writer:\n%s", s)
	}

	// Removing every MAC (and re-hashing) makes it look legacy again: with
	// the key, that shows.
	es, err := Read(path, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	writeLines(t, path, forge(t, es, 0, noMAC), true)
	if rep := verifyWith(t, path, VerifyOptions{Keys: keys}); rep.Problem == nil || rep.Problem.Kind != ProblemUnauthenticated {
		t.Fatalf("MACs stripped: %s", rep)
	}
}
