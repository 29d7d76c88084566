package spanner_test

import (
	"slices"
	"strings"
	"testing"

	"cloud.google.com/go/spanner/admin/instance/apiv1/instancepb"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
	spannerv1 "github.com/infraplane/infraplane/api/spanner/v1alpha1"
	"github.com/infraplane/infraplane/internal/cloud/spanner"
	"github.com/infraplane/infraplane/internal/managed"
	"github.com/infraplane/infraplane/internal/provider"
	"github.com/infraplane/infraplane/internal/testenv"
)

func (s *scenario) getInstance(t *testing.T, id string) *instancepb.Instance {
	t.Helper()
	got, err := emu.instances.GetInstance(ctxT(t), &instancepb.GetInstanceRequest{Name: s.instanceName(id)})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// An instance is created on the emulator with the spec's config, capacity,
// labels and the ownership label; displayName defaults to the name.
func TestInstanceCreate(t *testing.T) {
	s := onEmulator(t)
	in := s.instance("orders", func(in *spannerv1.SpannerInstance) {
		in.Spec.Labels = map[string]commonv1.LabelValue{"team": "checkout"}
	})
	env.Create(t, in)
	env.WaitReady(t, in)
	nodes := s.instance("ledger", func(in *spannerv1.SpannerInstance) {
		in.Spec.ProcessingUnits, in.Spec.NodeCount = nil, ptr(int32(2))
		in.Spec.DisplayName = "Ledger instance"
	})
	env.Create(t, nodes)
	env.WaitReady(t, nodes)

	got := s.getInstance(t, "orders")
	if got.Config != "projects/"+s.project+"/instanceConfigs/regional-us-central1" || got.DisplayName != "orders" || got.ProcessingUnits != 100 {
		t.Errorf("instance in the cloud: %v", got)
	}
	if got.Labels["team"] != "checkout" || got.Labels[managed.OwnerLabelKey] == "" {
		t.Errorf("labels in the cloud: %v", got.Labels)
	}
	if in.Status.SelfLink != s.instanceName("orders") || in.Status.ResourceID != "orders" {
		t.Errorf("status: selfLink %q resourceID %q", in.Status.SelfLink, in.Status.ResourceID)
	}
	if got := s.getInstance(t, "ledger"); got.NodeCount != 2 || got.DisplayName != "Ledger instance" {
		t.Errorf("node-count instance in the cloud: %v", got)
	}
}

// The emulator does not implement UpdateInstance: a spec change ends in a
// Synced=False UpdateNotSupported condition that says so.
func TestInstanceUpdateUnsupportedOnEmulator(t *testing.T) {
	s := onEmulator(t)
	in := s.instance("catalog")
	env.Create(t, in)
	env.WaitReady(t, in)
	calls := provider.CloudCalls(spanner.Service, "UpdateInstance")
	testenv.Update(t, env, in, func(in *spannerv1.SpannerInstance) { in.Spec.DisplayName = "Catalog v2" })
	c := env.WaitFor(t, in, commonv1.TypeSynced, metav1.ConditionFalse, commonv1.ReasonUpdateNotSupported)
	if !strings.Contains(c.Message, "does not support updating spec.displayName") || !strings.Contains(c.Message, "Unimplemented") {
		t.Errorf("condition should say the endpoint cannot update the field: %q", c.Message)
	}
	if provider.CloudCalls(spanner.Service, "UpdateInstance") == calls {
		t.Error("UpdateInstance was not tried")
	}
}

// Against an endpoint that implements UpdateInstance, only the changed
// fields are sent in the mask, and the object becomes Synced again.
func TestInstanceUpdate(t *testing.T) {
	s := onProxy(t)
	in := s.instance("payments", func(in *spannerv1.SpannerInstance) {
		in.Spec.Labels = map[string]commonv1.LabelValue{"team": "a"}
	})
	env.Create(t, in)
	env.WaitReady(t, in)

	testenv.Update(t, env, in, func(in *spannerv1.SpannerInstance) {
		in.Spec.DisplayName = "Payments prod"
		in.Spec.ProcessingUnits = ptr(int32(2000))
	})
	env.WaitSynced(t, in)
	reqs := emu.proxy.instanceUpdates(s.instanceName("payments"))
	if len(reqs) != 1 {
		t.Fatalf("proxy received %d UpdateInstance calls, want 1", len(reqs))
	}
	paths := slices.Sorted(slices.Values(reqs[0].GetFieldMask().GetPaths()))
	if !slices.Equal(paths, []string{"display_name", "processing_units"}) {
		t.Errorf("update mask %v, want display_name and processing_units only", paths)
	}
	if r := reqs[0].GetInstance(); r.DisplayName != "Payments prod" || r.ProcessingUnits != 2000 {
		t.Errorf("update sent %v", r)
	}
	if in.Status.Observed == nil || in.Status.Observed.ProcessingUnits != 2000 || in.Status.Observed.DisplayName != "Payments prod" {
		t.Errorf("status.observed after update: %+v", in.Status.Observed)
	}

	testenv.Update(t, env, in, func(in *spannerv1.SpannerInstance) { in.Spec.Labels = map[string]commonv1.LabelValue{"team": "b"} })
	env.WaitSynced(t, in)
	reqs = emu.proxy.instanceUpdates(s.instanceName("payments"))
	if len(reqs) != 2 || !slices.Equal(reqs[1].GetFieldMask().GetPaths(), []string{"labels"}) {
		t.Fatalf("label update: %v", reqs)
	}
	if l := reqs[1].GetInstance().GetLabels(); l["team"] != "b" || l[managed.OwnerLabelKey] == "" {
		t.Errorf("label update must keep the ownership label: %v", l)
	}
}
