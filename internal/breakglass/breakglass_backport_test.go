package breakglass_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
	"github.com/infraplane/infraplane/internal/backport"
	"github.com/infraplane/infraplane/internal/breakglass"
	"github.com/infraplane/infraplane/internal/ledger"
	"github.com/infraplane/infraplane/internal/testenv"
)

// The incident scenario end to end, ending in a backport: the on-call
// engineer raises a subscription's ack deadline through a break-glass, a
// colleague cannot touch it, a push during the window does not overwrite
// it, the window's end reports and holds the divergence, and the backport,
// once merged, releases the hold without anything being reverted.
func TestIncidentEndsInBackport(t *testing.T) {
	s := newScenario(t)
	p := newPeople(t)
	ctx := context.Background()

	// Before a break-glass: denied, and told how to open one.
	err := setAckDeadline(p.oncall, s, 60)
	if err == nil || !strings.Contains(err.Error(), "managed by git") || !strings.Contains(err.Error(), "infraplane breakglass open --namespace "+s.ns+" --target subscription/orders-worker") {
		t.Fatalf("edit before break-glass: want a denial saying how to open one, got %v", err)
	}

	bg := openFor(t, p.oncall, s, time.Hour, false)
	key := client.ObjectKeyFromObject(bg)
	if bg.Status.OpenedBy != oncallUser || bg.Status.Phase != corev1alpha1.BreakGlassActive {
		t.Fatalf("opened: by %q phase %q", bg.Status.OpenedBy, bg.Status.Phase)
	}

	// The opener's edit goes through and reaches the cloud within seconds.
	if err := setAckDeadline(p.oncall, s, 60); err != nil {
		t.Fatalf("edit under break-glass: %v", err)
	}
	took := s.waitCloudAckDeadline(t, 60)
	t.Logf("direct edit in the cloud after %s", took.Round(time.Millisecond))

	// The colleague is still denied, and told who holds it.
	err = setAckDeadline(p.colleague, s, 30)
	if err == nil || !strings.Contains(err.Error(), "only "+oncallUser) {
		t.Fatalf("colleague's edit: want a denial naming the opener, got %v", err)
	}

	// Someone merges a change to the same field in git during the window:
	// the syncer applies the revision but leaves the target alone.
	rev := s.repo.push("orders-worker: ack deadline 15s", map[string]string{
		"pubsub/subscription.yaml": strings.Replace(subscriptionYAML, "ackDeadlineSeconds: 10", "ackDeadlineSeconds: 15", 1),
	})
	gs := s.sync(t)
	if !strings.HasSuffix(gs.Status.LastAppliedRevision, rev) {
		t.Fatalf("revision not applied: %+v", gs.Status)
	}
	if got := s.subscription(t).Spec.AckDeadlineSeconds; got != 60 {
		t.Fatalf("the sync overwrote the break-glass edit: ack deadline %v", got)
	}

	// Closing reports git vs object vs cloud and holds the object.
	bg, err = breakglass.Close(ctx, p.oncall, key)
	if err != nil {
		t.Fatal(err)
	}
	if bg.Status.Phase != corev1alpha1.BreakGlassClosed || bg.Status.ClosedBy != oncallUser {
		t.Fatalf("closed: phase %q by %q", bg.Status.Phase, bg.Status.ClosedBy)
	}
	if !slices.Equal(bg.Status.Held, []string{"Subscription/orders-worker"}) {
		t.Fatalf("held: %v (targets %+v)", bg.Status.Held, bg.Status.Targets)
	}
	want := corev1alpha1.DivergedField{Path: "spec.ackDeadlineSeconds", Git: "15", Object: "60", Cloud: "60"}
	if f := bg.Status.Targets[0].Fields; len(f) != 1 || f[0] != want {
		t.Fatalf("divergence report: %+v, want %+v", f, want)
	}
	waitDiverged(t, s, "True")
	waitHeldMetric(t, s.ns, 1)

	// Held: a sync does not revert it, and direct edits are closed again.
	s.sync(t)
	if got := s.subscription(t).Spec.AckDeadlineSeconds; got != 60 {
		t.Fatalf("a held object was reverted by a sync: %d", got)
	}
	if err := setAckDeadline(p.oncall, s, 70); err == nil {
		t.Fatal("edit after the window closed was allowed")
	}

	// Backport: a commit on a new branch, comments kept; merged, git
	// matches and the hold ends by itself.
	res, err := breakglass.Backport(ctx, p.oncall, key, breakglass.BackportRequest{Options: backport.Options{Author: "Alice", Email: oncallUser}})
	if err != nil {
		t.Fatalf("backport: %v", err)
	}
	if res.Branch != "breakglass/"+bg.Name {
		t.Errorf("branch %q", res.Branch)
	}
	s.repo.merge(res.Branch)
	if got, want := s.repo.file("pubsub/subscription.yaml"), strings.Replace(subscriptionYAML, "ackDeadlineSeconds: 10", "ackDeadlineSeconds: 60", 1); got != want {
		t.Errorf("backported file:\n%s\nwant:\n%s", got, want)
	}
	s.sync(t)
	bg = waitBG(t, key, func(bg *corev1alpha1.BreakGlass) error {
		if len(bg.Status.Held) > 0 || bg.Status.Targets[0].State != corev1alpha1.TargetReleased {
			return fmt.Errorf("still held: %+v", bg.Status.Targets)
		}
		return nil
	})
	waitDiverged(t, s, "False")
	if got := s.cloudAckDeadline(t); got != 60 {
		t.Errorf("cloud ack deadline after the backport: %d, want 60 (nothing reverted)", got)
	}
	waitHeldMetric(t, s.ns, 0)

	// The ledger tells the story, with the break-glass id on the edit.
	id := s.ns + "/" + bg.Name
	entries, err := ledger.Read(env.LedgerPath(), ledger.Filter{BreakGlass: id})
	if err != nil {
		t.Fatal(err)
	}
	var story []string
	for _, e := range entries {
		story = append(story, string(e.Type)+" by "+e.Actor)
	}
	for _, want := range []string{
		"breakglass-open by " + oncallUser, "direct-edit by " + oncallUser, "breakglass-close by " + oncallUser,
		"breakglass-backport by " + oncallUser, "breakglass-release by infraplane",
	} {
		if !slices.Contains(story, want) {
			t.Errorf("ledger lacks %q; entries of %s: %v", want, id, story)
		}
	}
}

func waitDiverged(t *testing.T, s *scenario, want string) {
	t.Helper()
	testenv.Eventually(t, 30*time.Second, func() error {
		c := meta.FindStatusCondition(s.subscription(t).Status.Conditions, commonv1.TypeDiverged)
		if c == nil || string(c.Status) != want {
			return fmt.Errorf("Diverged: %+v, want %s", c, want)
		}
		return nil
	})
}

func waitHeldMetric(t *testing.T, ns string, want float64) {
	t.Helper()
	testenv.Eventually(t, 10*time.Second, func() error {
		if v := heldMetric(t, ns); v != want {
			return fmt.Errorf("infraplane_breakglass_held_objects{namespace=%q} = %v, want %v", ns, v, want)
		}
		return nil
	})
}

// heldMetric reads infraplane_breakglass_held_objects for a namespace.
func heldMetric(t *testing.T, ns string) float64 {
	t.Helper()
	families, err := metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "infraplane_breakglass_held_objects" {
			continue
		}
		for _, m := range f.Metric {
			if labelValue(m, "namespace") == ns {
				return m.GetGauge().GetValue()
			}
		}
	}
	return 0
}

func labelValue(m *dto.Metric, name string) string {
	for _, l := range m.Label {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}
