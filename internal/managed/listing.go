package managed

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/infraplane/infraplane/internal/provider"
)

// ListObserver is an optional interface of an ExternalClient whose cloud
// API lists full resources of its kind per project (Pub/Sub topics and
// subscriptions). A resync of an object in steady state is then answered
// from one listing shared by all objects of the kind under the same
// ProviderConfig identity, instead of a Get per object (see listingFor and
// docs/architecture.md, "Batched reads").
type ListObserver[T Object] interface {
	// List reads every resource of the kind in the client's project,
	// following all pages, by full name (as Name returns it). Resources of
	// other projects must not be in it.
	List(ctx context.Context) (map[string]any, error)
	// ObserveListed is Observe answered from an item of List's map: the
	// same Observation, the same status fields filled in.
	ObserveListed(obj T, item any) Observation
}

// listingIdle is how long a key's listing is kept unused (a ProviderConfig
// edited or gone, a project emptied) before it is dropped.
const listingIdle = 15 * time.Minute

// listings caches, for one kind, the newest listing per key (listingKey:
// the ProviderConfig's identity, endpoints and project). At most one
// listing per key is taken at a time: concurrent passes wait for it.
type listings struct {
	mu sync.Mutex
	by map[string]*listingEntry
}

type listingEntry struct {
	// started is when the newest finished listing was asked for; items is
	// nil until one finished.
	started time.Time
	items   map[string]any
	// failed is when the newest listing attempt failed (zero: it did not):
	// passes use Gets, and the next attempt waits one interval.
	failed  time.Time
	running *listingCall
	// written holds, by resource name, when this process's last write to
	// it returned, for writes not older than started: a listing asked for
	// before may not show them.
	written map[string]time.Time
	usedAt  time.Time
}

type listingCall struct {
	done    chan struct{}
	started time.Time
	items   map[string]any
	err     error
}

// listingKey is what a listing may answer for: the kind's listings are
// never shared across ProviderConfigs, credentials, endpoints or projects.
// A listing made with one team's identity must never tell another team's
// object that its resource is there and in sync.
func listingKey(p *provider.Config) string {
	return fmt.Sprintf("%s|%s|%+v", p.Key(), p.ProjectID, p.Endpoints)
}

// lookup answers where the listing of key says resource name is: item and
// found (false: not in the listing), or ok false when no usable listing
// could be had: none younger than maxAge, taken after this process last
// wrote name, and none could be taken now (the listing failed, lately or
// now). list takes a listing; it runs at most once at a time per key.
func (l *listings) lookup(ctx context.Context, key, name string, maxAge time.Duration, list func(context.Context) (map[string]any, error)) (item any, found, ok bool) {
	l.mu.Lock()
	now := time.Now()
	if l.by == nil {
		l.by = map[string]*listingEntry{}
	}
	e := l.by[key]
	if e == nil {
		l.prune(now)
		e = &listingEntry{}
		l.by[key] = e
	}
	e.usedAt = now
	if item, found, ok := e.answer(name, now, maxAge); ok || e.young(now, maxAge) {
		// A young listing that cannot answer for a resource written since:
		// a Get for that one, not a new listing for all.
		l.mu.Unlock()
		return item, found, ok
	}
	if e.running == nil && now.Sub(e.failed) < maxAge {
		// Listing failed lately: Gets until an interval has passed, rather
		// than a failing List on top of every Get.
		l.mu.Unlock()
		return nil, false, false
	}
	c := e.running
	if c == nil {
		c = &listingCall{done: make(chan struct{}), started: now}
		e.running = c
		l.mu.Unlock()
		c.items, c.err = list(ctx)
		l.mu.Lock()
		e.running = nil
		if c.err != nil {
			e.failed = time.Now()
		} else {
			e.failed = time.Time{}
			e.land(c)
		}
		l.prune(time.Now())
		close(c.done)
	} else {
		l.mu.Unlock()
		select {
		case <-c.done:
		case <-ctx.Done():
			return nil, false, false
		}
		l.mu.Lock()
	}
	defer l.mu.Unlock()
	if c.err != nil {
		return nil, false, false
	}
	// Asked for during this lookup: fresh, whatever the listing took.
	return e.answer(name, c.started, maxAge)
}

// answer looks name up in the entry's listing, if that is usable.
func (e *listingEntry) answer(name string, now time.Time, maxAge time.Duration) (item any, found, ok bool) {
	if !e.young(now, maxAge) {
		return nil, false, false
	}
	if w, wrote := e.written[name]; wrote && !w.Before(e.started) {
		return nil, false, false
	}
	item, found = e.items[name]
	return item, found, true
}

// young says whether the entry has a listing younger than maxAge.
func (e *listingEntry) young(now time.Time, maxAge time.Duration) bool {
	return e.items != nil && now.Sub(e.started) < maxAge
}

// land makes a finished listing the entry's newest, unless a newer one
// landed meanwhile, and forgets writes it shows.
func (e *listingEntry) land(c *listingCall) {
	if c.started.Before(e.started) {
		return
	}
	e.started, e.items = c.started, c.items
	for name, at := range e.written {
		if at.Before(c.started) {
			delete(e.written, name)
		}
	}
}

// wrote records that this process's write to resource name (create,
// update, delete; successful or not) just returned: no listing asked for
// before now may answer for it.
func (l *listings) wrote(key, name string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.by[key]
	if e == nil {
		return // no listing of key yet: the first one starts after this write
	}
	if e.written == nil {
		e.written = map[string]time.Time{}
	}
	e.written[name] = time.Now()
}

// prune drops the listings of keys not used lately; l.mu is held.
func (l *listings) prune(now time.Time) {
	for k, e := range l.by {
		if e.running == nil && now.Sub(e.usedAt) > listingIdle {
			delete(l.by, k)
		}
	}
}
