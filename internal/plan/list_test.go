package plan_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
	pubsubv1 "github.com/infraplane/infraplane/api/pubsub/v1alpha1"
	"github.com/infraplane/infraplane/internal/controllers"
	"github.com/infraplane/infraplane/internal/localcloud/cloudtest"
	"github.com/infraplane/infraplane/internal/plan"
)

// topicReads counts the Topics a client reads one by one.
type topicReads struct {
	client.Client
	n atomic.Int64
}

func (c *topicReads) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if _, typed := obj.(*pubsubv1.Topic); typed || obj.GetObjectKind().GroupVersionKind().Kind == "Topic" {
		c.n.Add(1)
	}
	return c.Client.Get(ctx, key, obj, opts...)
}

// A directory with many objects of a kind is planned from one list of the
// kind, not a read each, and says the same: unchanged, updated and new
// objects.
func TestPlanManyOfAKindFromOneList(t *testing.T) {
	ctx := context.Background()
	cloud := cloudtest.Fakes(t)
	ns := env.Namespace(t, env.ProviderConfig(t, "plan-list", cloud))

	const n = 30
	var docs []string
	for i := range n {
		docs = append(docs, fmt.Sprintf("apiVersion: pubsub.infraplane.dev/v1alpha1\nkind: Topic\nmetadata:\n  name: t%02d\nspec:\n  labels: {team: checkout}\n", i))
	}
	dir := t.TempDir()
	write(t, dir, map[string]string{"topics.yaml": strings.Join(docs, "---\n")})
	// t00–t09 exist as in the directory; t10 with another label.
	for i := range 11 {
		team := "checkout"
		if i == 10 {
			team = "billing"
		}
		env.Create(t, &pubsubv1.Topic{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("t%02d", i)},
			Spec:       pubsubv1.TopicSpec{Labels: map[string]commonv1.LabelValue{"team": commonv1.LabelValue(team)}},
		})
	}

	kinds, closeClients := controllers.Planners()
	defer closeClients()
	c := &topicReads{Client: env.Client}
	res, err := (&plan.Planner{Client: c, Kinds: kinds}).Plan(ctx, plan.Options{Dir: dir, Namespace: ns, RefKinds: controllers.RefKinds})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Problems) > 0 {
		t.Fatalf("problems: %v", res.Problems)
	}
	if got := c.n.Load(); got != 0 {
		t.Errorf("the plan read %d Topics one by one; want one list", got)
	}
	count := map[string]int{}
	for _, ch := range res.Changes {
		count[ch.Kube.Action]++
		if ch.Object == "Topic/t10" && (ch.Kube.Action != plan.KubeUpdate || len(ch.Kube.Fields) != 1 || ch.Kube.Fields[0].Path != "spec.labels.team") {
			t.Errorf("t10: %+v", ch.Kube)
		}
	}
	if count[plan.KubeUnchanged] != 10 || count[plan.KubeUpdate] != 1 || count[plan.KubeCreate] != n-11 {
		t.Errorf("kubernetes actions = %v, want 10 unchanged, 1 update, %d create", count, n-11)
	}
}
