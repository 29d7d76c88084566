package ledger

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// sealed writes a ledger of n entries, closes it and returns its lines
// (without newlines).
func sealed(t *testing.T, n int) (string, []string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), FileName)
	l, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 1, n)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
}

func writeLines(t *testing.T, path string, lines []string, trailingNewline bool) {
	t.Helper()
	s := strings.Join(lines, "\n")
	if trailingNewline {
		s += "\n"
	}
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

// rehash recomputes line's hash after an edit, as a forger would.
func rehash(t *testing.T, line string) string {
	t.Helper()
	e, _ := decodeLine([]byte(line))
	if e.Seq == 0 {
		t.Fatalf("cannot parse %s", line)
	}
	out, _, _, err := encodeLine(e, nil)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSuffix(string(out), "\n")
}

func TestVerifyEmpty(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	os.WriteFile(path, nil, 0o600)
	rep := mustVerify(t, path)
	if !rep.OK() || rep.Entries != 0 || !strings.HasPrefix(rep.String(), "ledger intact: 0 entries (empty)\n") {
		t.Fatalf("%+v", rep)
	}
	if _, err := Verify(filepath.Join(t.TempDir(), "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Verify of a missing file: %v", err)
	}
}

func TestVerifyTampering(t *testing.T) {
	const n = 6
	for _, tc := range []struct {
		name    string
		tamper  func(t *testing.T, lines []string) ([]string, bool)
		line    int
		seq     uint64
		kind    ProblemKind
		entries int
	}{{
		name: "edit a field",
		tamper: func(t *testing.T, l []string) ([]string, bool) {
			l[2] = strings.Replace(l[2], `"actor":"alice"`, `"actor":"mallory"`, 1)
			return l, true
		},
		line: 3, seq: 3, kind: ProblemHash, entries: 2,
	}, {
		name: "edit a field and recompute its hash",
		tamper: func(t *testing.T, l []string) ([]string, bool) {
			l[2] = rehash(t, strings.Replace(l[2], `"actor":"alice"`, `"actor":"mallory"`, 1))
			return l, true
		},
		line: 4, seq: 4, kind: ProblemPrev, entries: 3,
	}, {
		name: "delete a middle line",
		tamper: func(t *testing.T, l []string) ([]string, bool) {
			return append(l[:2:2], l[3:]...), true
		},
		line: 3, seq: 4, kind: ProblemSeq, entries: 2,
	}, {
		name: "delete the first line",
		tamper: func(t *testing.T, l []string) ([]string, bool) {
			return l[1:], true
		},
		line: 1, seq: 2, kind: ProblemSeq, entries: 0,
	}, {
		name: "swap two lines",
		tamper: func(t *testing.T, l []string) ([]string, bool) {
			l[1], l[2] = l[2], l[1]
			return l, true
		},
		line: 2, seq: 3, kind: ProblemSeq, entries: 1,
	}, {
		name: "duplicate a line",
		tamper: func(t *testing.T, l []string) ([]string, bool) {
			return append(l[:3:3], l[2:]...), true
		},
		line: 4, seq: 3, kind: ProblemSeq, entries: 3,
	}, {
		name: "truncate the last line half-way",
		tamper: func(t *testing.T, l []string) ([]string, bool) {
			l[n-1] = l[n-1][:len(l[n-1])/2]
			return l, false
		},
		line: n, kind: ProblemTruncated, entries: n - 1,
	}, {
		name: "garbage line",
		tamper: func(t *testing.T, l []string) ([]string, bool) {
			l[3] = "not json"
			return l, true
		},
		line: 4, kind: ProblemUnparsable, entries: 3,
	}, {
		name: "hash member removed",
		tamper: func(t *testing.T, l []string) ([]string, bool) {
			l[3] = l[3][:strings.LastIndex(l[3], `,"hash"`)] + "}"
			return l, true
		},
		line: 4, kind: ProblemUnparsable, entries: 3,
	}, {
		name: "empty line",
		tamper: func(t *testing.T, l []string) ([]string, bool) {
			return append(l[:3:3], append([]string{""}, l[3:]...)...), true
		},
		line: 4, kind: ProblemUnparsable, entries: 3,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			path, lines := sealed(t, n)
			lines, nl := tc.tamper(t, lines)
			writeLines(t, path, lines, nl)
			rep := mustVerify(t, path)
			if rep.OK() {
				t.Fatal("tampered ledger verified")
			}
			p := rep.Problem
			if p.Line != tc.line || p.Kind != tc.kind || (tc.seq != 0 && p.Seq != tc.seq) || rep.Entries != tc.entries {
				t.Fatalf("got %s (entries %d), want line %d seq %d %s (entries %d)", p, rep.Entries, tc.line, tc.seq, tc.kind, tc.entries)
			}
			s := rep.String()
			if !strings.Contains(s, "ledger BROKEN at line") || !strings.Contains(s, string(tc.kind)) {
				t.Errorf("report: %s", s)
			}
			t.Log(s)
		})
	}
}

func TestOpenRefusesCorruptTail(t *testing.T) {
	t.Run("truncated", func(t *testing.T) {
		path, lines := sealed(t, 3)
		lines[2] = lines[2][:len(lines[2])/2]
		writeLines(t, path, lines, false)
		before, _ := os.ReadFile(path)
		_, err := Open(path)
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "incomplete") || !strings.Contains(err.Error(), "--verify") {
			t.Fatalf("Open: %v", err)
		}
		after, _ := os.ReadFile(path)
		if string(before) != string(after) {
			t.Fatal("Open changed a corrupt ledger")
		}
		// Readers still see the complete entries.
		es, err := Read(path, Filter{})
		if err != nil || len(es) != 2 {
			t.Fatalf("Read: %d entries, %v", len(es), err)
		}
	})
	t.Run("edited last line", func(t *testing.T) {
		path, lines := sealed(t, 3)
		lines[2] = strings.Replace(lines[2], "alice", "mallory", 1)
		writeLines(t, path, lines, true)
		if _, err := Open(path); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "hash mismatch") {
			t.Fatalf("Open: %v", err)
		}
	})
	t.Run("single newline", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), FileName)
		os.WriteFile(path, []byte("\n"), 0o600)
		if _, err := Open(path); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Open: %v", err)
		}
	})
}
