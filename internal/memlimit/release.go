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
// heap freed once the heap is idle again.
const (
	// releaseEvery is how often the releaser looks.
	releaseEvery = 15 * time.Second
	// releaseMinBytes: fewer free pages than this are not worth a forced
	// collection.
	releaseMinBytes = 64 << 20
)

// heapState is what the releaser reads from the runtime.
type heapState struct {
	objects uint64 // heap objects (live, and dead ones not yet swept)
	free    uint64 // free heap pages still backed by memory
	cycles  uint64 // completed GC cycles
}

// shouldRelease decides from two looks, one releaseEvery apart, whether to
// return free pages now: there are many (at least releaseMinBytes and a
// quarter of the heap's objects) and no collection ran since the last
// look (an idle heap). A heap that collects more often than every
// releaseEvery reuses its free pages soon; releasing them would cost a
// full collection and page faults for nothing. Since only a collection
// frees pages, the releaser forces at most about as many collections as
// the runtime runs on its own, and none while it runs them often. (Comparing with the heap goal does not work:
// after a burst the goal still reflects the burst's heap until the next
// collection, which an idle heap does not run.)
func shouldRelease(prev, now heapState) bool {
	return now.free >= releaseMinBytes && now.free >= now.objects/4 && now.cycles == prev.cycles
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
	"/memory/classes/heap/objects:bytes",
	"/memory/classes/heap/free:bytes",
	"/gc/cycles/total:gc-cycles",
}

func readHeap() heapState {
	s := make([]metrics.Sample, len(heapMetrics))
	for i, n := range heapMetrics {
		s[i].Name = n
	}
	metrics.Read(s)
	return heapState{objects: s[0].Value.Uint64(), free: s[1].Value.Uint64(), cycles: s[2].Value.Uint64()}
}
