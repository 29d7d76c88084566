package cli

import (
	"log/slog"
	"os"
	"runtime/debug"
	"sync"
)

// startupGOGC is the GC target up runs with from its start until "is up"
// (the Go default, 100, after). The heap is small during the start (about
// 100 MiB), but it is allocated fast — building the API server, the CRDs'
// schemas — and at GOGC 100 the collector ran some 0.4–0.6 s of a start's
// CPU, on the two cores the start itself needs. The soft memory limit
// (internal/memlimit) still bounds the heap. Measured in docs/benchmarks.md,
// "Issue 17: start-up, third pass".
const startupGOGC = 400

// lessGCUntilUp raises the GC target for the start; the func it returns
// puts back what was there (safe to call more than once). A GOGC set in
// the environment is left alone.
func lessGCUntilUp() (restore func()) {
	if _, set := os.LookupEnv("GOGC"); set {
		return func() {}
	}
	prev := debug.SetGCPercent(startupGOGC)
	var once sync.Once
	return func() {
		once.Do(func() {
			debug.SetGCPercent(prev)
			slog.Debug("GC target back to the default", "GOGC", prev)
		})
	}
}
