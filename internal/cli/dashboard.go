package cli

import (
	"context"
	"fmt"
	"log/slog"
	"net"

	"github.com/infraplane/infraplane/internal/dashboard"
)

// startDashboard listens on addr and serves the dashboard until ctx ends;
// it returns the address it listens on. Listening first makes a taken
// port an error at start, not a log line later.
func startDashboard(ctx context.Context, addr string, opts dashboard.Options) (net.Addr, error) {
	h, err := dashboard.New(opts)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--dashboard-bind-address %s: %w", addr, err)
	}
	go func() {
		if err := dashboard.Serve(ctx, ln, h); err != nil {
			slog.Error("dashboard stopped", "err", err)
		}
	}()
	return ln.Addr(), nil
}

// The dashboard's own identity lists namespace names (to ask, as each
// person, which they may read) and the kinds Blueprints define; every
// object a page shows is read as the person (internal/dashboard).
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=list
// +kubebuilder:rbac:groups=infraplane.dev,resources=blueprints,verbs=list
