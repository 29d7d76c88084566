package validate

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A symlink to /dev/zero made validate read without end until it ran out
// of memory: it is refused at once, naming the file.
func TestValidateSymlinkToDevZero(t *testing.T) {
	if _, err := os.Stat("/dev/zero"); err != nil {
		t.Skip("no /dev/zero")
	}
	dir := t.TempDir()
	rel, err := filepath.Rel(dir, "/dev/zero")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(rel, filepath.Join(dir, "z.yaml")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "topic.yaml"), []byte("apiVersion: pubsub.infraplane.dev/v1alpha1\nkind: Topic\nmetadata:\n  name: orders\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	res, err := Validate(dir, Options{RefKinds: refKinds})
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("validate took %s", d)
	}
	if res.Valid() || len(res.Problems) != 1 {
		t.Fatalf("problems:\n%s", res.Problems.Error())
	}
	p := res.Problems[0]
	if p.Source.File != "z.yaml" || !strings.Contains(p.Msg, "a symlink to "+rel) || !strings.Contains(p.Msg, "outside the repository") {
		t.Errorf("problem: %s", p)
	}
}
