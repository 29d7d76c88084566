package cli

import (
	"log/slog"
	"os"
	"runtime/pprof"
	"runtime/trace"
)

// Start-up profiling, for finding where up's seconds go (docs/benchmarks.md,
// "Issue 17: start-up, second pass"): with INFRAPLANE_UP_CPUPROFILE and/or
// INFRAPLANE_UP_TRACE naming files, up writes a CPU profile and/or a
// runtime trace from its start until "infraplane is up". Environment
// variables, not flags: a tool for whoever works on start-up, not a feature.
const (
	upCPUProfileEnv = "INFRAPLANE_UP_CPUPROFILE"
	upTraceEnv      = "INFRAPLANE_UP_TRACE"
)

// startUpProfile starts what the environment asks for; the func it returns
// stops and writes it (call it once up is up, or on the way out).
func startUpProfile() (stop func()) {
	var stops []func()
	if path := os.Getenv(upCPUProfileEnv); path != "" {
		if f, err := os.Create(path); err != nil {
			slog.Warn("start-up CPU profile not written", "err", err)
		} else if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			slog.Warn("start-up CPU profile not written", "err", err)
		} else {
			stops = append(stops, func() { pprof.StopCPUProfile(); f.Close() })
		}
	}
	if path := os.Getenv(upTraceEnv); path != "" {
		if f, err := os.Create(path); err != nil {
			slog.Warn("start-up trace not written", "err", err)
		} else if err := trace.Start(f); err != nil {
			f.Close()
			slog.Warn("start-up trace not written", "err", err)
		} else {
			stops = append(stops, func() { trace.Stop(); f.Close() })
		}
	}
	done := false
	return func() {
		if done {
			return
		}
		done = true
		for _, s := range stops {
			s()
		}
	}
}
