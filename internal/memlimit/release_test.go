package memlimit

import "testing"

func TestShouldRelease(t *testing.T) {
	const mib = 1 << 20
	prev := heapState{cycles: 10}
	for _, tc := range []struct {
		name string
		now  heapState
		want bool
	}{
		// At 20,000 Topics after three lists: 465 + 366 + 921 MiB held, goal 936.
		{"what a burst left, quiet heap: release", heapState{objects: 465 * mib, unused: 366 * mib, free: 921 * mib, goal: 936 * mib, cycles: 11}, true},
		{"two collections since the last look still count as quiet", heapState{objects: 465 * mib, unused: 366 * mib, free: 921 * mib, goal: 936 * mib, cycles: 12}, true},
		{"busy heap (a burst still running): keep", heapState{objects: 465 * mib, unused: 366 * mib, free: 921 * mib, goal: 936 * mib, cycles: 13}, false},
		{"up to the goal is headroom the next cycle fills: keep", heapState{objects: 465 * mib, unused: 200 * mib, free: 250 * mib, goal: 936 * mib, cycles: 10}, false},
		{"less than a quarter above the goal: keep", heapState{objects: 465 * mib, unused: 300 * mib, free: 350 * mib, goal: 936 * mib, cycles: 10}, false},
		{"small heap: the surplus must be 64 MiB", heapState{objects: 40 * mib, unused: 10 * mib, free: 60 * mib, goal: 80 * mib, cycles: 10}, false},
		{"small heap, 64 MiB above the goal: release", heapState{objects: 40 * mib, unused: 10 * mib, free: 100 * mib, goal: 80 * mib, cycles: 10}, true},
		{"surplus held in spans, not free pages: nothing to return", heapState{objects: 465 * mib, unused: 800 * mib, free: 10 * mib, goal: 936 * mib, cycles: 10}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := shouldRelease(prev, tc.now); got != tc.want {
				t.Errorf("shouldRelease(%+v, %+v) = %v, want %v", prev, tc.now, got, tc.want)
			}
		})
	}
}

func TestReadHeapReadsTheRuntime(t *testing.T) {
	h := readHeap()
	if h.objects == 0 || h.goal == 0 {
		t.Errorf("readHeap() = %+v: no heap objects or goal; a metric name is wrong", h)
	}
}
