package dashboard_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	pubsubv1 "github.com/infraplane/infraplane/api/pubsub/v1alpha1"
	"github.com/infraplane/infraplane/internal/dashboard"
)

// BenchmarkOverview measures, with N objects in one namespace
// (INFRAPLANE_DASHBOARD_BENCH_OBJECTS, default 1000) as the admin: the
// overview's render, the namespace page's first page (whole and filtered
// by state), and the time from a change to its server-sent event and the
// overview's fragment fetched after it (docs/benchmarks.md).
//
//	go test ./internal/dashboard -run '^$' -bench Overview -benchtime 20x
func BenchmarkOverview(b *testing.B) {
	n := 1000
	if v := os.Getenv("INFRAPLANE_DASHBOARD_BENCH_OBJECTS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			b.Fatal(err)
		}
	}
	ns := fmt.Sprintf("bench-%d-%d", n, time.Now().UnixNano()%100000)
	env.Create(b, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	created := time.Now()
	work := make(chan int)
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for i := range work {
				if err := env.Client.Create(context.Background(), topic(ns, fmt.Sprintf("t-%05d", i))); err != nil {
					b.Error(err)
				}
			}
		})
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	b.Logf("created %d Topics in %s", n, time.Since(created).Round(time.Millisecond))
	// The controllers' first pass over the new Topics is a burst of
	// status writes: measure after it, with the controllers retrying
	// (no ProviderConfig) as they would on a fleet that fails.
	settled := time.Now()
	for time.Since(settled) < 10*time.Minute {
		var l pubsubv1.TopicList
		if err := env.Client.List(context.Background(), &l, client.InNamespace(ns)); err != nil {
			b.Fatal(err)
		}
		left := 0
		for _, t := range l.Items {
			if len(t.Status.Conditions) == 0 {
				left++
			}
		}
		if left == 0 {
			break
		}
		time.Sleep(5 * time.Second)
	}
	b.Logf("all reconciled once %s later", time.Since(settled).Round(time.Second))

	h, err := dashboard.New(dashboard.Options{Config: env.Config(), AdminToken: adminToken, AdminConfig: env.Config()})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(h)
	b.Cleanup(srv.Close)
	resp, err := noRedirects.Get(srv.URL + "/login?token=" + adminToken)
	if err != nil {
		b.Fatal(err)
	}
	resp.Body.Close()
	var cookie string
	for _, c := range resp.Cookies() {
		if c.Name == dashboard.CookieName {
			cookie = c.Value
		}
	}
	get := func(path string) (*http.Response, error) {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		req.Header.Set("Cookie", dashboard.CookieName+"="+cookie)
		return noRedirects.Do(req)
	}
	getFragment := func(path string) (*http.Response, error) {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		req.Header.Set("Cookie", dashboard.CookieName+"="+cookie)
		req.Header.Set("X-Fragment", "1")
		return noRedirects.Do(req)
	}

	page := func(b *testing.B, path string) {
		size := 0
		for b.Loop() {
			resp, err := get(path)
			if err != nil {
				b.Fatal(err)
			}
			n, _ := io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Fatalf("GET %s: %d", path, resp.StatusCode)
			}
			size = int(n)
		}
		b.ReportMetric(float64(size)/1024, "KiB/page")
	}
	b.Run("render", func(b *testing.B) { page(b, "/") })
	b.Run("namespace", func(b *testing.B) { page(b, "/ns/"+ns) })
	// Without a ProviderConfig every Topic fails: the filter keeps all.
	b.Run("namespace-failed", func(b *testing.B) { page(b, "/ns/"+ns+"?state=failed") })

	b.Run("update", func(b *testing.B) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/live?ns="+ns, nil)
		req.Header.Set("Cookie", dashboard.CookieName+"="+cookie)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		defer resp.Body.Close()
		events := make(chan time.Time, 100)
		go func() {
			sc := bufio.NewScanner(resp.Body)
			for sc.Scan() {
				if strings.HasPrefix(sc.Text(), "event: change") {
					events <- time.Now()
				}
			}
		}()
		time.Sleep(2 * time.Second) // the watches start; the controllers' first writes settle
		drain(events)
		var total time.Duration
		i := 0
		for b.Loop() {
			drain(events)
			start := time.Now()
			if err := env.Client.Create(ctx, topic(ns, fmt.Sprintf("u-%d-%d", b.N, i))); err != nil {
				b.Fatal(err)
			}
			i++
			select {
			case <-events:
				// The page then fetches its fragment: part of the update.
				r, err := getFragment("/")
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, r.Body)
				r.Body.Close()
				total += time.Since(start)
			case <-time.After(time.Minute):
				b.Fatal("no change event")
			}
		}
		b.ReportMetric(float64(total.Milliseconds())/float64(i), "ms/update")
	})
}

func drain(c chan time.Time) {
	for {
		select {
		case <-c:
		default:
			return
		}
	}
}
