package main

import (
	"bufio"
	"fmt"
	"os"
	"runtime/metrics"
	"strconv"
	"strings"
)

// memClasses splits the process's memory the way the Go runtime and the
// kernel see it, to tell which part of the RSS per object is live data and
// which is headroom, pages not yet returned, stacks or etcd's mmapped db.
type memClasses struct {
	objects   uint64 // heap objects, live and not yet swept dead ones
	unused    uint64 // heap spans' free slots (fragmentation)
	free      uint64 // free heap pages still backed by memory (not yet scavenged)
	released  uint64 // free heap pages returned to the OS
	stacks    uint64 // goroutine stacks
	runtime   uint64 // the runtime's own metadata, GC and profiling buffers
	goTotal   uint64 // all memory the Go runtime mapped (minus released)
	heapGoal  uint64 // the heap size at which the next GC starts
	goroutine uint64
	// From /proc/self/smaps: resident pages of etcd's db file (a shared
	// file mapping, counted in RSS) and of anonymous mappings.
	etcdDBRss, anonRss uint64
}

var memMetricNames = []string{
	"/memory/classes/heap/objects:bytes",
	"/memory/classes/heap/unused:bytes",
	"/memory/classes/heap/free:bytes",
	"/memory/classes/heap/released:bytes",
	"/memory/classes/heap/stacks:bytes",
	"/memory/classes/metadata/other:bytes",
	"/memory/classes/metadata/mspan/inuse:bytes",
	"/memory/classes/metadata/mcache/inuse:bytes",
	"/memory/classes/os-stacks:bytes",
	"/memory/classes/other:bytes",
	"/memory/classes/profiling/buckets:bytes",
	"/memory/classes/total:bytes",
	"/gc/heap/goal:bytes",
	"/sched/goroutines:goroutines",
}

// readMemClasses reads the runtime's memory classes (no GC of its own: call
// it right after readMem's) and this process's smaps.
func readMemClasses() memClasses {
	s := make([]metrics.Sample, len(memMetricNames))
	for i, n := range memMetricNames {
		s[i].Name = n
	}
	metrics.Read(s)
	v := func(i int) uint64 {
		if s[i].Value.Kind() != metrics.KindUint64 {
			return 0
		}
		return s[i].Value.Uint64()
	}
	c := memClasses{
		objects: v(0), unused: v(1), free: v(2), released: v(3), stacks: v(4) + v(8),
		runtime:  v(5) + v(6) + v(7) + v(9) + v(10),
		goTotal:  v(11) - v(3),
		heapGoal: v(12), goroutine: v(13),
	}
	c.etcdDBRss, c.anonRss = smapsRss()
	return c
}

// smapsRss sums the Rss of mappings of etcd's db file (…/member/snap/db)
// and of anonymous mappings in /proc/self/smaps.
func smapsRss() (etcdDB, anon uint64) {
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	var kind int // 0 other, 1 etcd db, 2 anonymous
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		// A mapping's header starts with its address range "a-b".
		if strings.Contains(fields[0], "-") && !strings.HasSuffix(fields[0], ":") {
			switch {
			case len(fields) >= 6 && strings.HasSuffix(fields[5], "/member/snap/db"):
				kind = 1
			case len(fields) == 5 || (len(fields) >= 6 && strings.HasPrefix(fields[5], "[")):
				kind = 2 // no path: anonymous (heap, stacks); [heap], [stack] too
			default:
				kind = 0
			}
			continue
		}
		if fields[0] != "Rss:" || len(fields) < 2 {
			continue
		}
		kb, _ := strconv.ParseUint(fields[1], 10, 64)
		switch kind {
		case 1:
			etcdDB += kb << 10
		case 2:
			anon += kb << 10
		}
	}
	return etcdDB, anon
}

// rows describes the classes per object (minus the same before creating,
// where before is given) for the report.
func (c memClasses) rows(when string, before memClasses, n int) [][2]string {
	per := func(v, b uint64) string {
		if v < b {
			return fmt.Sprintf("−%.1f KiB", float64(b-v)/1024/float64(n))
		}
		return fmt.Sprintf("%.1f KiB", float64(v-b)/1024/float64(n))
	}
	mib := func(v uint64) string { return fmt.Sprintf("%.0f MiB", float64(v)/(1<<20)) }
	return [][2]string{
		{"Go heap objects after GC, " + when + " (per object minus before)", mib(c.objects) + " (" + per(c.objects, before.objects) + ")"},
		{"Go heap spans' free slots (fragmentation), " + when, mib(c.unused) + " (" + per(c.unused, before.unused) + ")"},
		{"Go heap free pages not returned to the OS, " + when, mib(c.free) + " (" + per(c.free, before.free) + ")"},
		{"Go heap pages returned to the OS, " + when, mib(c.released)},
		{"goroutine and OS stacks, " + when, fmt.Sprintf("%s (%d goroutines)", mib(c.stacks), c.goroutine)},
		{"Go runtime metadata, " + when, mib(c.runtime)},
		{"all memory the Go runtime holds, " + when, mib(c.goTotal) + " (" + per(c.goTotal, before.goTotal) + ")"},
		{"next GC at (heap goal), " + when, mib(c.heapGoal)},
		{"RSS of etcd's mmapped db file, " + when, mib(c.etcdDBRss) + " (" + per(c.etcdDBRss, before.etcdDBRss) + ")"},
		{"RSS of anonymous mappings, " + when, mib(c.anonRss) + " (" + per(c.anonRss, before.anonRss) + ")"},
	}
}
