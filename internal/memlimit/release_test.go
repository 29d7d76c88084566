package memlimit

import "testing"

func TestShouldRelease(t *testing.T) {
	const mib = 1 << 20
	quiet := heapState{cycles: 10}
	for _, tc := range []struct {
		name string
		now  heapState
		want bool
	}{
		{"many free pages, quiet heap: release", heapState{free: 300 * mib, objects: 400 * mib, cycles: 11}, true},
		{"free pages below the minimum: keep", heapState{free: 60 * mib, objects: 100 * mib, cycles: 10}, false},
		{"free pages small next to the heap: keep", heapState{free: 90 * mib, objects: 1000 * mib, cycles: 10}, false},
		{"busy heap (a burst still running): keep", heapState{free: 500 * mib, objects: 400 * mib, cycles: 13}, false},
		{"two collections since the last look still count as quiet", heapState{free: 500 * mib, objects: 400 * mib, cycles: 12}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := shouldRelease(quiet, tc.now); got != tc.want {
				t.Errorf("shouldRelease(%+v, %+v) = %v, want %v", quiet, tc.now, got, tc.want)
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
