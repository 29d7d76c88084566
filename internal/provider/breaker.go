package provider

import (
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

// An endpoint that does not answer (connection refused, DNS failure, a
// dead emulator) would otherwise hold a worker for the client library's
// whole retry budget on every call (Pub/Sub's admin calls retry
// Unavailable for 60 s), and the workers are shared by every namespace:
// one ProviderConfig with a dead endpoint would slow all the others. So
// after breakerThreshold calls in a row find no endpoint, calls to that
// service of that ProviderConfig fail at once, with an error the client
// libraries do not retry, except one probe call every breakerProbe; the
// first call that gets an answer closes the breaker.
//
// An endpoint that accepts connections but never answers (a hung or
// SIGSTOPped server, a black-holing proxy) is worse: nothing fails, calls
// just wait. Every call therefore has a deadline of its own (short for
// reads, see DefaultReadTimeout), and one call that runs out of it opens
// the breaker at once: by then it has held a worker for the whole
// deadline, and every other call to that endpoint would too.
const (
	breakerThreshold = 3
	breakerProbe     = 5 * time.Second
)

// Per-call deadlines, unless the caller's own is sooner.
const (
	DefaultReadTimeout  = 10 * time.Second
	DefaultWriteTimeout = 20 * time.Second
)

// breakerOpen is 1 while calls to a service of a ProviderConfig fail at
// once: its endpoint does not answer. Alerts and dashboards read it.
var breakerOpen = prometheus.NewGaugeVec(prometheus.GaugeOpts{
	Name: "infraplane_cloud_breaker_open",
	Help: "1 while the circuit breaker of a ProviderConfig's cloud service is open (its endpoint does not answer; calls fail at once, one probe every 5 s), else 0.",
}, []string{"providerconfig", "service"})

func init() { ctrlmetrics.Registry.MustRegister(breakerOpen) }

// outcome is what became of one call, for the breaker.
type outcome int

const (
	answered    outcome = iota // any answer, even an error
	unreachable                // no answer: refused, no route, Unavailable
	hung                       // no answer within the call's deadline
)

// breakers are the circuit breakers of one ProviderConfig, by service.
type breakers struct {
	name string // the ProviderConfig's, for the gauge
	mu   sync.Mutex
	by   map[string]*breaker
	// closed, if set, is called (in a goroutine of its own) when an open
	// breaker closes: the objects that backed off while it was open can
	// go on now, not at the end of their backoff.
	closed func(service string)
}

type breaker struct {
	failures  int       // calls in a row that found no endpoint
	lastErr   string    // the last of them
	nextProbe time.Time // while open: when the next call may go through
}

// allow says whether a call to service may be sent now; when not, err says
// why (and the caller returns it without calling).
func (b *breakers) allow(service, endpoint string, now time.Time) error {
	if b == nil {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	br := b.by[service]
	if br == nil || br.failures < breakerThreshold {
		return nil
	}
	if !now.Before(br.nextProbe) {
		br.nextProbe = now.Add(breakerProbe) // this call is the probe
		return nil
	}
	return &UnreachableError{Service: service, Endpoint: endpoint, Failures: br.failures, Last: br.lastErr, Retry: br.nextProbe.Sub(now)}
}

// record notes a call's outcome.
func (b *breakers) record(service string, o outcome, err error, now time.Time) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.by == nil {
		b.by = map[string]*breaker{}
	}
	br := b.by[service]
	if br == nil {
		br = &breaker{}
		b.by[service] = br
	}
	if o == answered {
		if br.failures >= breakerThreshold {
			breakerOpen.WithLabelValues(b.name, service).Set(0)
			if b.closed != nil {
				go b.closed(service)
			}
		}
		*br = breaker{}
		return
	}
	wasOpen := br.failures >= breakerThreshold
	br.failures++
	if o == hung {
		br.failures = max(br.failures, breakerThreshold)
	}
	if err != nil {
		br.lastErr = err.Error()
	}
	if !wasOpen && br.failures >= breakerThreshold {
		br.nextProbe = now.Add(breakerProbe)
		breakerOpen.WithLabelValues(b.name, service).Set(1)
	}
}

// UnreachableError is a call not sent because its endpoint has not
// answered the last calls.
type UnreachableError struct {
	Service, Endpoint string
	Failures          int
	Last              string
	Retry             time.Duration
}

func (e *UnreachableError) Error() string {
	where := e.Service
	if e.Endpoint != "" {
		where += " endpoint " + e.Endpoint
	}
	// No counts or times in the message: it lands in conditions, which
	// would then change (and be written) on every pass.
	return fmt.Sprintf("not sent: the %s does not answer (last error: %s); calls to it fail at once, one every %s is let through, until it answers",
		where, e.Last, breakerProbe)
}
