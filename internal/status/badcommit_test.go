package status

import (
	"bytes"
	"strings"
	"testing"
)

// A bad commit that also holds a prune: status shows what is wrong (file,
// line, field) and the hold, not the hold alone.
func TestHeldPruneBesideProblems(t *testing.T) {
	sources, objects := scenario()
	const problem = "bad.yaml:6: Topic/flat: spec.labels: must be a map of keys to values, not \"team=payments\""
	for i := range sources {
		if sources[i].Name != "orders" {
			continue
		}
		for j, c := range sources[i].Status.Conditions {
			if c.Type == "Ready" {
				c.Reason = "ApplyFailed"
				c.Message = "revision 9b1e0c2d3a4f: nothing applied:\n" + problem + "\nthe commit would also be held by the mass-deletion guard (fix the problems first): " + heldMessage
				sources[i].Status.Conditions[j] = c
			}
		}
	}
	r := Build(sources, objects, now)
	r.Namespace = ns
	var buf bytes.Buffer
	if err := r.Write(&buf, WriteOptions{Format: "table", Width: 400}); err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"ApplyFailed: ", problem, "PruneHeld: 2 objects held from pruning"} {
		if !strings.Contains(buf.String(), w) {
			t.Errorf("status does not say %q:\n%s", w, buf.String())
		}
	}
}
