package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"k8s.io/component-base/metrics/legacyregistry"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

// snapshot holds every counter, gauge and histogram (as _sum and _count)
// of the process's metric registries. Keys look like
// `name{label="value",...}` with labels sorted.
type snapshot map[string]float64

// takeSnapshot reads controller-runtime's registry (infraplane's metrics,
// the work queues, client-go's REST client metrics) unprefixed, the API
// server's (Kubernetes' legacy registry) with the prefix "server:" and
// etcd's (Prometheus' default registry) with "etcd:".
func takeSnapshot() snapshot {
	s := snapshot{}
	s.add("", ctrlmetrics.Registry)
	s.add("server:", legacyregistry.DefaultGatherer)
	s.add("etcd:", prometheus.DefaultGatherer)
	return s
}

func (s snapshot) add(prefix string, g prometheus.Gatherer) {
	// Gather returns what it could on error; a partial snapshot only
	// loses detail.
	fams, _ := g.Gather()
	for _, f := range fams {
		for _, m := range f.GetMetric() {
			key := metricKey(prefix+f.GetName(), m.GetLabel())
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				s[key] = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				s[key] = m.GetGauge().GetValue()
			case dto.MetricType_HISTOGRAM:
				h := m.GetHistogram()
				s[metricKey(prefix+f.GetName()+"_sum", m.GetLabel())] = h.GetSampleSum()
				s[metricKey(prefix+f.GetName()+"_count", m.GetLabel())] = float64(h.GetSampleCount())
			}
		}
	}
}

func metricKey(name string, labels []*dto.LabelPair) string {
	parts := make([]string, 0, len(labels))
	for _, l := range labels {
		parts = append(parts, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
	}
	sort.Strings(parts)
	return name + "{" + strings.Join(parts, ",") + "}"
}

// delta returns after-before for every key of after.
func delta(before, after snapshot) snapshot {
	d := snapshot{}
	for k, v := range after {
		d[k] = v - before[k]
	}
	return d
}

// sum adds the values of metric name whose labels include all of match
// (label=value pairs).
func (s snapshot) sum(name string, match ...string) float64 {
	var total float64
	for k, v := range s {
		if !strings.HasPrefix(k, name+"{") {
			continue
		}
		ok := true
		for i := 0; i+1 < len(match); i += 2 {
			if !strings.Contains(k, fmt.Sprintf("%s=%q", match[i], match[i+1])) {
				ok = false
				break
			}
		}
		if ok {
			total += v
		}
	}
	return total
}

// mean is sum/count of histogram name over the matching series.
func (s snapshot) mean(name string, match ...string) float64 {
	n := s.sum(name+"_count", match...)
	if n == 0 {
		return 0
	}
	return s.sum(name+"_sum", match...) / n
}

// byLabel sums metric name by the values of label, over the series
// that also match the label=value pairs in match.
func (s snapshot) byLabel(name, label string, match ...string) map[string]float64 {
	out := map[string]float64{}
	prefix := label + "="
	for k := range s {
		if !strings.HasPrefix(k, name+"{") {
			continue
		}
		for _, p := range strings.Split(strings.TrimSuffix(strings.TrimPrefix(k, name+"{"), "}"), ",") {
			if strings.HasPrefix(p, prefix) {
				v, err := strconv.Unquote(strings.TrimPrefix(p, prefix))
				if err == nil {
					out[v] = 0
				}
			}
		}
	}
	for v := range out {
		out[v] = s.sum(name, append([]string{label, v}, match...)...)
	}
	return out
}

// heapAfterGC returns HeapInuse and HeapAlloc after a full collection.
func heapAfterGC() (inuse, alloc uint64) {
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse, ms.HeapAlloc
}

// selfCPU is this process's user+system CPU time in seconds.
func selfCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return tv(ru.Utime) + tv(ru.Stime)
}

func tv(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }

// clockTicks is USER_HZ, 100 on every Linux this runs on.
const clockTicks = 100

type procStat struct {
	pid, ppid, pgrp int
	cpu             float64 // seconds
}

func readProcs() []procStat {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []procStat
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		// fields after comm: state ppid pgrp session tty tpgid flags minflt
		// cminflt majflt cmajflt utime stime ...
		f := strings.Fields(s[i+1:])
		if len(f) < 13 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		pgrp, _ := strconv.Atoi(f[2])
		ut, _ := strconv.ParseFloat(f[11], 64)
		st, _ := strconv.ParseFloat(f[12], 64)
		out = append(out, procStat{pid: pid, ppid: ppid, pgrp: pgrp, cpu: (ut + st) / clockTicks})
	}
	return out
}

// childGroups returns the processes in the process groups led by direct
// children of this process: the emulator runs in its own group (the gcloud
// wrapper and the JVM under it).
func childGroups() []procStat {
	procs := readProcs()
	self := os.Getpid()
	groups := map[int]bool{}
	for _, p := range procs {
		if p.ppid == self {
			groups[p.pgrp] = true
		}
	}
	var out []procStat
	for _, p := range procs {
		if groups[p.pgrp] && p.pid != self {
			out = append(out, p)
		}
	}
	return out
}

// childCPU is the CPU time of the child process groups (the emulator).
func childCPU() float64 {
	var total float64
	for _, p := range childGroups() {
		total += p.cpu
	}
	return total
}

// childRSS is the summed VmRSS of the child process groups, in bytes.
func childRSS() uint64 {
	var total uint64
	for _, p := range childGroups() {
		total += vmRSS(p.pid)
	}
	return total
}

// vmRSS reads VmRSS of pid from /proc, in bytes.
func vmRSS(pid int) uint64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				kb, _ := strconv.ParseUint(f[0], 10, 64)
				return kb * 1024
			}
		}
	}
	return 0
}

// machine describes where the benchmark ran.
type machine struct {
	CPUs      int
	CPUModel  string
	MemTotal  string
	Kernel    string
	GoVersion string
}

func describeMachine() machine {
	m := machine{CPUs: runtime.NumCPU(), GoVersion: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				f := strings.Fields(rest)
				if len(f) > 0 {
					kb, _ := strconv.ParseFloat(f[0], 64)
					m.MemTotal = fmt.Sprintf("%.1f GiB", kb/1024/1024)
				}
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}

// loadAvg returns the 1, 5 and 15 minute load averages.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
