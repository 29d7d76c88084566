package managed

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// countingList is a List that counts its calls and returns items (or err).
type countingList struct {
	calls atomic.Int32
	items map[string]any
	err   error
	gate  chan struct{} // when set, a call waits for it
}

func (c *countingList) list(context.Context) (map[string]any, error) {
	c.calls.Add(1)
	if c.gate != nil {
		<-c.gate
	}
	return c.items, c.err
}

// Many passes at once wait for one listing, and later passes within its
// age use it without another.
func TestListingTakenOncePerKey(t *testing.T) {
	var l listings
	c := &countingList{items: map[string]any{"a": 1, "b": 2}, gate: make(chan struct{})}
	var wg sync.WaitGroup
	for _, name := range []string{"a", "b", "a", "b", "a"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, found, ok := l.lookup(context.Background(), "k", name, time.Hour, c.list); !ok || !found {
				t.Errorf("%s: found %v ok %v", name, found, ok)
			}
		}()
	}
	// Let the waiters queue up behind the first call, then release it.
	time.Sleep(50 * time.Millisecond)
	close(c.gate)
	wg.Wait()
	if _, found, ok := l.lookup(context.Background(), "k", "missing", time.Hour, c.list); !ok || found {
		t.Errorf("missing: found %v ok %v, want not found in a usable listing", found, ok)
	}
	if n := c.calls.Load(); n != 1 {
		t.Errorf("%d listings, want 1", n)
	}
	// Another key (another identity) never uses this listing.
	other := &countingList{items: map[string]any{}}
	if _, found, ok := l.lookup(context.Background(), "k2", "a", time.Hour, other.list); !ok || found {
		t.Errorf("other key: found %v ok %v, want its own (empty) listing", found, ok)
	}
	if other.calls.Load() != 1 {
		t.Errorf("other key: %d listings, want 1", other.calls.Load())
	}
}

// A listing older than the age asked for is taken again.
func TestListingRetakenWhenOld(t *testing.T) {
	var l listings
	c := &countingList{items: map[string]any{"a": 1}}
	l.lookup(context.Background(), "k", "a", time.Hour, c.list)
	time.Sleep(2 * time.Millisecond)
	if _, _, ok := l.lookup(context.Background(), "k", "a", time.Millisecond, c.list); !ok {
		t.Error("no answer after listing again")
	}
	if n := c.calls.Load(); n != 2 {
		t.Errorf("%d listings, want 2", n)
	}
}

// A resource this process wrote after a listing was asked for is not
// answered from it; a listing asked for after the write answers again.
func TestListingNotUsedForResourceWrittenSince(t *testing.T) {
	var l listings
	c := &countingList{items: map[string]any{"a": 1, "b": 2}}
	l.lookup(context.Background(), "k", "a", time.Hour, c.list)
	l.wrote("k", "a")
	if _, _, ok := l.lookup(context.Background(), "k", "a", time.Hour, c.list); ok {
		t.Error("a was answered from a listing older than its write")
	}
	if _, _, ok := l.lookup(context.Background(), "k", "b", time.Hour, c.list); !ok {
		t.Error("b, not written, was not answered")
	}
	time.Sleep(2 * time.Millisecond)
	if _, _, ok := l.lookup(context.Background(), "k", "a", time.Millisecond, c.list); !ok {
		t.Error("a not answered from a listing taken after its write")
	}
}

// A listing in flight when a write returns does not answer for the
// written resource.
func TestListingInFlightDuringWrite(t *testing.T) {
	var l listings
	c := &countingList{items: map[string]any{"a": 1}, gate: make(chan struct{})}
	done := make(chan bool)
	go func() {
		_, _, ok := l.lookup(context.Background(), "k", "other", time.Hour, c.list)
		done <- ok
	}()
	for c.calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	l.wrote("k", "a")
	close(c.gate)
	<-done
	if _, _, ok := l.lookup(context.Background(), "k", "a", time.Hour, c.list); ok {
		t.Error("a was answered from a listing that was in flight during its write")
	}
}

// A failed listing is not an answer, nor cached: passes use Gets, and the
// listing is tried again once the age has passed.
func TestListingFailureFallsBack(t *testing.T) {
	var l listings
	c := &countingList{err: errors.New("permission denied")}
	if _, _, ok := l.lookup(context.Background(), "k", "a", time.Hour, c.list); ok {
		t.Error("answered from a failed listing")
	}
	if _, _, ok := l.lookup(context.Background(), "k", "a", time.Hour, c.list); ok {
		t.Error("answered after a failed listing")
	}
	if n := c.calls.Load(); n != 1 {
		t.Errorf("%d listing attempts within the age after a failure, want 1", n)
	}
	c.err, c.items = nil, map[string]any{"a": 1}
	time.Sleep(2 * time.Millisecond)
	if _, found, ok := l.lookup(context.Background(), "k", "a", time.Millisecond, c.list); !ok || !found {
		t.Errorf("after the age: found %v ok %v, want the new listing", found, ok)
	}
}
