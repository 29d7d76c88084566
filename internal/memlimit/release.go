package memlimit

import (
	"log/slog"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"time"
)

// After a burst (converging thousands of objects, a list of all of them)
// the Go runtime keeps the heap pages it freed and returns them to the OS
// only slowly (its background scavenger uses about 1 % of a CPU): at
// 20,000 Topics that was 921 MiB, 45 % of the process's RSS, a minute
// after three lists of all objects (docs/benchmarks.md, "Issue 17: API
// server cost and memory, second pass"). The releaser hands back what the
// heap holds beyond its goal once the heap is quiet again.
const (
	// releaseEvery is how often the releaser looks.
	releaseEvery = 30 * time.Second
	// releaseMinBytes: a surplus smaller than this is not worth a forced
	// collection.
	releaseMinBytes = 64 << 20
	// releaseAboveGoal: the surplus, as a share of the heap goal, that
	// counts as left over from a burst. Up to the goal the heap is only
	// what the next cycle will fill again (GOGC's headroom); returning it
	// after every cycle would cost a full collection and page faults each
	// time for nothing.
	releaseAboveGoal = 0.25
	// quietCycles: at most this many collections since the last look means
	// the heap is not busy; while it is (a burst still running), freed
	// pages are reused soon and returning them would only cost page faults.
	quietCycles = 2
)

// heapState is what the releaser reads from the runtime.
type heapState struct {
	objects uint64 // heap objects (live, and dead ones not yet swept)
	unused  uint64 // free slots in spans that hold objects
	free    uint64 // free heap pages still backed by memory
	goal    uint64 // the heap size at which the next collection starts
	cycles  uint64 // completed GC cycles
}

// retained is the heap memory the process holds.
func (h heapState) retained() uint64 { return h.objects + h.unused + h.free }

// shouldRelease decides from two looks, one releaseEvery apart, whether to
// return free pages now: the heap holds more than its goal plus
// releaseAboveGoal of it (and at least releaseMinBytes more), that surplus
// is free pages, and the heap has been quiet since the last look.
func shouldRelease(prev, now heapState) bool {
	limit := now.goal + max(releaseMinBytes, uint64(float64(now.goal)*releaseAboveGoal))
	return now.retained() > limit && now.free >= releaseMinBytes && now.cycles-prev.cycles <= quietCycles
}

var releaserOnce sync.Once

// startReleaser starts the releaser once per process; it runs as long as
// the process does.
func startReleaser(log *slog.Logger) {
	releaserOnce.Do(func() {
		go func() {
			prev := readHeap()
			for range time.Tick(releaseEvery) {
				now := readHeap()
				if shouldRelease(prev, now) {
					// A full collection first, then every free page back to
					// the OS: the same as the runtime's scavenger, at once.
					debug.FreeOSMemory()
					after := readHeap()
					log.Debug("returned free heap pages to the OS", "freeMiB", now.free>>20, "goalMiB", now.goal>>20, "keptMiB", after.free>>20)
					now = after
				}
				prev = now
			}
		}()
	})
}

var heapMetrics = []string{
	"/memory/classes/heap/objects:bytes",
	"/memory/classes/heap/unused:bytes",
	"/memory/classes/heap/free:bytes",
	"/gc/heap/goal:bytes",
	"/gc/cycles/total:gc-cycles",
}

func readHeap() heapState {
	s := make([]metrics.Sample, len(heapMetrics))
	for i, n := range heapMetrics {
		s[i].Name = n
	}
	metrics.Read(s)
	return heapState{objects: s[0].Value.Uint64(), unused: s[1].Value.Uint64(), free: s[2].Value.Uint64(), goal: s[3].Value.Uint64(), cycles: s[4].Value.Uint64()}
}
