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
// 20,000 Topics that was a third of the process's RSS long after the
// burst (docs/benchmarks.md, "Issue 17: API server cost and memory, second
// pass"). The releaser hands them back once the heap is quiet again.
const (
	// releaseEvery is how often the releaser looks.
	releaseEvery = 30 * time.Second
	// releaseMinBytes: fewer free pages than this are not worth a forced
	// collection.
	releaseMinBytes = 64 << 20
	// quietCycles: at most this many collections since the last look means
	// the heap is not busy; while it is (a burst still running), freed
	// pages are reused soon and returning them would only cost page faults.
	quietCycles = 2
)

// heapState is what the releaser reads from the runtime.
type heapState struct {
	free    uint64 // free heap pages still backed by memory
	objects uint64 // heap objects (live, and dead ones not yet swept)
	cycles  uint64 // completed GC cycles
}

// shouldRelease decides from two looks, one releaseEvery apart, whether to
// return free pages now: there are many (at least releaseMinBytes and a
// quarter of the heap's objects) and the heap has been quiet since the last
// look.
func shouldRelease(prev, now heapState) bool {
	return now.free >= releaseMinBytes && now.free >= now.objects/4 && now.cycles-prev.cycles <= quietCycles
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
					log.Debug("returned free heap pages to the OS", "freeMiB", now.free>>20, "keptMiB", after.free>>20)
					now = after
				}
				prev = now
			}
		}()
	})
}

var heapMetrics = []string{
	"/memory/classes/heap/free:bytes",
	"/memory/classes/heap/objects:bytes",
	"/gc/cycles/total:gc-cycles",
}

func readHeap() heapState {
	s := make([]metrics.Sample, len(heapMetrics))
	for i, n := range heapMetrics {
		s[i].Name = n
	}
	metrics.Read(s)
	return heapState{free: s[0].Value.Uint64(), objects: s[1].Value.Uint64(), cycles: s[2].Value.Uint64()}
}
