package ledger

import (
	"context"
	"strings"
	"testing"
)

// Rotation: a new key on top of the key file signs from the next Open on
// (which records the change in a ledger-key entry); the old key, kept
// below it, still verifies the entries it signed.
func TestKeyRotation(t *testing.T) {
	all := testKeys(t, "k2", "k1")
	old, rotated, newOnly := subset(t, all, "k1"), all, subset(t, all, "k2")
	path, _ := keyedLedger(t, old, 3)

	l, err := OpenWith(context.Background(), path, Options{Keys: rotated})
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 4, 2)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	es, err := Read(path, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	marker := es[3]
	if len(es) != 6 || marker.Type != TypeLedgerKey || marker.Actor != "infraplane" || !strings.HasPrefix(marker.MAC, "k2:") ||
		marker.Summary != "entries are signed with key k2 from here on (entries before it are signed with key k1)" ||
		marker.Details["signer"] != "k2" || marker.Details["previousSigner"] != "k1" ||
		!strings.HasPrefix(es[2].MAC, "k1:") || !strings.HasPrefix(es[5].MAC, "k2:") {
		t.Fatalf("entries: %+v", es)
	}

	// Both keys in the file: everything verifies.
	rep := verifyWith(t, path, VerifyOptions{Keys: rotated})
	if !rep.OK() || rep.Authenticated != 6 || strings.Join(rep.AuthenticatedKeys, ",") != "k1,k2" ||
		!strings.Contains(rep.String(), "authenticated: all 6 entries carry a valid MAC (key k1, k2)") {
		t.Fatalf("both keys: %s", rep)
	}

	// Only the new key (the old one leaked and was removed): the old
	// entries cannot be verified, and the report names their key.
	rep = verifyWith(t, path, VerifyOptions{Keys: newOnly})
	s := rep.String()
	if !rep.OK() || rep.Authenticated != 3 || rep.FirstAuthenticated != 4 || rep.UncheckedMACs["k1"] != 3 ||
		!strings.HasPrefix(s, "hash chain intact: 6 entries") ||
		!strings.Contains(s, "authenticated: 3 entries, from seq 4 on, carry a valid MAC (key k2)") ||
		!strings.Contains(s, "NOT VERIFIABLE: 3 entries carry a MAC of a key that is not in the key file (k1: 3)") {
		t.Fatalf("new key only:\n%s", s)
	}

	// Only the old key: the new entries are not vouched for.
	rep = verifyWith(t, path, VerifyOptions{Keys: old})
	if p := rep.Problem; p == nil || p.Kind != ProblemUnknownKey || p.Seq != 4 || !strings.Contains(p.Detail, "key k2, which is not in the key file") {
		t.Fatalf("old key only: %s", rep)
	}

	// Reopening with the same signing key records nothing new.
	l, err = OpenWith(context.Background(), path, Options{Keys: rotated})
	if err != nil {
		t.Fatal(err)
	}
	if seq, _ := l.Head(); seq != 6 {
		t.Fatalf("Head %d after reopening with the same key", seq)
	}
	l.Close()
}
