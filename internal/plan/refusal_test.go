package plan_test

import (
	"context"
	"strings"
	"testing"

	"github.com/infraplane/infraplane/internal/controllers"
	"github.com/infraplane/infraplane/internal/localcloud/cloudtest"
	"github.com/infraplane/infraplane/internal/plan"
)

// What the API server refuses in the dry run is named like validate and
// the syncer name it: file, line of the field, field, what is wrong; no
// "failed to create typed patch object", no "<nil>".
func TestPlanRefusalsNameFileLineAndField(t *testing.T) {
	ns := env.Namespace(t, env.ProviderConfig(t, "plan-refusal-fakes", cloudtest.Fakes(t)))
	dir := t.TempDir()
	write(t, dir, map[string]string{
		"flat.yaml":  "apiVersion: pubsub.infraplane.dev/v1alpha1\nkind: Topic\nmetadata:\n  name: flat\nspec:\n  labels: team=payments\n",
		"short.yaml": "apiVersion: pubsub.infraplane.dev/v1alpha1\nkind: Topic\nmetadata:\n  name: ab\n",
		"retry.yaml": "apiVersion: pubsub.infraplane.dev/v1alpha1\nkind: Subscription\nmetadata:\n  name: backwards\nspec:\n  topicRef: {external: projects/p/topics/t}\n  retryPolicy:\n    minimumBackoff: 60s\n    maximumBackoff: 10s\n",
	})
	kinds, closeClients := controllers.Planners()
	defer closeClients()
	p := &plan.Planner{Client: env.Client, Kinds: kinds}
	res, err := p.Plan(context.Background(), plan.Options{Dir: dir, Namespace: ns, RefKinds: controllers.RefKinds})
	if err != nil {
		t.Fatal(err)
	}
	got := res.Problems.Error()
	for _, w := range []string{
		`flat.yaml:6: Topic/flat: spec.labels: must be a map of keys to values, not "team=payments"`,
		"short.yaml:4: Topic/ab: metadata.name: ",
		"retry.yaml:8: Subscription/backwards: spec.retryPolicy.minimumBackoff: ",
	} {
		if !strings.Contains(got, w) {
			t.Errorf("problems do not say %q:\n%s", w, got)
		}
	}
	for _, leak := range []string{"typed patch", "<nil>", "&{"} {
		if strings.Contains(got, leak) {
			t.Errorf("problems leak %q:\n%s", leak, got)
		}
	}
}
