package ledger

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
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
)

// Problem is the first broken line Verify found.
type Problem struct {
	// Line is the 1-based line number in the file; in a database ledger,
	// the 1-based row number in seq order.
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
}

// OK reports whether the whole ledger is intact.
func (r Report) OK() bool { return r.Problem == nil }

// String is the report for people: "ledger intact: N entries, last hash H"
// or where the chain breaks and what is wrong.
func (r Report) String() string {
	if r.OK() {
		if r.Entries == 0 {
			return "ledger intact: 0 entries (empty)"
		}
		return fmt.Sprintf("ledger intact: %d entries, last hash %s", r.Entries, r.LastHash)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "ledger BROKEN at %s\n", r.Problem)
	if r.Entries == 0 {
		b.WriteString("no entry before it is intact")
	} else {
		unit := "line"
		if r.Problem.row {
			unit = "row"
		}
		fmt.Fprintf(&b, "the %d entries before it are intact (up to seq %d, hash %s); nothing from that %s on can be trusted", r.Entries, r.LastSeq, r.LastHash, unit)
	}
	return b.String()
}

// Verify reads the ledger at path and recomputes its chain: every line
// must parse, end with its hash member and hash to it; seq must run 1, 2,
// 3, … and prev must be the previous line's hash ("" on the first). It
// stops at the first problem. The error is for I/O only (e.g. the file
// does not exist, wrapping fs.ErrNotExist); a broken ledger is a Report
// with a Problem.
//
// Verify proves that the file is one unbroken chain. It cannot tell a
// ledger whose tail was cut off cleanly (whole lines removed from the end)
// from a shorter one, nor one rewritten entirely with new hashes: compare
// LastHash with a hash published earlier (Ledger.Head) for that.
//
// A path that is a PostgreSQL URL (IsDatabase) verifies that database's
// ledger, as VerifyLocation does.
func Verify(path string) (Report, error) {
	return VerifyLocation(context.Background(), path)
}

// VerifyLocation is Verify for a file or a database ledger (see
// OpenLocation); ctx matters for a database only. In a database, the rows
// are checked in seq order, each line as a file's line (an UPDATE of a
// line fails its hash, a DELETE is a seq gap, lines swapped between rows
// are out of order), and each row's seq and time columns must match its
// line (ProblemColumn). Problem.Line is then the row number. The error
// wraps fs.ErrNotExist when the database has no ledger table.
func VerifyLocation(ctx context.Context, loc string) (Report, error) {
	if IsDatabase(loc) {
		return verifyPG(ctx, loc)
	}
	return verifyFile(loc)
}

func verifyFile(path string) (Report, error) {
	rep := Report{Path: path}
	f, err := os.Open(path)
	if err != nil {
		return rep, err
	}
	defer f.Close()
	err = scanLines(f, func(n int, line []byte, complete bool) error {
		p := checkLine(n, line, complete, rep.LastSeq, rep.LastHash)
		if p != nil {
			rep.Problem = p
			return errStop
		}
		e, _ := decodeLine(line) // checked above
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
