package ledger

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// pythonRecipe is the Python check of the package documentation.
func pythonRecipe(t *testing.T) string {
	t.Helper()
	src, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(src), "// A complete check in Python")
	if !ok {
		t.Fatal("no Python recipe in doc.go")
	}
	var code []string
	started := false
	for _, line := range strings.Split(after, "\n") {
		body, isCode := strings.CutPrefix(line, "//\t")
		if isCode {
			code, started = append(code, body), true
		} else if started {
			break
		}
	}
	path := filepath.Join(t.TempDir(), "check.py")
	if err := os.WriteFile(path, []byte(strings.Join(code, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// The documented recipe checks chains and MACs as Verify does: a ledger
// signed by two keys in turn, with a key file holding both, and refuses
// the same ledger re-hashed without the key, or with a key missing.
func TestPythonRecipe(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("no python3 here")
	}
	recipe := pythonRecipe(t)
	run := func(args ...string) (string, error) {
		out, err := exec.Command(python, append([]string{recipe}, args...)...).CombinedOutput()
		return strings.TrimSpace(string(out)), err
	}
	dir := t.TempDir()
	text := keyFileText(t, "k2", "k1")
	keyFile := filepath.Join(dir, KeyFileName)
	os.WriteFile(keyFile, []byte("# two keys\n"+text), 0o600)
	all, err := ParseKeys([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	path, _ := keyedLedger(t, subset(t, all, "k1"), 2)
	l, err := OpenWith(context.Background(), path, Options{Keys: all})
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 3, 2)
	l.Close()
	_, head := l.Head()

	if out, err := run(path, keyFile); err != nil || out != "5 entries, last hash "+head {
		t.Fatalf("recipe with the keys: %v\n%s", err, out)
	}
	if out, err := run(path); err != nil || out != "5 entries, last hash "+head {
		t.Fatalf("recipe without keys: %v\n%s", err, out)
	}
	onlyK2 := filepath.Join(dir, "k2.key")
	os.WriteFile(onlyK2, []byte(strings.Split(text, "\n")[0]+"\n"), 0o600)
	if out, err := run(path, onlyK2); err == nil || !strings.Contains(out, "line 1: key k1 not in the key file") {
		t.Fatalf("recipe without k1: %v\n%s", err, out)
	}

	es, err := Read(path, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	es = slices.Delete(es, 1, 2)
	writeLines(t, path, forge(t, es, 1, keepMAC), true)
	if out, err := run(path); err != nil {
		t.Fatalf("the forger's chain, without keys: %v\n%s", err, out)
	}
	if out, err := run(path, keyFile); err == nil || !strings.Contains(out, "line 2: MAC mismatch") {
		t.Fatalf("recipe on a forged ledger: %v\n%s", err, out)
	}
}
