package main

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

type row struct {
	name string
	val  func(r *Result) string
}

func table(b *strings.Builder, results []*Result, rows []row) {
	b.WriteString("| |")
	for _, r := range results {
		fmt.Fprintf(b, " %s |", r.Backend)
	}
	b.WriteString("\n|---|")
	for range results {
		b.WriteString("---:|")
	}
	b.WriteString("\n")
	for _, rw := range rows {
		fmt.Fprintf(b, "| %s |", rw.name)
		for _, r := range results {
			fmt.Fprintf(b, " %s |", rw.val(r))
		}
		b.WriteString("\n")
	}
	b.WriteString("\n")
}

func secs(d time.Duration) string {
	if d == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f s", d.Seconds())
}

func ratio(a, b time.Duration) string {
	if a == 0 || b == 0 {
		return "–"
	}
	return fmt.Sprintf("%.1f×", a.Seconds()/b.Seconds())
}

func ms(s float64) string { return fmt.Sprintf("%.1f ms", s*1000) }

func mib(b uint64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

func objects(r *Result) int { return r.Topics + r.Subscriptions }

// perObj divides n by the object count and the number of intervals.
func perObjInterval(n float64, objs int, r *Result) string {
	if objs == 0 || r.Resync == 0 {
		return "–"
	}
	intervals := r.Window.Seconds() / r.Resync.Seconds()
	return fmt.Sprintf("%.2f", n/float64(objs)/intervals)
}

func sortedKV(m map[string]float64, format func(k string, v float64) string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		if s := format(k, m[k]); s != "" {
			parts = append(parts, s)
		}
	}
	if len(parts) == 0 {
		return "–"
	}
	return strings.Join(parts, ", ")
}

func render(results []*Result, notes []string, m machine, command string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "## infraplane foundation benchmark\n\n")
	fmt.Fprintf(&b, "- command: `%s`\n", command)
	fmt.Fprintf(&b, "- machine: %d CPUs (%s), %s RAM, Linux %s, %s\n", m.CPUs, m.CPUModel, m.MemTotal, m.Kernel, m.GoVersion)
	fmt.Fprintf(&b, "- date: %s\n", time.Now().UTC().Format(time.RFC3339))
	for _, r := range results {
		fmt.Fprintf(&b, "- %s: %s; load average at start %s, at end %s\n", r.Backend, strings.ReplaceAll(r.CloudDesc, "\n", "; "), r.LoadAvgStart, r.LoadAvgEnd)
	}
	for _, n := range notes {
		fmt.Fprintf(&b, "- note: %s\n", n)
	}
	b.WriteString("\n")
	if len(results) == 0 {
		return b.String()
	}

	b.WriteString("### 1. Apply-to-Ready\n\n")
	table(&b, results, []row{
		{"objects", func(r *Result) string { return fmt.Sprintf("%d Topics + %d Subscriptions", r.Topics, r.Subscriptions) }},
		{"controller concurrency (per kind)", func(r *Result) string { return fmt.Sprint(r.Concurrency) }},
		{"controllers' API client QPS / burst (per kind)", func(r *Result) string {
			switch {
			case r.ControllerQPS < 0:
				return "no client-side limit"
			case r.ControllerQPS == 0:
				return "200 / 400 (NewManager's default)"
			}
			return fmt.Sprintf("%g / %g", r.ControllerQPS, 2*r.ControllerQPS)
		}},
		{"audit ledger (as infraplane up)", func(r *Result) string {
			if !r.Ledger {
				return "off"
			}
			return fmt.Sprintf("on: %d entries during apply", r.ApplyLedgerEntries)
		}},
		{"API server creates returned after", func(r *Result) string {
			return fmt.Sprintf("%s (%d workers)", secs(r.CreatesTook), r.CreateWorkers)
		}},
		{"all Topics Ready after", func(r *Result) string { return secs(r.TopicsReadyAfter) }},
		{"**apply → all Ready**", func(r *Result) string {
			if r.ReadyCount < objects(r) {
				return fmt.Sprintf("not reached (%d/%d Ready)", r.ReadyCount, objects(r))
			}
			return "**" + secs(r.ApplyToReady) + "**"
		}},
		{"direct admin client: topics, then subscriptions (N workers each)", func(r *Result) string {
			return fmt.Sprintf("%s (topics %s)", secs(r.DirectSeq), secs(r.DirectSeqTopics))
		}},
		{"**ratio apply-to-Ready / direct**", func(r *Result) string { return "**" + ratio(r.ApplyToReady, r.DirectSeq) + "**" }},
		{"direct, pipelined (N topic + N subscription workers)", func(r *Result) string { return secs(r.DirectPipe) }},
		{"ratio apply-to-Ready / pipelined", func(r *Result) string { return ratio(r.ApplyToReady, r.DirectPipe) }},
	})

	b.WriteString("Where the time goes (apply phase, metric deltas; API requests count every client-go client in the process, including the benchmark's own creates):\n\n")
	table(&b, results, []row{
		{"reconciles (kind/result)", func(r *Result) string {
			return sortedKV(r.ApplyReconciles, func(k string, v float64) string { return fmt.Sprintf("%s %.0f", k, v) })
		}},
		{"mean reconcile time", func(r *Result) string {
			return fmt.Sprintf("Topic %s, Subscription %s", ms(r.ApplyReconcileMean["Topic"]), ms(r.ApplyReconcileMean["Subscription"]))
		}},
		{"mean wait in work queue", func(r *Result) string {
			return fmt.Sprintf("Topic %s, Subscription %s", ms(r.ApplyQueueWaitMean["Topic"]), ms(r.ApplyQueueWaitMean["Subscription"]))
		}},
		{"API requests (method/code)", func(r *Result) string {
			return sortedKV(r.ApplyAPIRequests, func(k string, v float64) string { return fmt.Sprintf("%s %.0f", k, v) })
		}},
		{"controller API writes per object (PATCH)", func(r *Result) string {
			var n float64
			for k, v := range r.ApplyAPIRequests {
				if strings.HasPrefix(k, "PATCH/") {
					n += v
				}
			}
			return fmt.Sprintf("%.2f", n/float64(objects(r)))
		}},
		{"all API writes per object (POST, PUT, PATCH, DELETE: the creates, the controllers' writes, Events)", func(r *Result) string {
			var n float64
			for k, v := range r.ApplyAPIRequests {
				for _, m := range []string{"POST/", "PUT/", "PATCH/", "DELETE/"} {
					if strings.HasPrefix(k, m) {
						n += v
					}
				}
			}
			return fmt.Sprintf("%.2f", n/float64(objects(r)))
		}},
		{"Event objects written", func(r *Result) string { return fmt.Sprint(r.ApplyEvents) }},
		{"mean API request latency (verb)", func(r *Result) string {
			return sortedKV(r.ApplyAPILatency, func(k string, v float64) string {
				if v == 0 {
					return ""
				}
				return fmt.Sprintf("%s %s", k, ms(v))
			})
		}},
		{"mean time inside the API server (requests)", func(r *Result) string {
			return sortedKV(r.ApplyServerLatency, func(k string, v float64) string {
				return fmt.Sprintf("%s %s (%.0f)", k, ms(v), r.ApplyServerCount[k])
			})
		}},
		{"etcd writes from the API server (mean) / WAL fsyncs (mean)", func(r *Result) string {
			return fmt.Sprintf("%.0f (%s) / %.0f (%s)", r.ApplyEtcdWrites, ms(r.ApplyEtcdLatency), r.ApplyWALFsyncs, ms(r.ApplyWALFsyncMean))
		}},
		{"time waited in client-side rate limiters (verb)", func(r *Result) string {
			return sortedKV(r.ApplyRateLimitWait, func(k string, v float64) string {
				if v < 0.0005 {
					return ""
				}
				return fmt.Sprintf("%s %.1f s", k, v)
			})
		}},
		{"cloud calls (mean latency)", func(r *Result) string {
			return sortedKV(r.ApplyCloudCalls, func(k string, v float64) string {
				return fmt.Sprintf("%s %.0f (%s)", k, v, ms(r.ApplyCloudLatency[k]))
			})
		}},
		{"CPU during apply: this process / emulator", func(r *Result) string {
			return fmt.Sprintf("%.1f s (%.2f cores) / %.1f s", r.ApplySelfCPU, r.ApplySelfCPU/r.ApplyToReady.Seconds(), r.ApplyChildCPU)
		}},
		{"CPU during direct baseline: this process / emulator", func(r *Result) string {
			return fmt.Sprintf("%.1f s / %.1f s", r.DirectSeqSelfCPU, r.DirectSeqChildCPU)
		}},
		{"CPU profile", func(r *Result) string {
			if r.CPUProfile == "" {
				return "–"
			}
			return "`" + r.CPUProfile + "`"
		}},
	})

	b.WriteString("### 2. Steady-state cloud calls\n\n")
	table(&b, results, []row{
		{"resync interval / window", func(r *Result) string {
			return fmt.Sprintf("%s / %s", r.Resync, r.Window)
		}},
		{"fresh controllers settled after (first reconcile of all objects)", func(r *Result) string {
			s := secs(r.SteadySettle)
			if !r.SteadyReady {
				s += " (did not settle)"
			}
			return s
		}},
		{"GetTopic per Topic per interval", func(r *Result) string {
			return perObjInterval(r.SteadyCloud["GetTopic"], r.Topics, r)
		}},
		{"GetSubscription per Subscription per interval", func(r *Result) string {
			return perObjInterval(r.SteadyCloud["GetSubscription"], r.Subscriptions, r)
		}},
		{"List calls in window (ListTopics / ListSubscriptions, one per page)", func(r *Result) string {
			return fmt.Sprintf("%.0f / %.0f", r.SteadyCloud["ListTopics"], r.SteadyCloud["ListSubscriptions"])
		}},
		{"**cloud reads per object per interval** (Gets and List pages)", func(r *Result) string {
			reads := r.SteadyCloud["GetTopic"] + r.SteadyCloud["GetSubscription"] + r.SteadyCloud["ListTopics"] + r.SteadyCloud["ListSubscriptions"]
			return "**" + perObjInterval(reads, objects(r), r) + "**"
		}},
		{"CPU in window: this process / emulator (cores)", func(r *Result) string {
			return fmt.Sprintf("%.1f s (%.3f cores) / %.1f s", r.SteadySelfCPU, r.SteadySelfCPU/r.Window.Seconds(), r.SteadyChildCPU)
		}},
		{"**cloud writes in window**", func(r *Result) string {
			var n float64
			for k, v := range r.SteadyCloud {
				if !strings.HasPrefix(k, "Get") && !strings.HasPrefix(k, "List") {
					n += v
				}
			}
			return fmt.Sprintf("**%.0f**", n)
		}},
		{"reconciles per object per interval (Topic / Subscription)", func(r *Result) string {
			return perObjInterval(r.SteadyRecon["Topic"], r.Topics, r) + " / " + perObjInterval(r.SteadyRecon["Subscription"], r.Subscriptions, r)
		}},
		{"audit ledger entries in window", func(r *Result) string {
			if !r.Ledger {
				return "off"
			}
			return fmt.Sprint(r.SteadyLedgerEntries)
		}},
		{"API PATCH per object per interval", func(r *Result) string {
			return perObjInterval(r.SteadyAPI["PATCH"], objects(r), r)
		}},
		{"mean wait in work queue (Topic / Subscription)", func(r *Result) string {
			return ms(r.SteadyQueueWait["Topic"]) + " / " + ms(r.SteadyQueueWait["Subscription"])
		}},
		{"CPU profile", func(r *Result) string {
			if r.SteadyCPUProfile == "" {
				return "–"
			}
			return "`" + r.SteadyCPUProfile + "`"
		}},
		{"CPU in window: this process / emulator", func(r *Result) string {
			w := r.Window.Seconds()
			return fmt.Sprintf("%.1f s (%.2f cores) / %.1f s (%.2f cores)", r.SteadySelfCPU, r.SteadySelfCPU/w, r.SteadyChildCPU, r.SteadyChildCPU/w)
		}},
	})

	b.WriteString("Server-side re-apply of every object's manifest (fieldManager kubectl, as `kubectl apply --server-side`), twice: the first takes the fields over from the creates, the second changes nothing.\n\n")
	table(&b, results, []row{
		{"re-apply 1: objects changed (new resourceVersion) / ledger entries", func(r *Result) string {
			return fmt.Sprintf("%d / %d", r.ReapplyChanged[0], r.ReapplyLedgerEntries[0])
		}},
		{"**re-apply 2 (unchanged): objects changed / ledger entries**", func(r *Result) string {
			return fmt.Sprintf("**%d / %d**", r.ReapplyChanged[1], r.ReapplyLedgerEntries[1])
		}},
	})

	b.WriteString("### 3. Memory per managed object\n\n")
	b.WriteString("Heap in use after GC, in the one process that hosts the API server, etcd, the controllers and (pstest only) the fake cloud: an upper bound for the controllers.\n\n")
	table(&b, results, []row{
		{"heap in use before creating objects", func(r *Result) string { return mib(r.HeapInuseBefore) }},
		{"heap in use with all objects Ready", func(r *Result) string { return mib(r.HeapInuseAfter) }},
		{"**heap in use per object**", func(r *Result) string {
			return fmt.Sprintf("**%.1f KiB**", (float64(r.HeapInuseAfter)-float64(r.HeapInuseBefore))/float64(objects(r))/1024)
		}},
		{"live heap (HeapAlloc) per object", func(r *Result) string {
			return fmt.Sprintf("%.1f KiB", (float64(r.HeapAllocAfter)-float64(r.HeapAllocBefore))/float64(objects(r))/1024)
		}},
		{"heap profile", func(r *Result) string {
			if r.HeapProfile == "" {
				return "–"
			}
			return "`" + r.HeapProfile + "`"
		}},
		{"process RSS with all Ready / emulator RSS", func(r *Result) string {
			s := mib(r.RSSAfter)
			if r.ChildRSSAfter > 0 {
				s += " / " + mib(r.ChildRSSAfter)
			} else {
				s += " / –"
			}
			return s
		}},
	})
	return b.String()
}
