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
// INFRAPLANE_STATUS_CPUPROFILE does the same for status, from its start to
// its last line ("Issue 17: status decoded from the list's bytes").
const (
	upCPUProfileEnv     = "INFRAPLANE_UP_CPUPROFILE"
	upTraceEnv          = "INFRAPLANE_UP_TRACE"
	statusCPUProfileEnv = "INFRAPLANE_STATUS_CPUPROFILE"
)

// startUpProfile starts what the environment asks for; the func it returns
// stops and writes it (call it once up is up, or on the way out).
func startUpProfile() (stop func()) { return startProfile(upCPUProfileEnv, upTraceEnv) }

// startProfile writes a CPU profile to the file the environment variable
// cpuEnv names and a runtime trace to traceEnv's ("": none) until stop.
func startProfile(cpuEnv, traceEnv string) (stop func()) {
	var stops []func()
	if path := os.Getenv(cpuEnv); path != "" {
		if f, err := os.Create(path); err != nil {
			slog.Warn("CPU profile not written", "err", err)
		} else if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			slog.Warn("CPU profile not written", "err", err)
		} else {
			stops = append(stops, func() { pprof.StopCPUProfile(); f.Close() })
		}
	}
	if path := os.Getenv(traceEnv); traceEnv != "" && path != "" {
		if f, err := os.Create(path); err != nil {
			slog.Warn("trace not written", "err", err)
		} else if err := trace.Start(f); err != nil {
			f.Close()
			slog.Warn("trace not written", "err", err)
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
