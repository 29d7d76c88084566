package blueprint_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/infraplane/infraplane/internal/ledger"
	"github.com/infraplane/infraplane/internal/testenv"
)

// Direct edits of a kind a Blueprint defines reach the audit ledger, with
// the kind's name, also when its group is the platform team's own.
func TestDirectEditsOfInstancesAreAudited(t *testing.T) {
	bp := parseBlueprint(t, `
apiVersion: infraplane.dev/v1alpha1
kind: Blueprint
metadata: {name: audited}
spec:
  group: platform.example.com
  version: v1alpha1
  kind: Audited
  schema: {type: object, properties: {note: {type: string}}}
  resources:
  - id: topic
    template:
      apiVersion: pubsub.infraplane.dev/v1alpha1
      kind: Topic
      metadata: {name: "${metadata.name}-audited"}
`)
	applyBlueprint(t, bp)
	ns := queueNamespace(t)
	inst := newInstance(bp.Spec.GroupVersionKind(), ns, "ledgered", map[string]any{"note": "a"})
	env.Create(t, inst)
	patch := client.RawPatch("application/merge-patch+json", []byte(`{"spec":{"note":"b"}}`))
	if err := env.Client.Patch(context.Background(), inst, patch); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, testenv.WaitTimeout, func() error {
		entries, err := ledger.Read(env.LedgerPath(), ledger.Filter{Type: ledger.TypeDirectEdit, Object: "Audited " + ns + "/ledgered"})
		if err != nil {
			return err
		}
		var summaries []string
		for _, e := range entries {
			summaries = append(summaries, e.Summary)
		}
		if !slices.Contains(summaries, "created") || !slices.Contains(summaries, "patched spec.note") {
			return fmt.Errorf("ledger has %q for the instance, want created and patched spec.note", summaries)
		}
		return nil
	})
}
