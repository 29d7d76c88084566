package breakglass_test

import (
	"context"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
	pubsubv1 "github.com/infraplane/infraplane/api/pubsub/v1alpha1"
	"github.com/infraplane/infraplane/internal/breakglass"
	"github.com/infraplane/infraplane/internal/ledger"
)

// A break-glass on an object Argo CD manages (tracking annotation, or the
// legacy instance label) is refused, saying why and what to do, and
// nothing is created or changed. Flux's helm-controller likewise.
func TestBreakGlassRefusedOnArgoCDManagedObject(t *testing.T) {
	ctx := context.Background()
	s := newPlainScenario(t)
	p := newPeople(t)
	abandon := commonv1.ManagedSpec{DeletionPolicy: commonv1.DeletionAbandon}
	objs := []client.Object{
		&pubsubv1.Topic{ObjectMeta: metav1.ObjectMeta{Namespace: s.ns, Name: "orders",
			Annotations: map[string]string{"argocd.argoproj.io/tracking-id": "shop:pubsub.infraplane.dev/Topic:" + s.ns + "/orders"}},
			Spec: pubsubv1.TopicSpec{ManagedSpec: abandon}},
		&pubsubv1.Topic{ObjectMeta: metav1.ObjectMeta{Namespace: s.ns, Name: "payments",
			Labels: map[string]string{"app.kubernetes.io/instance": "billing"}},
			Spec: pubsubv1.TopicSpec{ManagedSpec: abandon}},
		&pubsubv1.Topic{ObjectMeta: metav1.ObjectMeta{Namespace: s.ns, Name: "audit",
			Labels: map[string]string{"helm.toolkit.fluxcd.io/name": "audit", "helm.toolkit.fluxcd.io/namespace": "flux-system"}},
			Spec: pubsubv1.TopicSpec{ManagedSpec: abandon}},
	}
	versions := map[string]string{}
	for _, o := range objs {
		if err := env.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	for _, o := range objs {
		env.WaitReady(t, o.(*pubsubv1.Topic))
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(o), o); err != nil {
			t.Fatal(err)
		}
		versions[o.GetName()] = o.GetResourceVersion()
	}
	before, err := ledger.Read(env.LedgerPath(), ledger.Filter{Type: ledger.TypeBreakGlassOpen})
	if err != nil {
		t.Fatal(err)
	}

	for target, want := range map[string][]string{
		"topic/orders": {`Topic/orders is managed by Argo CD Application "shop" (annotation argocd.argoproj.io/tracking-id)`,
			"cannot be told to skip one object", "`argocd app set shop --sync-policy none`", "put the change in git"},
		"topic/payments": {`Topic/payments is managed by Argo CD Application "billing" (label app.kubernetes.io/instance)`,
			"`argocd app set billing --sync-policy none`", "if Argo CD does not manage this object, remove that label"},
		"topic/audit": {"Topic/audit is managed by Flux HelmRelease flux-system/audit", "`flux suspend helmrelease audit -n flux-system`"},
	} {
		_, err := breakglass.Open(ctx, p.oncall, breakglass.OpenRequest{
			Namespace: s.ns, Targets: []string{target}, Reason: "INC-78 outage: change it now", Duration: time.Hour,
		})
		if err == nil {
			t.Fatalf("%s: opened", target)
		}
		t.Logf("%s: %v", target, err)
		for _, w := range want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: the refusal does not say %q", target, w)
			}
		}
		if target == "topic/orders" && strings.Contains(err.Error(), "Helm charts") {
			t.Errorf("the label's caveat is shown for the annotation")
		}
	}

	list := &corev1alpha1.BreakGlassList{}
	if err := env.Client.List(ctx, list, client.InNamespace(s.ns)); err != nil {
		t.Fatal(err)
	}
	if len(list.Items) > 0 {
		t.Errorf("%d break-glasses were created", len(list.Items))
	}
	for _, o := range objs {
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(o), o); err != nil {
			t.Fatal(err)
		}
		if o.GetResourceVersion() != versions[o.GetName()] {
			t.Errorf("%s changed: resourceVersion %s, was %s", o.GetName(), o.GetResourceVersion(), versions[o.GetName()])
		}
	}
	after, err := ledger.Read(env.LedgerPath(), ledger.Filter{Type: ledger.TypeBreakGlassOpen})
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before) {
		t.Errorf("the ledger gained %d breakglass-open entries", len(after)-len(before))
	}
}
