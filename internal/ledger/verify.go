package ledger

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"iter"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// ProblemKind names what is wrong with a ledger line.
type ProblemKind string

// The problems Verify finds.
const (
	// ProblemUnparsable: the line is not an entry (not JSON, or no hash
	// member at its end).
	ProblemUnparsable ProblemKind = "unparsable line"
	// ProblemTruncated: the last line has no newline: a write was cut
	// short (a crash), or the file was cut.
	ProblemTruncated ProblemKind = "truncated line"
	// ProblemHash: the line's content does not hash to its hash: the entry
	// was edited.
	ProblemHash ProblemKind = "hash mismatch"
	// ProblemSeq: the seq is not the previous one plus one: entries were
	// deleted, reordered or duplicated.
	ProblemSeq ProblemKind = "seq gap"
	// ProblemPrev: prev is not the previous entry's hash: the entry before
	// it was replaced, or lines were deleted or reordered and renumbered.
	ProblemPrev ProblemKind = "prev mismatch"
	// ProblemColumn (database ledgers): a row's seq or time column does
	// not match its line: the row was edited, or rows were renumbered.
	ProblemColumn ProblemKind = "column mismatch"
	// ProblemMAC: the entry's MAC does not match its hash under the key it
	// names: the entry was changed, or re-hashed after an earlier one was
	// removed or changed, by someone without the key.
	ProblemMAC ProblemKind = "MAC mismatch"
	// ProblemNoMAC: an entry without a MAC after entries with one: added
	// or rewritten by someone without the key.
	ProblemNoMAC ProblemKind = "missing MAC"
	// ProblemUnknownKey: the entry's MAC names a key that is not in the
	// key file, after entries authenticated by one that is: forged (or
	// signed with a key that was removed from the file).
	ProblemUnknownKey ProblemKind = "unknown key"
	// ProblemUnauthenticated: keys were given, and no entry is
	// authenticated by them, the last one included.
	ProblemUnauthenticated ProblemKind = "not authenticated"
	// ProblemCheckpoint: a checkpoint recorded another hash for the
	// entry's seq: the ledger was rewritten at or before that entry.
	ProblemCheckpoint ProblemKind = "checkpoint mismatch"
	// ProblemTail: a checkpoint recorded a seq beyond the ledger's end:
	// entries were cut off the end (or an older copy replaced the ledger).
	ProblemTail ProblemKind = "truncated tail"
)

// Problem is the first broken line Verify found.
type Problem struct {
	// Line is the 1-based line number in the file; in a database ledger,
	// the 1-based row number in seq order. For ProblemTail, the last line
	// (0 for an empty ledger).
	Line int
	// Seq is the entry's seq as the line states it, 0 if unknown.
	Seq    uint64
	Kind   ProblemKind
	Detail string

	row bool // Line counts rows of a table
}

func (p Problem) String() string {
	unit := "line"
	if p.row {
		unit = "row"
	}
	where := fmt.Sprintf("%s %d", unit, p.Line)
	if p.Seq != 0 {
		where += fmt.Sprintf(" (seq %d)", p.Seq)
	}
	if p.Kind == ProblemTail {
		where = "the end"
		if p.Line > 0 {
			where = fmt.Sprintf("the end, after %s %d (seq %d)", unit, p.Line, p.Seq)
		}
	}
	return fmt.Sprintf("%s: %s: %s", where, p.Kind, p.Detail)
}

// Report is the result of Verify.
type Report struct {
	// Path is the file, or the database (RedactLocation).
	Path string
	// Entries is the number of intact entries, from the first line up to
	// the first problem (all of them when there is none).
	Entries int
	// LastSeq and LastHash are those of the last intact entry.
	LastSeq  uint64
	LastHash string
	// Problem is the first problem, nil when the ledger is intact.
	Problem *Problem

	// Keyed: keys were given to check the MACs.
	Keyed bool
	// Authenticated entries carry a MAC that the keys verified
	// (AuthenticatedKeys, in order of first use); the first of them is
	// FirstAuthenticated (a seq).
	Authenticated      int
	FirstAuthenticated uint64
	AuthenticatedKeys  []string
	// Unauthenticated entries carry no MAC: the first ones of a ledger
	// written before it had a key (after an entry with a MAC, a missing
	// one is a Problem).
	Unauthenticated int
	// UncheckedMACs counts, by key ID, the entries whose MAC was not
	// checked: no keys were given, or the key is not among them (a
	// retired key; only before the first authenticated entry, after it an
	// unknown key is a Problem).
	UncheckedMACs map[string]int
	// Checkpoints is what each checkpoint source showed.
	Checkpoints []CheckpointCheck
	// Unfinished are the cloud writes whose intent is in the ledger and
	// whose outcome is not: the writer stopped in between (a crash), could
	// not record the outcome, or is sending it now. Not a break of the
	// chain: a gap in what the ledger knows of the cloud.
	Unfinished []Entry
}

// CheckpointCheck is what comparing the ledger with one checkpoint source
// showed (a mismatch, or a checkpoint beyond the end, is the Report's
// Problem).
type CheckpointCheck struct {
	Source string
	// Matched is how many checkpoints matched the ledger; Last is the
	// last of them.
	Matched int
	Last    Checkpoint
	// Err is why (some of) the source's checkpoints could not be read:
	// they were not compared.
	Err error
}

// OK reports whether the whole ledger is intact: no Problem. Entries
// without a MAC or whose MAC was not checked are reported (String), and
// are not a Problem by themselves.
func (r Report) OK() bool { return r.Problem == nil }

// String is the report for people: whether the chain is intact and
// authenticated, or where it breaks and what is wrong; then which entries
// the MACs vouch for, and what each checkpoint source showed.
func (r Report) String() string {
	var b strings.Builder
	unit := "line"
	if r.Problem != nil && r.Problem.row {
		unit = "row"
	}
	switch {
	case r.OK() && r.Entries == 0:
		b.WriteString("ledger intact: 0 entries (empty)")
	case r.OK() && r.Authenticated == r.Entries:
		fmt.Fprintf(&b, "ledger intact and authenticated: %d entries, last hash %s", r.Entries, r.LastHash)
	case r.OK():
		fmt.Fprintf(&b, "hash chain intact: %d entries, last hash %s", r.Entries, r.LastHash)
	default:
		fmt.Fprintf(&b, "ledger BROKEN at %s\n", r.Problem)
		switch {
		case r.Problem.Kind == ProblemTail && r.Entries > 0:
			fmt.Fprintf(&b, "its entries up to seq %d (hash %s) are intact; those after them are gone", r.LastSeq, r.LastHash)
		case r.Problem.Kind == ProblemTail:
			b.WriteString("it has no entries")
		case r.Problem.Kind == ProblemUnauthenticated:
			fmt.Fprintf(&b, "the hash chain of its %s is intact, but nothing shows that it was written by a holder of the key", entries(r.Entries))
		case r.Entries == 0:
			b.WriteString("no entry before it is intact")
		default:
			fmt.Fprintf(&b, "the %d entries before it are intact (up to seq %d, hash %s); nothing from that %s on can be trusted", r.Entries, r.LastSeq, r.LastHash, unit)
		}
	}
	if r.Entries > 0 {
		r.writeMACs(&b)
	}
	r.writeCheckpoints(&b)
	r.writeUnfinished(&b)
	return b.String()
}

// writeUnfinished lists the cloud writes whose outcome is not recorded.
func (r Report) writeUnfinished(b *strings.Builder) {
	if len(r.Unfinished) == 0 {
		return
	}
	fmt.Fprintf(b, "\nOUTCOME NOT RECORDED: %s of a cloud write without its outcome (the writer stopped in between, could not record it, or is sending it now): check these in the cloud:", entries(len(r.Unfinished)))
	for i, e := range r.Unfinished {
		if i == 10 {
			fmt.Fprintf(b, "\n  … and %d more", len(r.Unfinished)-10)
			break
		}
		fmt.Fprintf(b, "\n  seq %d %s: %s", e.Seq, e.Object, e.Summary)
	}
}

func (r Report) writeMACs(b *strings.Builder) {
	keys := strings.Join(r.AuthenticatedKeys, ", ")
	switch {
	case r.Authenticated > 0 && r.Authenticated == r.Entries:
		fmt.Fprintf(b, "\nauthenticated: all %d entries carry a valid MAC (key %s)", r.Entries, keys)
	case r.Authenticated > 0:
		fmt.Fprintf(b, "\nauthenticated: %s, from seq %d on, carry a valid MAC (key %s)", entries(r.Authenticated), r.FirstAuthenticated, keys)
	}
	switch {
	case r.Unauthenticated == 0:
	case r.Unauthenticated == r.Entries:
		b.WriteString("\nNOT AUTHENTICATED: no entry carries a MAC (written without a key): whoever can write the ledger could have rewritten it, and only the checkpoints can show that")
	default:
		fmt.Fprintf(b, "\nNOT AUTHENTICATED: entries 1 to %d carry no MAC (written before the ledger had a key): only the hash chain and the checkpoints vouch for them", r.Unauthenticated)
	}
	if len(r.UncheckedMACs) > 0 {
		var ids []string
		n := 0
		for id, c := range r.UncheckedMACs {
			ids = append(ids, fmt.Sprintf("%s: %d", id, c))
			n += c
		}
		sort.Strings(ids)
		if r.Keyed {
			fmt.Fprintf(b, "\nNOT VERIFIABLE: %s carry a MAC of a key that is not in the key file (%s): add those keys below the signing key to check them", entries(n), strings.Join(ids, ", "))
		} else {
			fmt.Fprintf(b, "\nMACs NOT CHECKED: no key given (--ledger-key-file); %s carry a MAC (%s)", entries(n), strings.Join(ids, ", "))
		}
	}
}

// entries is "1 entry" or "n entries".
func entries(n int) string {
	if n == 1 {
		return "1 entry"
	}
	return fmt.Sprintf("%d entries", n)
}

func (r Report) writeCheckpoints(b *strings.Builder) {
	if len(r.Checkpoints) == 0 {
		b.WriteString("\ncheckpoints: none checked: entries cut off the end, or a ledger rewritten with the key, would not show")
		return
	}
	for _, c := range r.Checkpoints {
		switch {
		case c.Err != nil && c.Matched > 0:
			fmt.Fprintf(b, "\ncheckpoint %s: %d matched (the last: %s), then NOT CHECKED: %v", c.Source, c.Matched, c.Last, c.Err)
		case c.Err != nil:
			fmt.Fprintf(b, "\ncheckpoint %s: NOT CHECKED: %v", c.Source, c.Err)
		case c.Matched == 0 && (r.Problem == nil || r.Problem.Kind != ProblemTail):
			fmt.Fprintf(b, "\ncheckpoint %s: none to compare with (none published up to seq %d)", c.Source, r.LastSeq)
		case c.Matched == 1:
			fmt.Fprintf(b, "\ncheckpoint %s: matches (%s)", c.Source, c.Last)
		case c.Matched > 1:
			fmt.Fprintf(b, "\ncheckpoint %s: %d match, the last: %s", c.Source, c.Matched, c.Last)
		}
	}
}

// VerifyOptions are VerifyWith's.
type VerifyOptions struct {
	// Keys check the entries' MACs. Nil: the MACs are not checked, and the
	// report says so.
	Keys *Keys
	// Checkpoints are compared with the ledger: the entry at each
	// checkpoint's seq must have its hash, and the ledger must reach the
	// last checkpoint's seq.
	Checkpoints []CheckpointSource
}

// Verify reads the ledger at path and recomputes its chain: every line
// must parse, end with its hash member (and optional mac member) and hash
// to it; seq must run 1, 2, 3, … and prev must be the previous line's hash
// ("" on the first). It stops at the first problem. The error is for I/O
// only (e.g. the file does not exist, wrapping fs.ErrNotExist); a broken
// ledger is a Report with a Problem.
//
// Verify checks no MAC and no checkpoint (VerifyWith does): it proves that
// the file is one unbroken chain, and cannot tell a ledger whose tail was
// cut off cleanly (whole lines removed from the end) from a shorter one,
// nor one rewritten with new hashes.
//
// A path that is a PostgreSQL URL (IsDatabase) verifies that database's
// ledger, as VerifyLocation does.
func Verify(path string) (Report, error) {
	return VerifyWith(context.Background(), path, VerifyOptions{})
}

// VerifyLocation is Verify for a file or a database ledger (see
// OpenLocation); ctx matters for a database only. In a database, the rows
// are checked in seq order, each line as a file's line (an UPDATE of a
// line fails its hash, a DELETE is a seq gap, lines swapped between rows
// are out of order), and each row's seq and time columns must match its
// line (ProblemColumn). Problem.Line is then the row number. The error
// wraps fs.ErrNotExist when the database has no ledger table.
func VerifyLocation(ctx context.Context, loc string) (Report, error) {
	return VerifyWith(ctx, loc, VerifyOptions{})
}

// VerifyWith is VerifyLocation that also checks the MACs with o.Keys and
// compares the ledger with o.Checkpoints, and names the first entry that
// does not match:
//
//   - With keys, every entry after the first one with a MAC must carry a
//     valid MAC of one of the keys (ProblemMAC, ProblemNoMAC,
//     ProblemUnknownKey); entries before it without a MAC (a ledger from
//     before keys) or with a MAC of a key not given (a retired key) are
//     counted, not a problem, but some entry must be authenticated
//     (ProblemUnauthenticated).
//   - Without keys, MACs are counted as not checked; an entry without a
//     MAC after one with a MAC is still ProblemNoMAC.
//   - An entry whose hash is not the one a checkpoint recorded for its seq
//     is ProblemCheckpoint; a checkpoint beyond the ledger's last entry is
//     ProblemTail. A source that cannot be read is reported in
//     Report.Checkpoints (not checked), not as a problem.
func VerifyWith(ctx context.Context, loc string, o VerifyOptions) (Report, error) {
	v := newVerifier(ctx, o)
	defer v.stop()
	var rep Report
	var err error
	if IsDatabase(loc) {
		rep, err = verifyPG(ctx, loc, v)
	} else {
		rep, err = verifyFile(loc, v)
	}
	if err != nil {
		return rep, err
	}
	v.finish(&rep)
	if rep.Problem != nil && IsDatabase(loc) {
		rep.Problem.row = true
	}
	return rep, nil
}

// verifier checks what the chain alone cannot: MACs and checkpoints.
type verifier struct {
	keys     *Keys
	cursors  []*cursor
	checks   []CheckpointCheck
	macSeen  bool             // an entry with a MAC came before
	authSeen bool             // an authenticated entry came before
	open     map[uint64]Entry // cloud-write intents without an outcome yet, by seq
}

// cursor walks one source's checkpoints alongside the ledger.
type cursor struct {
	i    int // in checks
	next func() (Checkpoint, error, bool)
	stop func()
	cur  Checkpoint
	ok   bool // cur is a checkpoint not yet compared
}

// newVerifier reads each source's first checkpoint (a query, a GET)
// before the ledger is read: a checkpoint published while Verify reads a
// growing ledger must not look like one beyond its end.
func newVerifier(ctx context.Context, o VerifyOptions) *verifier {
	v := &verifier{keys: o.Keys}
	for i, src := range o.Checkpoints {
		v.checks = append(v.checks, CheckpointCheck{Source: src.String()})
		next, stop := iter.Pull2(src.Checkpoints(ctx))
		c := &cursor{i: i, next: next, stop: stop}
		v.cursors = append(v.cursors, c)
		v.advance(c)
	}
	return v
}

func (v *verifier) advance(c *cursor) {
	for {
		cp, err, ok := c.next()
		switch {
		case !ok:
			c.ok = false
			return
		case err != nil:
			v.checks[c.i].Err = err
			c.ok = false
			return
		case cp.Seq > 0:
			c.cur, c.ok = cp, true
			return
		}
	}
}

func (v *verifier) stop() {
	for _, c := range v.cursors {
		c.stop()
	}
}

// entry checks the MAC of the entry on line n, whose chain is intact, and
// compares it with the checkpoints at its seq; it counts it in rep.
func (v *verifier) entry(rep *Report, n int, e Entry) *Problem {
	switch {
	case e.Type == TypeCloudWriteIntent:
		if v.open == nil {
			v.open = map[uint64]Entry{}
		}
		v.open[e.Seq] = e
	case e.Type == TypeCloudWrite && e.Details["intent"] != "":
		if seq, err := strconv.ParseUint(e.Details["intent"], 10, 64); err == nil {
			delete(v.open, seq)
		}
	}
	switch v.keys.checkMAC(e) {
	case macNone:
		if v.macSeen {
			return &Problem{Line: n, Seq: e.Seq, Kind: ProblemNoMAC,
				Detail: "the entry has no MAC, and entries before it have one: it was added or rewritten by someone without the key"}
		}
		rep.Unauthenticated++
	case macUnchecked:
		v.macSeen = true
		v.unchecked(rep, e)
	case macUnknown:
		v.macSeen = true
		if v.authSeen {
			return &Problem{Line: n, Seq: e.Seq, Kind: ProblemUnknownKey,
				Detail: fmt.Sprintf("the entry's MAC is of key %s, which is not in the key file, and entries before it are authenticated by keys that are: it was forged (or a key was removed from the key file: add it back below the signing key)", macKeyID(e.MAC))}
		}
		v.unchecked(rep, e)
	case macWrong:
		return &Problem{Line: n, Seq: e.Seq, Kind: ProblemMAC,
			Detail: fmt.Sprintf("the entry's MAC (key %s) does not match its hash: it was changed, or re-hashed after an entry before it was removed or changed, by someone without the key", macKeyID(e.MAC))}
	case macValid:
		v.macSeen, v.authSeen = true, true
		if rep.Authenticated == 0 {
			rep.FirstAuthenticated = e.Seq
		}
		rep.Authenticated++
		if id := macKeyID(e.MAC); !slices.Contains(rep.AuthenticatedKeys, id) {
			rep.AuthenticatedKeys = append(rep.AuthenticatedKeys, id)
		}
	}
	for _, c := range v.cursors {
		for c.ok && c.cur.Seq <= e.Seq {
			if c.cur.Seq == e.Seq {
				if c.cur.Hash != e.Hash {
					return &Problem{Line: n, Seq: e.Seq, Kind: ProblemCheckpoint,
						Detail: fmt.Sprintf("%s recorded hash %s for seq %d (published %s); the entry's hash is %s: the ledger was rewritten at or before this entry",
							v.checks[c.i].Source, c.cur.Hash, e.Seq, c.cur.Time.UTC().Format(time.RFC3339), e.Hash)}
				}
				v.checks[c.i].Matched++
				v.checks[c.i].Last = c.cur
			}
			v.advance(c)
		}
	}
	return nil
}

func (v *verifier) unchecked(rep *Report, e Entry) {
	if rep.UncheckedMACs == nil {
		rep.UncheckedMACs = map[string]int{}
	}
	rep.UncheckedMACs[macKeyID(e.MAC)]++
}

// finish looks for what shows only at the end: checkpoints beyond the last
// entry, and keys that authenticated nothing.
func (v *verifier) finish(rep *Report) {
	rep.Keyed = !v.keys.empty()
	rep.Checkpoints = v.checks
	for _, e := range v.open {
		rep.Unfinished = append(rep.Unfinished, e)
	}
	slices.SortFunc(rep.Unfinished, func(a, b Entry) int { return cmp.Compare(a.Seq, b.Seq) })
	if rep.Problem != nil {
		return
	}
	for _, c := range v.cursors {
		if !c.ok {
			continue
		}
		beyond := c.cur
		for c.ok { // the latest one
			beyond = c.cur
			v.advance(c)
		}
		missing := fmt.Sprintf("entries %d to %d were", rep.LastSeq+1, beyond.Seq)
		if beyond.Seq == rep.LastSeq+1 {
			missing = fmt.Sprintf("entry %d was", beyond.Seq)
		}
		rep.Problem = &Problem{Line: rep.Entries, Seq: rep.LastSeq, Kind: ProblemTail,
			Detail: fmt.Sprintf("%s recorded seq %d (hash %s) on %s, but the ledger ends at seq %d: %s removed from its end (or it was replaced by an older copy)",
				v.checks[c.i].Source, beyond.Seq, beyond.Hash, beyond.Time.UTC().Format(time.RFC3339), rep.LastSeq, missing)}
		return
	}
	if rep.Keyed && rep.Entries > 0 && rep.Authenticated == 0 {
		what := "carries no MAC"
		if rep.UncheckedMACs != nil {
			what = "carries no MAC of a key in the key file"
		}
		rep.Problem = &Problem{Line: rep.Entries, Seq: rep.LastSeq, Kind: ProblemUnauthenticated,
			Detail: fmt.Sprintf("no entry is authenticated by the key file's keys (%s), and the last one %s: the MACs were removed or never made with these keys. "+
				"A writer that opens the ledger with a key appends a ledger-key entry signed with it: if none has yet, start it; if it has, the ledger was rewritten",
				strings.Join(v.keys.IDs(), ", "), what)}
	}
}

func verifyFile(path string, v *verifier) (Report, error) {
	rep := Report{Path: path}
	f, err := os.Open(path)
	if err != nil {
		return rep, err
	}
	defer f.Close()
	err = scanLines(f, func(n int, line []byte, complete bool) error {
		p := checkLine(n, line, complete, rep.LastSeq, rep.LastHash)
		var e Entry
		if p == nil {
			e, _ = decodeLine(line) // checked above
			p = v.entry(&rep, n, e)
		}
		if p != nil {
			rep.Problem = p
			return errStop
		}
		rep.Entries++
		rep.LastSeq, rep.LastHash = e.Seq, e.Hash
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return rep, err
	}
	return rep, nil
}

var errStop = errors.New("stop")

// checkLine checks line n against the entry before it (prevSeq, prevHash).
func checkLine(n int, line []byte, complete bool, prevSeq uint64, prevHash string) *Problem {
	e, err := decodeLine(line)
	if !complete {
		return &Problem{Line: n, Seq: e.Seq, Kind: ProblemTruncated,
			Detail: fmt.Sprintf("the last line is incomplete (%d bytes, no newline): a write was interrupted (crash) or the file was cut", len(line))}
	}
	switch {
	case errors.Is(err, errHashMismatch):
		return &Problem{Line: n, Seq: e.Seq, Kind: ProblemHash, Detail: "the entry was changed after it was written: " + strings.TrimPrefix(err.Error(), errHashMismatch.Error()+": ")}
	case err != nil:
		return &Problem{Line: n, Kind: ProblemUnparsable, Detail: strings.TrimPrefix(err.Error(), errUnparsable.Error()+": ")}
	}
	if want := prevSeq + 1; e.Seq != want {
		var d string
		switch {
		case e.Seq == want+1:
			d = fmt.Sprintf("expected seq %d: entry %d is missing (deleted?) or out of order", want, want)
		case e.Seq > want:
			d = fmt.Sprintf("expected seq %d: entries %d to %d are missing (deleted?) or out of order", want, want, e.Seq-1)
		default:
			d = fmt.Sprintf("expected seq %d: this entry is out of order or duplicated", want)
		}
		return &Problem{Line: n, Seq: e.Seq, Kind: ProblemSeq, Detail: d}
	}
	if e.Prev != prevHash {
		what := "the previous line's hash " + quoteHash(prevHash)
		return &Problem{Line: n, Seq: e.Seq, Kind: ProblemPrev,
			Detail: fmt.Sprintf("prev is %s, not %s: the entry before it was replaced", quoteHash(e.Prev), what)}
	}
	return nil
}

func quoteHash(h string) string {
	if h == "" {
		return `""`
	}
	return h
}
