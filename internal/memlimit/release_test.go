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
		// At 20,000 Topics a minute after three lists: 467 MiB of objects, 934 MiB of free pages kept.
		{"what a burst left, idle heap: release", heapState{objects: 467 * mib, free: 934 * mib, cycles: 10}, true},
		{"a collection since the last look (the heap is in use): keep", heapState{objects: 467 * mib, free: 934 * mib, cycles: 11}, false},
		{"free pages below the minimum: keep", heapState{objects: 100 * mib, free: 60 * mib, cycles: 10}, false},
		{"free pages small next to the heap: keep", heapState{objects: 1000 * mib, free: 200 * mib, cycles: 10}, false},
		{"a quarter of the heap and 64 MiB: release", heapState{objects: 400 * mib, free: 100 * mib, cycles: 10}, true},
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
	if h.objects == 0 {
		t.Errorf("readHeap() = %+v: no heap objects; a metric name is wrong", h)
	}
}
