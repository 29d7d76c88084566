package breakglass_test

import (
	"context"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
	"github.com/infraplane/infraplane/internal/breakglass"
)

func durationOf(d time.Duration) metav1.Duration { return metav1.Duration{Duration: d} }

func contains(err error, s string) bool { return err != nil && strings.Contains(err.Error(), s) }

// Bad break-glasses are refused with a message that says what is wrong,
// whether they come through the CLI or straight from kubectl.
func TestBadBreakGlassesAreRefused(t *testing.T) {
	s := newScenario(t)
	p := newPeople(t)
	ctx := context.Background()
	base := breakglass.OpenRequest{Namespace: s.ns, Targets: []string{"subscription/orders-worker"}, Reason: "INC-1 something broke", Duration: time.Hour}

	cases := []struct {
		name string
		req  func(r *breakglass.OpenRequest)
		want string
	}{
		{"missing reason", func(r *breakglass.OpenRequest) { r.Reason = "" }, "--reason is required"},
		{"missing duration", func(r *breakglass.OpenRequest) { r.Duration = 0 }, "--duration is required"},
		{"no target", func(r *breakglass.OpenRequest) { r.Targets = nil }, "--target kind/name"},
		{"malformed target", func(r *breakglass.OpenRequest) { r.Targets = []string{"orders-worker"} }, "want kind/name"},
		{"reason too short", func(r *breakglass.OpenRequest) { r.Reason = "fix" }, "spec.reason"},
		{"over the cap", func(r *breakglass.OpenRequest) { r.Duration = 3 * time.Hour }, "longer than the 2h0m0s the platform allows"},
		{"over 24h", func(r *breakglass.OpenRequest) { r.Duration = 48 * time.Hour }, "break-glass: duration 48h0m0s is longer than"},
		{"unknown kind", func(r *breakglass.OpenRequest) { r.Targets = []string{"widget/orders"} }, `unknown kind "Widget" (a break-glass covers `},
		{"unknown object", func(r *breakglass.OpenRequest) { r.Targets = []string{"subscription/orders-wroker"} }, "no such Subscription in namespace " + s.ns},
		{"selector matching nothing", func(r *breakglass.OpenRequest) { r.Targets, r.Selector = nil, "team=nobody" }, "matches no object"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := base
			c.req(&req)
			_, err := breakglass.Open(ctx, p.oncall, req)
			if !contains(err, c.want) {
				t.Errorf("got %v, want an error containing %q", err, c.want)
			}
		})
	}

	// Straight from kubectl: neither targets nor selector.
	bare := &corev1alpha1.BreakGlass{}
	bare.Namespace, bare.Name = s.ns, "bare"
	bare.Spec = corev1alpha1.BreakGlassSpec{Reason: "INC-1 something broke", Duration: durationOf(time.Hour)}
	if err := p.oncall.Create(ctx, bare); !contains(err, "name the objects to change") {
		t.Errorf("no targets: %v", err)
	}

	// Overlap: one active break-glass per object.
	first, err := breakglass.Open(ctx, p.oncall, base)
	if err != nil {
		t.Fatal(err)
	}
	_, err = breakglass.Open(ctx, p.colleague, base)
	if !contains(err, "Subscription/orders-worker is already covered by break-glass "+first.Name+" (opened by "+oncallUser) {
		t.Errorf("overlapping break-glass: %v", err)
	}
	if _, err := breakglass.Close(ctx, p.oncall, keyOf(first)); err != nil {
		t.Fatal(err)
	}
	if _, err := breakglass.Open(ctx, p.colleague, base); err != nil {
		t.Errorf("opening after the first closed: %v", err)
	}
}
