package cli

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A directory with problems prints each problem and the summary once, and
// fails with exit code 1 only: no "Error: <summary>" after it.
func TestValidatePrintsTheSummaryOnce(t *testing.T) {
	dir := t.TempDir()
	topic := "apiVersion: pubsub.infraplane.dev/v1alpha1\nkind: Topic\nmetadata:\n  name: orders\nspec:\n  labels: team=payments\n"
	if err := os.WriteFile(filepath.Join(dir, "topic.yaml"), []byte(topic), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := newValidateCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	cmd.SetArgs([]string{dir})
	err := cmd.Execute()
	var code exitCode
	if !errors.As(err, &code) || code != 1 {
		t.Errorf("error %v, want exit code 1 alone", err)
	}
	if n := strings.Count(out.String(), "1 object, 1 problem"); n != 1 {
		t.Errorf("summary printed %d times:\n%s", n, out.String())
	}
	if !strings.Contains(out.String(), "topic.yaml:6: Topic/orders: spec.labels: ") {
		t.Errorf("the problem is not named with file, line and field:\n%s", out.String())
	}
}
