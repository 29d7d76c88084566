package plan_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
	"github.com/infraplane/infraplane/internal/controllers"
	"github.com/infraplane/infraplane/internal/localcloud/cloudtest"
	"github.com/infraplane/infraplane/internal/plan"
)

func planBlueprint(name, kind, team string) string {
	return fmt.Sprintf(`apiVersion: infraplane.dev/v1alpha1
kind: Blueprint
metadata:
  name: %s
spec:
  group: plan.test.infraplane.dev
  version: v1alpha1
  kind: %s
  schema: {type: object}
  resources:
  - id: topic
    template:
      apiVersion: pubsub.infraplane.dev/v1alpha1
      kind: Topic
      metadata: {name: "${metadata.name}"}
      spec:
        labels: {team: %s}
`, name, kind, team)
}

// In the platform namespace a plan shows Blueprints (created, changed)
// and points at fleet plan for their instances; it writes nothing.
func TestPlanPlatformBlueprints(t *testing.T) {
	ctx := context.Background()
	live := &corev1alpha1.Blueprint{}
	if err := yaml.Unmarshal([]byte(planBlueprint("plan-queue", "PlanQueue", "one")), live); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Create(ctx, live); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), live) })
	dir := t.TempDir()
	write(t, dir, map[string]string{
		"queue.yaml":  planBlueprint("plan-queue", "PlanQueue", "two"),
		"stream.yaml": planBlueprint("plan-stream", "PlanStream", "one"),
	})
	kinds, closeClients := controllers.Planners()
	defer closeClients()
	p := &plan.Planner{Client: env.Client, Kinds: kinds}
	res, err := p.Plan(ctx, plan.Options{Dir: dir, Namespace: "infraplane-system", RefKinds: controllers.RefKinds})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Problems) > 0 {
		t.Fatalf("problems: %v", res.Problems)
	}
	byObject := map[string]plan.Change{}
	for _, c := range res.Changes {
		byObject[c.Object] = c
	}
	note := "its instances: infraplane fleet plan " + dir
	if c := byObject["Blueprint/plan-queue"]; c.Kube.Action != plan.KubeUpdate || c.Note != note ||
		len(c.Kube.Fields) != 1 || c.Kube.Fields[0].Path != "spec.resources" {
		t.Errorf("plan-queue: %+v", c)
	}
	if c := byObject["Blueprint/plan-stream"]; c.Kube.Action != plan.KubeCreate || c.Note != note {
		t.Errorf("plan-stream: %+v", c)
	}
	var table strings.Builder
	if err := res.Write(&table, "table"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(table.String(), note) {
		t.Errorf("table does not point at fleet plan:\n%s", table.String())
	}
	if err := env.Client.Get(ctx, client.ObjectKey{Name: "plan-stream"}, &corev1alpha1.Blueprint{}); !apierrors.IsNotFound(err) {
		t.Errorf("the plan created plan-stream: %v", err)
	}
}

// In a team's namespace, a Blueprint is a problem that says where
// Blueprints come from.
func TestPlanTeamBlueprintRefused(t *testing.T) {
	ns := env.Namespace(t, env.ProviderConfig(t, "plan-platform-fakes", cloudtest.Fakes(t)))
	dir := t.TempDir()
	write(t, dir, map[string]string{"queue.yaml": planBlueprint("plan-team-queue", "PlanTeamQueue", "one")})
	kinds, closeClients := controllers.Planners()
	defer closeClients()
	p := &plan.Planner{Client: env.Client, Kinds: kinds}
	res, err := p.Plan(context.Background(), plan.Options{Dir: dir, Namespace: ns, RefKinds: controllers.RefKinds})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Problems) != 1 || !strings.Contains(res.Problems[0].Msg, `only a GitSource in the platform namespace "infraplane-system" applies Blueprints`) {
		t.Errorf("problems: %v", res.Problems)
	}
}
