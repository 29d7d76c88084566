package provider

import (
	"errors"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
)

func TestBreakerOpensAfterThresholdAndProbes(t *testing.T) {
	var b breakers
	now := time.Now()
	refused := errors.New("connection refused")
	for i := range breakerThreshold {
		if err := b.allow("pubsub", "127.0.0.1:1", now); err != nil {
			t.Fatalf("call %d refused before the threshold: %v", i, err)
		}
		b.record("pubsub", unreachable, refused, now)
	}
	err := b.allow("pubsub", "127.0.0.1:1", now)
	if err == nil || !strings.Contains(err.Error(), "pubsub endpoint 127.0.0.1:1 does not answer (last error: connection refused)") {
		t.Fatalf("open breaker: %v", err)
	}
	if err := b.allow("storage", "", now); err != nil {
		t.Fatalf("another service is not affected: %v", err)
	}
	// One probe per period.
	later := now.Add(breakerProbe)
	if err := b.allow("pubsub", "", later); err != nil {
		t.Fatalf("probe refused: %v", err)
	}
	if err := b.allow("pubsub", "", later); err == nil {
		t.Fatalf("a second call in the probe period went through")
	}
	// An answer (even an error answer) closes it.
	b.record("pubsub", answered, nil, later)
	if err := b.allow("pubsub", "", later); err != nil {
		t.Fatalf("closed breaker refused: %v", err)
	}
}

func TestNilBreakersAllow(t *testing.T) {
	var b *breakers
	if err := b.allow("pubsub", "", time.Now()); err != nil {
		t.Fatal(err)
	}
	b.record("pubsub", unreachable, errors.New("x"), time.Now())
}

// One call that runs out of its deadline opens the breaker at once: it
// held a worker all that time, and every other call would too.
func TestBreakerOpensOnOneHungCall(t *testing.T) {
	var b breakers
	now := time.Now()
	b.record("pubsub", hung, errors.New("the pubsub endpoint 127.0.0.1:1 did not answer GetTopic within 10s"), now)
	err := b.allow("pubsub", "127.0.0.1:1", now)
	if err == nil || !strings.Contains(err.Error(), "did not answer GetTopic within 10s") {
		t.Fatalf("after a hung call: %v", err)
	}
	if err := b.allow("pubsub", "", now.Add(breakerProbe)); err != nil {
		t.Fatalf("probe refused: %v", err)
	}
}

// The gauge says which breakers are open, for alerts: 1 from the call
// that opens it to the answer that closes it.
func TestBreakerOpenGauge(t *testing.T) {
	b := breakers{name: "gauge-test"}
	open := func() float64 {
		var m dto.Metric
		if err := breakerOpen.WithLabelValues("gauge-test", "pubsub").Write(&m); err != nil {
			t.Fatal(err)
		}
		return m.GetGauge().GetValue()
	}
	now := time.Now()
	for range breakerThreshold - 1 {
		b.record("pubsub", unreachable, errors.New("connection refused"), now)
	}
	if v := open(); v != 0 {
		t.Fatalf("below the threshold: gauge %v, want 0", v)
	}
	b.record("pubsub", unreachable, errors.New("connection refused"), now)
	if v := open(); v != 1 {
		t.Fatalf("open breaker: gauge %v, want 1", v)
	}
	b.record("pubsub", answered, nil, now.Add(breakerProbe))
	if v := open(); v != 0 {
		t.Fatalf("closed breaker: gauge %v, want 0", v)
	}
}
