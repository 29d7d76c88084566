package breakglass_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
	"github.com/infraplane/infraplane/internal/breakglass"
	"github.com/infraplane/infraplane/internal/ledger"
)

// waitExpired polls until the break-glass is Expired and returns how long
// after its expiry time that was observed.
func waitExpired(t *testing.T, key client.ObjectKey, timeout time.Duration) (*corev1alpha1.BreakGlass, time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		bg := &corev1alpha1.BreakGlass{}
		if err := env.Client.Get(context.Background(), key, bg); err == nil && bg.Status.Phase == corev1alpha1.BreakGlassExpired {
			return bg, time.Since(breakglass.ExpiresAt(bg))
		}
		if time.Now().After(deadline) {
			t.Fatalf("break-glass %s not expired after %s", key.Name, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A window ends on time by itself: edits stop, the divergence is reported
// and held, and the ledger records the expiry.
func TestExpiryIsOnTimeAndHolds(t *testing.T) {
	s := newScenario(t)
	p := newPeople(t)
	bg := openFor(t, p.oncall, s, 4*time.Second, false)
	key := client.ObjectKeyFromObject(bg)
	if err := setAckDeadline(p.oncall, s, 30); err != nil {
		t.Fatal(err)
	}
	bg, late := waitExpired(t, key, 20*time.Second)
	t.Logf("expired %s after its expiry time", late.Round(time.Millisecond))
	if late > 2*time.Second {
		t.Errorf("expired %s late, want within 2s", late)
	}
	if !slices.Equal(bg.Status.Held, []string{"Subscription/orders-worker"}) || bg.Status.ClosedBy != "" {
		t.Errorf("after expiry: held %v, closedBy %q", bg.Status.Held, bg.Status.ClosedBy)
	}
	if err := setAckDeadline(p.oncall, s, 40); err == nil {
		t.Error("edit after expiry allowed")
	}
	entries, err := ledger.Read(env.LedgerPath(), ledger.Filter{Type: ledger.TypeBreakGlassExpire})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(entries, func(e ledger.Entry) bool { return e.BreakGlass == s.ns+"/"+bg.Name && len(e.Fields) == 1 }) {
		t.Errorf("no expiry entry with the diverged field for %s: %+v", bg.Name, entries)
	}
	if _, err := breakglass.Revert(context.Background(), p.oncall, key); err != nil {
		t.Fatal(err)
	}
}

// Expiry survives a restart of infraplane: it is computed from the
// creation time, and the restarted controller acts on it on time.
func TestExpiryAcrossRestart(t *testing.T) {
	s := newScenario(t)
	p := newPeople(t)
	bg := openFor(t, p.oncall, s, 10*time.Second, false)
	key := client.ObjectKeyFromObject(bg)

	begin := time.Now()
	env.Restart(t)
	restartTook := time.Since(begin)
	t.Logf("restart took %s", restartTook.Round(time.Millisecond))

	oncall := userClient(t, oncallUser, "oncall") // the API server's address changed
	if time.Until(breakglass.ExpiresAt(bg)) > time.Second {
		if err := setAckDeadline(oncall, s, 25); err != nil {
			t.Fatalf("edit inside the window after a restart: %v", err)
		}
	}
	_, late := waitExpired(t, key, 30*time.Second)
	t.Logf("expired %s after its expiry time, across a restart", late.Round(time.Millisecond))
	if restartTook < 9*time.Second && late > 2*time.Second {
		t.Errorf("expired %s late after a restart, want within 2s", late)
	}
	if err := setAckDeadline(oncall, s, 35); err == nil {
		t.Error("edit after expiry allowed")
	}
}

// The webhook takes openedBy from the authenticated user, never from the
// object; a break-glass cannot be re-scoped or reopened; one holding
// objects cannot be deleted.
func TestBreakGlassIntegrity(t *testing.T) {
	s := newScenario(t)
	p := newPeople(t)
	ctx := context.Background()

	spoof := &corev1alpha1.BreakGlass{}
	spoof.Namespace, spoof.GenerateName = s.ns, "spoof-"
	spoof.Annotations = map[string]string{corev1alpha1.OpenedByAnnotation: oncallUser}
	spoof.Spec = corev1alpha1.BreakGlassSpec{Targets: []corev1alpha1.BreakGlassTarget{{Kind: "Subscription", Name: "orders-worker"}}, Reason: "pretending to be alice", Duration: durationOf(time.Hour)}
	if err := p.colleague.Create(ctx, spoof); err != nil {
		t.Fatal(err)
	}
	bg := waitBG(t, client.ObjectKeyFromObject(spoof), func(bg *corev1alpha1.BreakGlass) error {
		if bg.Status.Phase == "" {
			return fmt.Errorf("not opened yet")
		}
		return nil
	})
	if bg.Status.OpenedBy != colleagueUser || bg.Annotations[corev1alpha1.OpenedByAnnotation] != colleagueUser {
		t.Fatalf("openedBy %q (annotation %q), want %s", bg.Status.OpenedBy, bg.Annotations[corev1alpha1.OpenedByAnnotation], colleagueUser)
	}
	// alice may not edit under bob's break-glass.
	if err := setAckDeadline(p.oncall, s, 50); err == nil {
		t.Fatal("alice edited under bob's break-glass")
	}
	if err := setAckDeadline(p.colleague, s, 50); err != nil {
		t.Fatal(err)
	}

	// Only spec.closed may change.
	patch := client.MergeFrom(bg.DeepCopy())
	bg.Spec.Duration = durationOf(2 * time.Hour)
	if err := p.colleague.Patch(ctx, bg, patch); err == nil || !contains(err, "only spec.closed may change") {
		t.Errorf("extending the duration: %v", err)
	}
	bg = getBG(t, client.ObjectKeyFromObject(bg))
	patch = client.MergeFrom(bg.DeepCopy())
	bg.Annotations[corev1alpha1.OpenedByAnnotation] = oncallUser
	if err := p.colleague.Patch(ctx, bg, patch); err != nil {
		t.Fatal(err)
	}
	if got := getBG(t, client.ObjectKeyFromObject(bg)).Annotations[corev1alpha1.OpenedByAnnotation]; got != colleagueUser {
		t.Errorf("opened-by annotation rewritten to %q", got)
	}

	bg, err := breakglass.Close(ctx, p.colleague, client.ObjectKeyFromObject(bg))
	if err != nil {
		t.Fatal(err)
	}
	patch = client.MergeFrom(bg.DeepCopy())
	bg.Spec.Closed = false
	if err := p.colleague.Patch(ctx, bg, patch); err == nil || !contains(err, "cannot be reopened") {
		t.Errorf("reopening: %v", err)
	}
	if err := env.Client.Delete(ctx, bg); err == nil || !contains(err, "holds Subscription/orders-worker") {
		t.Errorf("deleting a break-glass that holds objects: %v", err)
	}
	if _, err := breakglass.Revert(ctx, p.colleague, client.ObjectKeyFromObject(bg)); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Delete(ctx, bg); err != nil {
		t.Errorf("deleting a resolved break-glass: %v", err)
	}
}
