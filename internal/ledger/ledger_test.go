package ledger

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func newLedger(t *testing.T) (*Ledger, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), FileName)
	l, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l, path
}

func entry(i int) Entry {
	return Entry{
		Type:    TypeDirectEdit,
		Actor:   "alice",
		Object:  ObjectRef("Topic", "team-a", "orders"),
		Summary: fmt.Sprintf("edit %d", i),
		Fields:  []string{"spec.labels"},
		Details: map[string]string{"i": strconv.Itoa(i)},
	}
}

func appendN(t *testing.T, l *Ledger, from, n int) []Entry {
	t.Helper()
	var out []Entry
	for i := from; i < from+n; i++ {
		e, err := l.Append(context.Background(), entry(i))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

func mustVerify(t *testing.T, path string) Report {
	t.Helper()
	rep, err := Verify(path)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func TestAppendFillsChain(t *testing.T) {
	l, path := newLedger(t)
	before := time.Now().UTC()
	es := appendN(t, l, 1, 3)
	for i, e := range es {
		if e.Seq != uint64(i+1) {
			t.Errorf("entry %d: seq %d", i, e.Seq)
		}
		if e.Time.Before(before.Add(-time.Second)) || e.Time.Location() != time.UTC {
			t.Errorf("entry %d: time %v", i, e.Time)
		}
		if len(e.Hash) != 64 {
			t.Errorf("entry %d: hash %q", i, e.Hash)
		}
	}
	if es[0].Prev != "" || es[1].Prev != es[0].Hash || es[2].Prev != es[1].Hash {
		t.Errorf("chain: %q %q %q", es[0].Prev, es[1].Prev, es[2].Prev)
	}
	if seq, h := l.Head(); seq != 3 || h != es[2].Hash {
		t.Errorf("Head = %d %s", seq, h)
	}
	got, err := Read(path, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[2].Hash != es[2].Hash || !got[2].Time.Equal(es[2].Time) || got[2].Summary != "edit 3" {
		t.Fatalf("Read = %+v", got)
	}
	rep := mustVerify(t, path)
	if !rep.OK() || rep.Entries != 3 || rep.LastHash != es[2].Hash || rep.LastSeq != 3 {
		t.Fatalf("Verify = %+v", rep)
	}
	if s := rep.String(); !strings.HasPrefix(s, "hash chain intact: 3 entries, last hash "+es[2].Hash+"\nNOT AUTHENTICATED: no entry carries a MAC") {
		t.Errorf("report: %s", s)
	}
	st, _ := os.Stat(path)
	if runtime.GOOS != "windows" && st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", st.Mode())
	}
}

// The documented rule re-verifies a line with nothing but string
// handling and SHA-256, with or without a mac member after the hash.
func TestHashRecipe(t *testing.T) {
	path, _ := keyedLedger(t, nil, 2)
	l, err := OpenWith(context.Background(), path, Options{Keys: testKeys(t, "k1")})
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 3, 2)
	l.Close()
	data, _ := os.ReadFile(path)
	prev := ""
	for _, line := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		i := strings.LastIndex(line, `,"hash":"`)
		body := line[:i] + "}"
		stored := line[i+len(`,"hash":"`) : i+len(`,"hash":"`)+64]
		if got := sha256Hex(body); got != stored {
			t.Fatalf("recipe hash %s, stored %s", got, stored)
		}
		if !strings.HasSuffix(body, `,"prev":"`+prev+`"}`) {
			t.Fatalf("body does not end with prev %q: %s", prev, body)
		}
		prev = stored
	}
}

func TestValidation(t *testing.T) {
	l, _ := newLedger(t)
	ctx := context.Background()
	for _, e := range []Entry{
		{Type: "nope", Actor: "a", Summary: "s"},
		{Type: TypeSync, Summary: "s"},
		{Type: TypeSync, Actor: "syncer"},
	} {
		if _, err := l.Append(ctx, e); err == nil {
			t.Errorf("Append(%+v) accepted", e)
		}
	}
	// What Append fills is ignored from the caller.
	e, err := l.Append(ctx, Entry{Type: TypeSync, Actor: "syncer", Summary: "s", Seq: 42, Prev: "x", Hash: "y"})
	if err != nil || e.Seq != 1 || e.Prev != "" || e.Hash == "y" {
		t.Errorf("Append = %+v, %v", e, err)
	}
}

func TestReopenContinues(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	l, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	first := appendN(t, l, 1, 3)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(context.Background(), entry(9)); !errors.Is(err, ErrClosed) {
		t.Errorf("Append after Close: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}

	l, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if seq, h := l.Head(); seq != 3 || h != first[2].Hash {
		t.Fatalf("after reopen Head = %d %s", seq, h)
	}
	next := appendN(t, l, 4, 2)
	if next[0].Seq != 4 || next[0].Prev != first[2].Hash || next[1].Seq != 5 {
		t.Fatalf("chain did not continue: %+v", next)
	}
	rep := mustVerify(t, path)
	if !rep.OK() || rep.Entries != 5 {
		t.Fatalf("Verify = %s", rep)
	}
}

func TestReopenLongLastLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	l, _ := Open(path)
	appendN(t, l, 1, 2)
	e := entry(3)
	e.Summary = strings.Repeat("long ", 3000) // several read blocks
	last, err := l.Append(context.Background(), e)
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	l, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if seq, h := l.Head(); seq != 3 || h != last.Hash {
		t.Fatalf("Head = %d %s", seq, h)
	}
}

func TestSecondOpenRefused(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no flock")
	}
	_, path := newLedger(t)
	if l2, err := Open(path); err == nil {
		l2.Close()
		t.Fatal("second Open of the same ledger succeeded")
	} else if !strings.Contains(err.Error(), "already open") {
		t.Errorf("error: %v", err)
	}
}

func TestConcurrentAppends(t *testing.T) {
	l, path := newLedger(t)
	const workers, each = 32, 40
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for g := range workers {
		wg.Go(func() {
			for i := range each {
				e := entry(i)
				e.Actor = "user-" + strconv.Itoa(g)
				if _, err := l.Append(context.Background(), e); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	rep := mustVerify(t, path)
	if !rep.OK() || rep.Entries != workers*each {
		t.Fatalf("Verify = %s", rep)
	}
	all, err := Read(path, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	// Each worker's entries are in the order it appended them.
	next := map[string]int{}
	for _, e := range all {
		if e.Details["i"] != strconv.Itoa(next[e.Actor]) {
			t.Fatalf("%s: entry %s out of order (want %d)", e.Actor, e.Details["i"], next[e.Actor])
		}
		next[e.Actor]++
	}
	if len(next) != workers {
		t.Fatalf("%d workers seen", len(next))
	}
}

// Another process reads while this one appends: every Read sees a gapless
// prefix of the ledger.
func TestReadWhileAppending(t *testing.T) {
	l, path := newLedger(t)
	const n = 300
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range n {
			if _, err := l.Append(context.Background(), entry(i)); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for reading := true; reading; {
		select {
		case <-done:
			reading = false
		default:
		}
		es, err := Read(path, Filter{})
		if err != nil {
			t.Fatal(err)
		}
		for i, e := range es {
			if e.Seq != uint64(i+1) {
				t.Fatalf("Read: entry %d has seq %d", i, e.Seq)
			}
		}
		if !reading && len(es) != n {
			t.Fatalf("Read after the appends: %d entries", len(es))
		}
	}
}

func TestAppendContextCancelled(t *testing.T) {
	l, _ := newLedger(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := l.Append(ctx, entry(1)); !errors.Is(err, context.Canceled) {
		t.Fatalf("Append with a cancelled context: %v", err)
	}
	if seq, _ := l.Head(); seq != 0 {
		t.Fatalf("a cancelled Append was written: seq %d", seq)
	}
}

func TestSecretGuard(t *testing.T) {
	l, path := newLedger(t)
	details := map[string]string{
		"Password":     "hunter2",
		"apiToken":     "t0k",
		"clientSecret": "s3",
		"sshKey":       "k",
		"note":         "-----BEGIN PRIVATE KEY-----\nMII",
		"auth":         "Bearer abc",
		"revisionURL":  "https://example.com/r/1",
		"zone":         "europe-west1-b",
	}
	e, err := l.Append(context.Background(), Entry{Type: TypeBreakGlassOpen, Actor: "bob", Summary: "opened", Details: details})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"revisionURL": "https://example.com/r/1",
		"zone":        "europe-west1-b",
		"redacted":    "Password,apiToken,auth,clientSecret,note,sshKey",
	}
	if fmt.Sprint(e.Details) != fmt.Sprint(want) {
		t.Errorf("Details = %v, want %v", e.Details, want)
	}
	if len(details) != 8 {
		t.Error("the caller's map was changed")
	}
	data, _ := os.ReadFile(path)
	for _, secret := range []string{"hunter2", "t0k", `"s3"`, "PRIVATE KEY", "Bearer"} {
		if bytes.Contains(data, []byte(secret)) {
			t.Errorf("ledger holds %q: %s", secret, data)
		}
	}
	for k, want := range map[string]bool{"kmsKeyName": true, "PASSWD": true, "cookie": true, "project": false, "author": false, "fields": false} {
		if SecretKey(k) != want {
			t.Errorf("SecretKey(%q) = %v", k, !want)
		}
	}
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// benchLedger opens a ledger file for a benchmark, signing with a key when
// mac is set.
func benchLedger(b *testing.B, mac bool) *Ledger {
	var o Options
	if mac {
		o.Keys = testKeys(b, "k1")
	}
	l, err := OpenWith(context.Background(), filepath.Join(b.TempDir(), FileName), o)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Close() })
	return l
}

func BenchmarkAppend(b *testing.B) {
	for _, mac := range []bool{false, true} {
		b.Run("mac="+strconv.FormatBool(mac), func(b *testing.B) {
			l := benchLedger(b, mac)
			ctx := context.Background()
			e := CloudWriteEntry(cloudWrite())
			for b.Loop() {
				if _, err := l.Append(ctx, e); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "appends/s")
		})
	}
}

func BenchmarkAppendParallel(b *testing.B) {
	for _, mac := range []bool{false, true} {
		b.Run("mac="+strconv.FormatBool(mac), func(b *testing.B) {
			l := benchLedger(b, mac)
			ctx := context.Background()
			e := CloudWriteEntry(cloudWrite())
			b.SetParallelism(4) // 4×GOMAXPROCS appenders, like many reconcile workers
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := l.Append(ctx, e); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "appends/s")
		})
	}
}

// The CPU cost of a line, without the disk: encoding and hashing, and the
// MAC on top.
func BenchmarkEncodeLine(b *testing.B) {
	e := CloudWriteEntry(cloudWrite())
	e.Seq, e.Time, e.Prev = 1000, time.Now(), strings.Repeat("ab", 32)
	for _, mac := range []bool{false, true} {
		b.Run("mac="+strconv.FormatBool(mac), func(b *testing.B) {
			var keys *Keys
			if mac {
				keys = testKeys(b, "k1")
			}
			for b.Loop() {
				if _, _, _, err := encodeLine(e, keys); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// Verify's rate, with and without checking MACs: a ledger of 20,000
// entries written directly (chained as Append would).
func BenchmarkVerify(b *testing.B) {
	const n = 20000
	for _, mac := range []bool{false, true} {
		b.Run("mac="+strconv.FormatBool(mac), func(b *testing.B) {
			var keys *Keys
			if mac {
				keys = testKeys(b, "k1")
			}
			var buf bytes.Buffer
			prev := ""
			for i := 1; i <= n; i++ {
				e := CloudWriteEntry(cloudWrite())
				e.Seq, e.Time, e.Prev = uint64(i), time.Now().UTC(), prev
				line, hash, _, err := encodeLine(e, keys)
				if err != nil {
					b.Fatal(err)
				}
				buf.Write(line)
				prev = hash
			}
			path := filepath.Join(b.TempDir(), FileName)
			if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				rep, err := VerifyWith(context.Background(), path, VerifyOptions{Keys: keys})
				if err != nil || !rep.OK() || rep.Entries != n {
					b.Fatal(rep, err)
				}
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "entries/s")
		})
	}
}
