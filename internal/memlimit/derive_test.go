package memlimit

import "testing"

func TestDerive(t *testing.T) {
	const gib = 1 << 30
	for _, tc := range []struct {
		name             string
		cgroup, physical uint64
		want             uint64
		from             string
	}{
		{"container limit: 90% of it", 4 * gib, 32 * gib, 4 * gib / 10 * 9, "cgroup"},
		{"no cgroup limit: half the machine", 0, 24 * gib, 12 * gib, "physical memory"},
		{"a cgroup limit above the machine's memory is no limit", 64 * gib, 24 * gib, 12 * gib, "physical memory"},
		{"cgroup limit, machine unknown", 2 * gib, 0, 2 * gib / 10 * 9, "cgroup"},
		{"nothing known: no limit", 0, 0, 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, from := Derive(tc.cgroup, tc.physical)
			// float rounding: within a KiB
			if diff := int64(got) - int64(tc.want); diff > 1024 || diff < -1024 || from != tc.from {
				t.Errorf("Derive(%d, %d) = %d, %q; want %d, %q", tc.cgroup, tc.physical, got, from, tc.want, tc.from)
			}
		})
	}
}
