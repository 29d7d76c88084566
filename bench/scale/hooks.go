package main

import (
	"log/slog"
	"runtime/debug"

	"github.com/infraplane/infraplane/internal/controlplane"
	"github.com/infraplane/infraplane/internal/memlimit"
)

// setMemoryLimit sets the soft memory limit as infraplane up does and
// describes it.
func setMemoryLimit() string {
	memlimit.Set(slog.Default())
	if l := debug.SetMemoryLimit(-1); l > 0 && l < 1<<62 {
		return memlimit.Format(uint64(l))
	}
	return "none"
}

// noWatchCache turns the API server's watch cache off for infraplane's
// kinds.
func noWatchCache(o *controlplane.Options) {
	o.Uncached = []string{"topics.pubsub.infraplane.dev", "subscriptions.pubsub.infraplane.dev"}
}
