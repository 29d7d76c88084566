package ledger

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"
)

// Filter selects entries. Zero fields match everything.
type Filter struct {
	// Object selects by object, in one of three forms:
	//   - "Topic team-a/orders" (with a space): that object exactly;
	//   - "Topic/orders": objects of that kind whose name starts with
	//     "orders" (any namespace); "Topic/team-a/orders": whose
	//     namespace/name starts with "team-a/orders"; "Topic/" every Topic;
	//   - "Topic" (no slash, no space): objects of that kind.
	// Kinds compare case-insensitively, namespaces and names exactly. An
	// entry matches if its Object or one of its Objects (a sync) matches.
	Object string
	// Type selects one entry type.
	Type Type
	// Actor selects one actor exactly, or, ending in "/", a family of
	// actors: "controller/" matches every controller.
	Actor string
	// Since and Until bound Time: Since <= Time < Until.
	Since, Until time.Time
	// BreakGlass selects the entries of one break-glass: "namespace/name",
	// or a name alone (any namespace).
	BreakGlass string
}

// Match reports whether e passes the filter.
func (f Filter) Match(e Entry) bool {
	if f.Type != "" && e.Type != f.Type {
		return false
	}
	if f.Actor != "" {
		if strings.HasSuffix(f.Actor, "/") {
			if !strings.HasPrefix(e.Actor, f.Actor) {
				return false
			}
		} else if e.Actor != f.Actor {
			return false
		}
	}
	if !f.Since.IsZero() && e.Time.Before(f.Since) {
		return false
	}
	if !f.Until.IsZero() && !e.Time.Before(f.Until) {
		return false
	}
	if f.BreakGlass != "" && e.BreakGlass != f.BreakGlass && !strings.HasSuffix(e.BreakGlass, "/"+f.BreakGlass) {
		return false
	}
	if f.Object != "" {
		if matchObject(f.Object, e.Object) {
			return true
		}
		for _, o := range e.Objects {
			if matchObject(f.Object, ListedObject(o)) {
				return true
			}
		}
		return false
	}
	return true
}

// syncVerbs are the verbs of a sync's Objects.
var syncVerbs = []string{"created", "configured", "pruned", "released"}

// ListedObject turns one of an entry's Objects into the form of Object:
// a sync's "created Topic/team-a/orders" is "Topic team-a/orders", its
// "pruned Blueprint/queue" "Blueprint queue"; a break-glass's "Topic/orders"
// (or "Topic/orders Returned") is "Topic orders", its namespace being the
// break-glass's. What is already in that form is returned as it is.
func ListedObject(o string) string {
	head, tail, spaced := strings.Cut(o, " ")
	if strings.Contains(head, "/") { // a break-glass's Kind/name
		kind, name, _ := strings.Cut(head, "/")
		return ObjectRef(kind, "", name)
	}
	if !spaced || !slices.Contains(syncVerbs, head) {
		return o
	}
	parts := strings.Split(tail, "/")
	switch len(parts) {
	case 3:
		return ObjectRef(parts[0], parts[1], parts[2])
	case 2:
		return ObjectRef(parts[0], "", parts[1])
	}
	return o
}

// matchObject matches an object reference ("Kind ns/name") against a
// Filter.Object pattern.
func matchObject(pattern, object string) bool {
	if object == "" {
		return false
	}
	kind, ref, _ := strings.Cut(object, " ")
	if pk, pref, ok := strings.Cut(pattern, " "); ok {
		return strings.EqualFold(kind, pk) && ref == pref
	}
	pk, pref, ok := strings.Cut(pattern, "/")
	if !strings.EqualFold(kind, pk) {
		return false
	}
	if !ok {
		return true
	}
	if strings.Contains(pref, "/") {
		return strings.HasPrefix(ref, pref)
	}
	name := ref
	if i := strings.LastIndexByte(ref, '/'); i >= 0 {
		name = ref[i+1:]
	}
	return strings.HasPrefix(name, pref)
}

// Read returns the entries of the ledger at path that pass f, in order. It
// takes no lock and works while another process appends: a last line
// without its newline is a write in progress (or a crash's remains) and is
// skipped. Read parses but does not check hashes; Verify does. A complete
// line that does not parse is an error naming the line.
//
// A path that is a PostgreSQL URL (IsDatabase) reads that database's
// ledger, as ReadLocation does.
func Read(path string, f Filter) ([]Entry, error) {
	return ReadLocation(context.Background(), path, f)
}

// ReadLocation is Read for a file or a database ledger (see OpenLocation);
// ctx matters for a database only. From a database, the rows within f's
// time bounds (widened by a millisecond: the time column holds
// microseconds) are read in seq order, and the whole filter is applied
// here, to each entry's line: the result is what Read of the same ledger
// as a file returns. The error wraps fs.ErrNotExist when the database has
// no ledger table.
func ReadLocation(ctx context.Context, loc string, f Filter) ([]Entry, error) {
	if IsDatabase(loc) {
		return readPG(ctx, loc, f)
	}
	return readFile(loc, f)
}

func readFile(path string, f Filter) ([]Entry, error) {
	file, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer file.Close()
	var out []Entry
	err = scanLines(file, func(n int, line []byte, complete bool) error {
		if !complete {
			return nil
		}
		e, err := parseLine(line, false)
		if err != nil {
			return fmt.Errorf("%s: line %d: %v (see `infraplane audit --verify`)", path, n, err)
		}
		if f.Match(e) {
			out = append(out, e)
		}
		return nil
	})
	return out, err
}

// ReadFrom is Read of a ledger file from byte offset on: offset is 0, or
// what an earlier ReadFrom of the same file returned. It returns the
// entries of the complete lines from there that pass f, and the offset
// after the last complete line, for the next call: a reader that keeps
// what it read parses only what was appended since (the file is
// append-only). A line that does not parse is an error naming its byte
// offset.
func ReadFrom(path string, offset int64, f Filter) ([]Entry, int64, error) {
	file, err := os.Open(path)
	if err != nil {
		return nil, offset, err
	}
	defer file.Close()
	if _, err := file.Seek(offset, io.SeekStart); err != nil {
		return nil, offset, err
	}
	var out []Entry
	err = scanLines(file, func(_ int, line []byte, complete bool) error {
		if !complete {
			return nil
		}
		e, err := parseLine(line, false)
		if err != nil {
			return fmt.Errorf("%s: the line at byte %d: %v (see `infraplane audit --verify`)", path, offset, err)
		}
		offset += int64(len(line)) + 1
		if f.Match(e) {
			out = append(out, e)
		}
		return nil
	})
	return out, offset, err
}

// scanLines calls fn for each line of r (1-based line number, the line
// without its newline, and whether it had one), stopping at fn's first error.
func scanLines(r io.Reader, fn func(n int, line []byte, complete bool) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	for n := 1; ; n++ {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// A long line: gather it.
			long := append([]byte(nil), line...)
			for errors.Is(err, bufio.ErrBufferFull) {
				line, err = br.ReadSlice('\n')
				long = append(long, line...)
			}
			line = long
		}
		switch {
		case err == nil:
			if ferr := fn(n, line[:len(line)-1], true); ferr != nil {
				return ferr
			}
		case errors.Is(err, io.EOF):
			if len(line) > 0 {
				return fn(n, line, false)
			}
			return nil
		default:
			return err
		}
	}
}
