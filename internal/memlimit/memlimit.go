// Package memlimit gives `infraplane up` and `infraplane controller` a soft
// memory limit (runtime/debug.SetMemoryLimit) derived from the machine: the
// Go runtime then collects harder as the heap nears it, instead of letting
// it grow to twice the live heap (GOGC=100) past what the machine or the
// container has. It is soft: a live heap above it is not an error, only
// more GC work. It also returns the memory freed after a burst to the OS
// sooner than the Go runtime would on its own.
package memlimit

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"

	automemlimit "github.com/KimMachineGun/automemlimit/memlimit"
)

const (
	// cgroupShare of a container's (cgroup's) memory limit: the rest is
	// for what the Go heap does not count (stacks, the runtime, mmapped
	// files such as etcd's db) before the kernel's OOM killer acts.
	cgroupShare = 0.9
	// machineShare of the physical memory when no cgroup limits the
	// process: `infraplane up` shares a laptop with everything else on it.
	machineShare = 0.5
)

// Derive returns the soft limit for a process whose cgroup allows cgroup
// bytes (0: no limit) on a machine with physical bytes of memory (0:
// unknown), and where it came from. 0 means: set none.
func Derive(cgroup, physical uint64) (limit uint64, from string) {
	switch {
	case cgroup > 0 && (physical == 0 || cgroup < physical):
		return uint64(float64(cgroup) * cgroupShare), "cgroup"
	case physical > 0:
		return uint64(float64(physical) * machineShare), "physical memory"
	default:
		return 0, ""
	}
}

// Set applies Derive's limit unless the GOMEMLIMIT environment variable
// is set (then the Go runtime already applied that), and logs which once.
// The cgroup (v1 or v2, nested hierarchies included) and the physical
// memory are read by automemlimit. Either way it starts the releaser,
// which returns the heap pages freed after a burst to the OS (release.go).
func Set(log *slog.Logger) {
	startReleaser(log)
	if v, ok := os.LookupEnv("GOMEMLIMIT"); ok {
		log.Info("soft memory limit from GOMEMLIMIT", "GOMEMLIMIT", v)
		return
	}
	cgroup, err := automemlimit.FromCgroup()
	if err != nil && !errors.Is(err, automemlimit.ErrNoLimit) && !errors.Is(err, automemlimit.ErrNoCgroup) && !errors.Is(err, automemlimit.ErrCgroupsNotSupported) {
		log.Debug("reading the cgroup's memory limit", "err", err)
	}
	if err != nil {
		cgroup = 0
	}
	physical, err := automemlimit.FromSystem()
	if err != nil {
		physical = 0
	}
	limit, from := Derive(cgroup, physical)
	if limit == 0 {
		log.Info("no soft memory limit: neither a cgroup limit nor the machine's memory is known")
		return
	}
	debug.SetMemoryLimit(int64(limit))
	log.Info("soft memory limit", "limit", Format(limit), "from", from, "override", "GOMEMLIMIT")
}

// Format prints a byte count in MiB or GiB.
func Format(b uint64) string {
	if b >= 10<<30 {
		return fmt.Sprintf("%.1f GiB", float64(b)/(1<<30))
	}
	return fmt.Sprintf("%d MiB", b>>20)
}
