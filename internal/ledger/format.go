package ledger

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Output formats for Format.
const (
	FormatTable = "table"
	FormatJSON  = "json"
)

// TableWidth is the width Format's table fits in.
const TableWidth = 120

// Format writes entries to w as a table (TIME, TYPE, ACTOR, OBJECT,
// SUMMARY; one line per entry, at most TableWidth columns, cut with "…")
// or as JSON Lines (each entry as in the ledger, hashes included, for jq).
func Format(w io.Writer, entries []Entry, format string) error {
	switch format {
	case FormatTable, "":
		return formatTable(w, entries)
	case FormatJSON:
		for _, e := range entries {
			// The stored hash and MAC, not recomputed ones: the output
			// shows what the ledger holds.
			body, err := encodeBody(e)
			if err != nil {
				return err
			}
			hash := e.Hash
			if hash == "" {
				sum := sha256.Sum256(body)
				hash = hex.EncodeToString(sum[:])
			}
			if _, err := w.Write(appendTail(body, hash, e.MAC)); err != nil {
				return err
			}
		}
		return nil
	default:
		return fmt.Errorf("unknown output format %q: table or json", format)
	}
}

const timeLayout = "2006-01-02T15:04:05Z"

func formatTable(w io.Writer, entries []Entry) error {
	if len(entries) == 0 {
		_, err := fmt.Fprintln(w, "no matching entries")
		return err
	}
	const gap, minSummary = 2, 30
	cols := []string{"TIME", "TYPE", "ACTOR", "OBJECT", "SUMMARY"}
	limits := []int{len(timeLayout), 19, 24, 32}
	widths := make([]int, 4)
	for i := range widths {
		widths[i] = len(cols[i])
	}
	rows := make([][]string, len(entries))
	for i, e := range entries {
		summary := e.Summary
		if e.Error != "" && !strings.Contains(summary, e.Error) {
			summary += ": " + e.Error
		}
		rows[i] = []string{e.Time.UTC().Format(timeLayout), string(e.Type), e.Actor, e.Object, summary}
		for c := range widths {
			widths[c] = max(widths[c], min(utf8.RuneCountInString(rows[i][c]), limits[c]))
		}
	}
	// Leave the summary at least minSummary columns: narrow the wider of
	// ACTOR and OBJECT until it fits.
	used := 0
	for _, wd := range widths {
		used += wd + gap
	}
	for ; used > TableWidth-minSummary; used-- {
		if widths[3] >= widths[2] {
			widths[3]--
		} else {
			widths[2]--
		}
	}
	summaryWidth := TableWidth - used
	var b strings.Builder
	writeRow := func(row []string) {
		b.Reset()
		for c, wd := range widths {
			cell := cut(row[c], wd)
			if c == 3 {
				cell = cutObject(row[c], wd)
			}
			b.WriteString(cell)
			b.WriteString(strings.Repeat(" ", wd-utf8.RuneCountInString(cell)+gap))
		}
		b.WriteString(cut(oneLine(row[4]), summaryWidth))
		b.WriteByte('\n')
	}
	writeRow(cols)
	if _, err := io.WriteString(w, b.String()); err != nil {
		return err
	}
	for _, row := range rows {
		writeRow(row)
		if _, err := io.WriteString(w, b.String()); err != nil {
			return err
		}
	}
	return nil
}

// cut shortens s to n runes, ending in "…" when it had to cut.
func cut(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// cutObject shortens an object reference to n runes in the middle, keeping
// the kind and the end of the name: "Subscription …/orders-sub".
func cutObject(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	head := strings.IndexByte(s, ' ') + 1
	if head <= 0 || n-head-1 < 8 {
		head = n / 3
	}
	head = utf8.RuneCountInString(s[:min(head, len(s))])
	tail := n - head - 1
	return string(r[:head]) + "…" + string(r[len(r)-tail:])
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// ParseTime reads a --since/--until value: a duration before now ("90m",
// "1h30m", "2d"), an RFC 3339 time ("2025-06-01T12:00:00Z") or a date
// ("2025-06-01", midnight UTC).
func ParseTime(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if days, ok := strings.CutSuffix(s, "d"); ok {
		if n, err := strconv.Atoi(days); err == nil && n >= 0 {
			return now.Add(-time.Duration(n) * 24 * time.Hour), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil {
		if d < 0 {
			return time.Time{}, fmt.Errorf("%q: give a positive duration (how long ago)", s)
		}
		return now.Add(-d), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%q is neither a duration (1h, 30m, 2d) nor a time (RFC 3339, or YYYY-MM-DD)", s)
}

// AuditOptions are the inputs of `infraplane audit`, as given on the
// command line.
type AuditOptions struct {
	// DataDir is the data dir of `infraplane up`; the ledger is
	// DataDir/ledger.jsonl unless Path is set.
	DataDir string
	// Path is the ledger: a file, or a PostgreSQL URL (see OpenLocation).
	Path string
	// Object, Type, Actor, BreakGlass, Since and Until filter (see
	// Filter, ParseTime).
	Object, Type, Actor, BreakGlass, Since, Until string
	// Output is table or json.
	Output string
	// Verify checks the chain instead of listing entries.
	Verify bool
	// KeyFile holds the keys that check the MACs (see ParseKeys). Empty:
	// ledger.key next to a ledger file (DataDir/ledger.key), if there is
	// one; a database ledger has no default.
	KeyFile string
	// CheckpointDatabase is the PostgreSQL URL of the checkpoint table
	// (PGCheckpoints). Empty: the ledger's own database, for a database
	// ledger; "-": none.
	CheckpointDatabase string
	// Checkpoints are more checkpoint sources (the CLI adds the Kubernetes
	// ConfigMap).
	Checkpoints []CheckpointSource
}

// ErrVerifyFailed is returned by RunAudit when Verify found a problem.
var ErrVerifyFailed = errors.New("ledger verification failed")

// RunAudit does what `infraplane audit` does, writing to w: list the
// entries that pass the filters, or, with Verify, check the chain, the
// MACs and the checkpoints and print the report, returning an error
// wrapping ErrVerifyFailed if it found a problem.
func RunAudit(w io.Writer, o AuditOptions, now time.Time) error {
	ctx := context.Background()
	loc := o.Path
	dataDir := o.DataDir
	if loc == "" {
		if dataDir == "" {
			dataDir = ".infraplane"
		}
		loc = DefaultPath(dataDir)
	} else {
		dataDir = filepath.Dir(loc)
	}
	notFound := func(err error) error {
		switch {
		case !errors.Is(err, fs.ErrNotExist):
			return err
		case IsDatabase(loc):
			return fmt.Errorf("no ledger in %s (no table %s): has an infraplane controller with --ledger run against this database?", RedactLocation(loc), TableName)
		default:
			return fmt.Errorf("no ledger at %s: is infraplane up running with --data-dir %s?", loc, dataDir)
		}
	}
	if o.Verify {
		vo := VerifyOptions{Checkpoints: o.Checkpoints}
		keyFile := o.KeyFile
		if keyFile == "" && !IsDatabase(loc) {
			if p := DefaultKeyPath(dataDir); fileExists(p) {
				keyFile = p
			}
		}
		if keyFile != "" {
			k, err := LoadKeys(keyFile)
			if err != nil {
				return fmt.Errorf("--ledger-key-file: %w", err)
			}
			vo.Keys = k
		}
		cpdb := o.CheckpointDatabase
		if cpdb == "" && IsDatabase(loc) {
			cpdb = loc
		}
		if cpdb != "" && cpdb != "-" {
			pc, err := NewPGCheckpoints(cpdb)
			if err != nil {
				return fmt.Errorf("--ledger-checkpoint-database: %w", err)
			}
			vo.Checkpoints = append(slices.Clip(vo.Checkpoints), pc)
		}
		rep, err := VerifyWith(ctx, loc, vo)
		if err != nil {
			return notFound(err)
		}
		if _, err := fmt.Fprintln(w, rep); err != nil {
			return err
		}
		if !rep.OK() {
			return fmt.Errorf("%w: %s", ErrVerifyFailed, RedactLocation(loc))
		}
		return nil
	}
	if o.Output != "" && o.Output != FormatTable && o.Output != FormatJSON {
		return fmt.Errorf("-o must be table or json, not %q", o.Output)
	}
	f := Filter{Object: o.Object, Actor: o.Actor, BreakGlass: o.BreakGlass}
	var err error
	if o.Type != "" {
		if f.Type, err = ParseType(o.Type); err != nil {
			return fmt.Errorf("--type: %w", err)
		}
	}
	if o.Since != "" {
		if f.Since, err = ParseTime(o.Since, now); err != nil {
			return fmt.Errorf("--since: %w", err)
		}
	}
	if o.Until != "" {
		if f.Until, err = ParseTime(o.Until, now); err != nil {
			return fmt.Errorf("--until: %w", err)
		}
	}
	entries, err := ReadLocation(ctx, loc, f)
	if err != nil {
		return notFound(err)
	}
	return Format(w, entries, o.Output)
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
