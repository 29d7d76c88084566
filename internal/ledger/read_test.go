package ledger

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"
)

// sample writes a small mixed ledger and returns its path and entries.
func sample(t *testing.T) (string, []Entry) {
	t.Helper()
	l, path := newLedger(t)
	ctx := context.Background()
	var out []Entry
	add := func(e Entry) {
		got, err := l.Append(ctx, e)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, got)
	}
	add(Entry{Type: TypeSync, Actor: "syncer", Summary: "synced abc123", Revision: "abc123", Author: "carol",
		Objects: []string{"Topic team-a/orders", "Subscription team-a/orders-sub"}})
	add(Entry{Type: TypeCloudWrite, Actor: "controller/Topic", Object: "Topic team-a/orders", Summary: "created orders"})
	add(Entry{Type: TypeCloudWrite, Actor: "controller/Topic", Object: "Topic team-b/orders-dlq", Summary: "created orders-dlq"})
	add(Entry{Type: TypeCloudWrite, Actor: "controller/Subscription", Object: "Subscription team-a/orders-sub", Summary: "created orders-sub"})
	add(Entry{Type: TypeDirectEdit, Actor: "dave", Object: "Topic team-a/payments", Summary: "kubectl edit", Fields: []string{"spec.labels"}})
	add(Entry{Type: TypeBreakGlassOpen, Actor: "erin", Summary: "break-glass on team-a", BreakGlass: "bg-1", Reason: "incident 42"})
	return path, out
}

func seqs(es []Entry) []uint64 {
	out := make([]uint64, len(es))
	for i, e := range es {
		out[i] = e.Seq
	}
	return out
}

func TestReadFilters(t *testing.T) {
	path, all := sample(t)
	mid := all[3].Time
	for _, tc := range []struct {
		name string
		f    Filter
		want []uint64
	}{
		{"all", Filter{}, []uint64{1, 2, 3, 4, 5, 6}},
		{"object exact", Filter{Object: "Topic team-a/orders"}, []uint64{1, 2}},
		{"object exact, kind in lower case", Filter{Object: "topic team-a/orders"}, []uint64{1, 2}},
		{"object exact, other namespace", Filter{Object: "Topic team-c/orders"}, nil},
		{"kind/name prefix", Filter{Object: "Topic/orders"}, []uint64{1, 2, 3}},
		{"kind/name prefix, lower-case kind", Filter{Object: "topic/orders"}, []uint64{1, 2, 3}},
		{"kind/name longer", Filter{Object: "Topic/orders-d"}, []uint64{3}},
		{"kind/namespace/name", Filter{Object: "Topic/team-a/orders"}, []uint64{1, 2}},
		{"kind/namespace/", Filter{Object: "TOPIC/team-a/"}, []uint64{1, 2, 5}},
		{"kind only", Filter{Object: "subscription"}, []uint64{1, 4}},
		{"kind/", Filter{Object: "Topic/"}, []uint64{1, 2, 3, 5}},
		{"name is not a kind", Filter{Object: "orders"}, nil},
		{"type", Filter{Type: TypeCloudWrite}, []uint64{2, 3, 4}},
		{"actor", Filter{Actor: "controller/Topic"}, []uint64{2, 3}},
		{"actor family", Filter{Actor: "controller/"}, []uint64{2, 3, 4}},
		{"actor no prefix without slash", Filter{Actor: "controller"}, nil},
		{"since", Filter{Since: mid}, []uint64{4, 5, 6}},
		{"until", Filter{Until: mid}, []uint64{1, 2, 3}},
		{"since and until", Filter{Since: all[1].Time, Until: all[3].Time}, []uint64{2, 3}},
		{"combined", Filter{Object: "Topic/orders", Type: TypeCloudWrite, Since: all[2].Time}, []uint64{3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Read(path, tc.f)
			if err != nil {
				t.Fatal(err)
			}
			if g := seqs(got); len(g) != len(tc.want) || (len(g) > 0 && !equal(g, tc.want)) {
				t.Fatalf("got seqs %v, want %v", g, tc.want)
			}
		})
	}
}

func equal(a, b []uint64) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return len(a) == len(b)
}

func TestReadErrors(t *testing.T) {
	path, _ := sample(t)
	data, _ := os.ReadFile(path)
	lines := strings.SplitAfter(string(data), "\n")
	lines[2] = "garbage\n"
	os.WriteFile(path, []byte(strings.Join(lines, "")), 0o600)
	if _, err := Read(path, Filter{}); err == nil || !strings.Contains(err.Error(), "line 3") {
		t.Fatalf("Read of a corrupt ledger: %v", err)
	}
	if _, err := Read(path+".missing", Filter{}); !os.IsNotExist(err) {
		t.Fatalf("Read of a missing ledger: %v", err)
	}
}

func TestParseTime(t *testing.T) {
	now := time.Date(2025, 6, 10, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"1h":                        now.Add(-time.Hour),
		"90m":                       now.Add(-90 * time.Minute),
		"2d":                        now.Add(-48 * time.Hour),
		"2025-06-01T08:30:00Z":      time.Date(2025, 6, 1, 8, 30, 0, 0, time.UTC),
		"2025-06-01T08:30:00+02:00": time.Date(2025, 6, 1, 6, 30, 0, 0, time.UTC),
		"2025-06-01":                time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC),
	} {
		got, err := ParseTime(in, now)
		if err != nil || !got.Equal(want) {
			t.Errorf("ParseTime(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "yesterday", "-1h", "1x"} {
		if _, err := ParseTime(in, now); err == nil {
			t.Errorf("ParseTime(%q) accepted", in)
		}
	}
}

// TestReadFrom: reading on from the offset a read returned gives the
// entries appended since, and only those; a line being written is left
// for the next read.
func TestReadFrom(t *testing.T) {
	l, path := newLedger(t)
	ctx := context.Background()
	for _, name := range []string{"a", "b", "c"} {
		if _, err := l.Append(ctx, Entry{Type: TypeCloudWrite, Actor: "controller/Topic", Object: "Topic team-a/" + name, Summary: "created " + name}); err != nil {
			t.Fatal(err)
		}
	}
	got, off, err := ReadFrom(path, 0, Filter{})
	if err != nil || len(got) != 3 {
		t.Fatalf("ReadFrom(0): %d entries, %v; want 3", len(got), err)
	}
	if st, err := os.Stat(path); err != nil || st.Size() != off {
		t.Fatalf("offset %d, want the file's size (%v)", off, err)
	}
	added, err := l.Append(ctx, Entry{Type: TypeCloudWrite, Actor: "controller/Topic", Object: "Topic team-a/late", Summary: "created late"})
	if err != nil {
		t.Fatal(err)
	}
	const partial = `{"seq":99,"time":` // a write in progress
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(partial); err != nil {
		t.Fatal(err)
	}
	f.Close()
	got, off2, err := ReadFrom(path, off, Filter{})
	if err != nil || len(got) != 1 || got[0].Seq != added.Seq || got[0].Summary != "created late" {
		t.Fatalf("ReadFrom(%d): %+v, %v; want the one entry appended", off, got, err)
	}
	if st, _ := os.Stat(path); off2 != st.Size()-int64(len(partial)) {
		t.Errorf("offset %d is not where the partial line starts (file %d bytes)", off2, st.Size())
	}
	if got, _, err := ReadFrom(path, off2, Filter{}); err != nil || len(got) != 0 {
		t.Errorf("ReadFrom at the partial line: %v, %v; want nothing", got, err)
	}
}

// TestFilterListedObjects: an object filter finds a sync by the objects
// it lists, in the form the syncer writes them, and a break-glass by its
// targets.
func TestFilterListedObjects(t *testing.T) {
	sync := Entry{Type: TypeSync, Object: "GitSource team-a/apps",
		Objects: []string{"created Topic/team-a/orders", "pruned Topic/team-a/old", "configured Blueprint/queue", "pruned Topic/legacy"}}
	bg := Entry{Type: TypeBreakGlassRevert, Object: "BreakGlass team-a/bg", BreakGlass: "team-a/bg", Objects: []string{"Topic/orders Returned"}}
	for _, c := range []struct {
		e      Entry
		object string
		want   bool
	}{
		{sync, "Topic team-a/orders", true},
		{sync, "Topic team-a/old", true},
		{sync, "Topic team-b/orders", false},
		{sync, "Blueprint queue", true},
		{sync, "Topic/legacy", true},
		{sync, "Topic/team-a/ord", true},
		{sync, "created", false},
		{bg, "Topic/orders", true},
		{bg, "Topic/returned", false},
	} {
		if got := (Filter{Object: c.object}).Match(c.e); got != c.want {
			t.Errorf("%s in %v: %v, want %v", c.object, c.e.Objects, got, c.want)
		}
	}
}
