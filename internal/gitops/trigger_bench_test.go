package gitops_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/time/rate"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
	"github.com/infraplane/infraplane/internal/gitops"
)

// hookBenchSources is how many GitSources (each with its own webhook
// Secret) the benchmark's cluster has.
const hookBenchSources = 20

// What one request of a caller who knows no token costs, with 1 MiB bodies
// and hookBenchSources webhook Secrets in the cluster: on the shared
// /hooks/git (one HMAC per Secret), on an unknown GitSource path (an index
// lookup), and on a known path with a bad signature (its one Secret). The
// limits are off: this is the work the limiters bound.
//
//	go test ./internal/gitops -run '^$' -bench PushHookGarbage -benchtime 200x
func BenchmarkPushHookGarbage(b *testing.B) {
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "bench-hook-"}}
	if err := env.Client.Create(ctx, ns); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = env.Client.Delete(ctx, ns) })
	var last *corev1alpha1.GitSource
	for i := range hookBenchSources {
		name := fmt.Sprintf("src-%d", i)
		sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name + "-hook", Namespace: ns.Name},
			Data: map[string][]byte{"token": []byte(strings.Repeat(fmt.Sprint(i%10), 64))}}
		if err := env.Client.Create(ctx, sec); err != nil {
			b.Fatal(err)
		}
		// Suspended: the path is set, nothing is fetched.
		last = &corev1alpha1.GitSource{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns.Name},
			Spec: corev1alpha1.GitSourceSpec{URL: "https://git.example/" + name, Suspend: true,
				Interval:         metav1.Duration{Duration: time.Hour},
				WebhookSecretRef: &corev1alpha1.LocalObjectReference{Name: sec.Name}}}
		if err := env.Client.Create(ctx, last); err != nil {
			b.Fatal(err)
		}
	}
	url, secretGets := pathHookServer(b, gitops.HookOptions{Rate: rate.Inf, SourceRate: rate.Inf, FailureRate: rate.Inf})
	known := waitHookPath(b, last, "")
	body := `{"pad":"` + strings.Repeat("x", 1<<20-16) + `"}`

	unknown := gitops.HookPathPrefix + strings.Repeat("ab", 32)
	for _, c := range []struct {
		name, path, body string
		want             int
	}{
		{"shared", "", body, http.StatusUnauthorized},
		{"unknown-path", unknown, body, http.StatusNotFound},
		{"known-path-bad-signature", known, body, http.StatusUnauthorized},
		// The floor: an HTTP round trip with nothing to send.
		{"unknown-path-empty-body", unknown, "{}", http.StatusNotFound},
	} {
		sig := hookSigned("guess", c.body)
		b.Run(c.name, func(b *testing.B) {
			secretGets.Store(0)
			cpu0 := processCPU(b)
			for b.Loop() {
				if got := hookPost(b, url+c.path, c.body, sig); got.status != c.want {
					b.Fatalf("%d %q, want %d", got.status, got.body, c.want)
				}
			}
			b.ReportMetric(float64(secretGets.Load())/float64(b.N), "secret-reads/op")
			// CPU rather than wall time: what a flood takes from the
			// controller (the test's client sending 1 MiB included).
			b.ReportMetric(float64((processCPU(b)-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms/op")
		})
	}
}

// processCPU is the CPU time (user + system) the test process has used.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
