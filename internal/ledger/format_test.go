package ledger

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestFormatTable(t *testing.T) {
	_, es := sample(t)
	es[1].Summary = strings.Repeat("a very long summary ", 20)
	es[2].Object = "Subscription some-very-long-namespace-name/an-even-longer-subscription-name"
	es[3].Error = "PermissionDenied: no"
	var b bytes.Buffer
	if err := Format(&b, es, "table"); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	t.Log("\n" + out)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != len(es)+1 {
		t.Fatalf("%d lines", len(lines))
	}
	if !strings.HasPrefix(lines[0], "TIME") || strings.Fields(lines[0])[4] != "SUMMARY" {
		t.Errorf("header: %q", lines[0])
	}
	for _, l := range lines {
		if n := utf8.RuneCountInString(l); n > TableWidth {
			t.Errorf("%d columns: %q", n, l)
		}
	}
	row := strings.Fields(lines[1])
	if row[0] != es[0].Time.Format("2006-01-02T15:04:05Z") || row[1] != "sync" || row[2] != "syncer" {
		t.Errorf("row 1: %q", lines[1])
	}
	if !strings.HasSuffix(lines[2], "…") || !strings.Contains(lines[3], "…") {
		t.Errorf("long cells not cut:\n%s\n%s", lines[2], lines[3])
	}
	if !strings.Contains(lines[4], "created orders-sub: Perm") {
		t.Errorf("error not shown: %q", lines[4])
	}
	// Columns line up: SUMMARY starts at the same place in every line.
	col := strings.Index(lines[0], "SUMMARY")
	if !strings.HasPrefix(lines[6][col:], "break-glass on team-a") {
		t.Errorf("misaligned: %q", lines[6])
	}

	b.Reset()
	Format(&b, nil, "table")
	if b.String() != "no matching entries\n" {
		t.Errorf("empty: %q", b.String())
	}
	if err := Format(&b, es, "yaml"); err == nil {
		t.Error("yaml accepted")
	}
}

func TestFormatJSONIsTheLedger(t *testing.T) {
	path, _ := sample(t)
	es, err := Read(path, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := Format(&b, es, "json"); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	if b.String() != string(data) {
		t.Fatalf("json output differs from the file:\n%s\n%s", b.String(), data)
	}

	// With MACs, as stored too.
	path, _ = keyedLedger(t, testKeys(t, "k1"), 2)
	es, err = Read(path, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	b.Reset()
	if err := Format(&b, es, "json"); err != nil {
		t.Fatal(err)
	}
	data, _ = os.ReadFile(path)
	if b.String() != string(data) || !strings.Contains(b.String(), `","mac":"k1:`) {
		t.Fatalf("json output differs from the file:\n%s\n%s", b.String(), data)
	}
}

// RunAudit is `infraplane audit` without cobra (internal/cli/audit.go only
// maps flags to AuditOptions).
func TestRunAudit(t *testing.T) {
	path, es := sample(t)
	dataDir := filepath.Dir(path)
	now := es[len(es)-1].Time.Add(time.Minute)
	run := func(o AuditOptions) (string, error) {
		var b bytes.Buffer
		err := RunAudit(&b, o, now)
		return b.String(), err
	}

	out, err := run(AuditOptions{DataDir: dataDir, Object: "topic/orders", Type: "cloud-write", Since: "1h"})
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 3 ||
		!strings.Contains(lines[1], "created orders") || !strings.Contains(lines[2], "Topic team-b/orders-dlq") {
		t.Fatalf("output:\n%s", out)
	}

	out, err = run(AuditOptions{Path: path, Actor: "dave", Output: "json"})
	if err != nil || strings.Count(out, "\n") != 1 || !strings.Contains(out, `"actor":"dave"`) {
		t.Fatalf("json: %v\n%s", err, out)
	}

	out, err = run(AuditOptions{DataDir: dataDir, Since: "30s"})
	if err != nil || out != "no matching entries\n" {
		t.Fatalf("since 30s: %v %q", err, out)
	}

	out, err = run(AuditOptions{DataDir: dataDir, Verify: true})
	if err != nil || !strings.HasPrefix(out, "hash chain intact: 6 entries, last hash "+es[5].Hash+"\n") {
		t.Fatalf("verify: %v %q", err, out)
	}

	for _, o := range []AuditOptions{
		{DataDir: dataDir, Type: "bogus"},
		{DataDir: dataDir, Since: "last week"},
		{DataDir: dataDir, Until: "soon"},
		{DataDir: dataDir, Output: "yaml"},
	} {
		if _, err := run(o); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}

	missing := filepath.Join(t.TempDir(), "nowhere")
	for _, o := range []AuditOptions{{DataDir: missing}, {DataDir: missing, Verify: true}} {
		_, err := run(o)
		want := "no ledger at " + filepath.Join(missing, FileName) + ": is infraplane up running with --data-dir " + missing + "?"
		if err == nil || err.Error() != want {
			t.Errorf("missing ledger: %v", err)
		}
	}

	// A tampered ledger: --verify says where and fails.
	data, _ := os.ReadFile(path)
	os.WriteFile(path, bytes.Replace(data, []byte(`"actor":"dave"`), []byte(`"actor":"eve"`), 1), 0o600)
	out, err = run(AuditOptions{Path: path, Verify: true})
	if !errors.Is(err, ErrVerifyFailed) || !strings.Contains(out, "ledger BROKEN at line 5 (seq 5): hash mismatch") ||
		!strings.Contains(out, "the 4 entries before it are intact") {
		t.Fatalf("verify of a tampered ledger: %v\n%s", err, out)
	}
	t.Log(out)
}
