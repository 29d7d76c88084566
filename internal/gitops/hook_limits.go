package gitops

import (
	"sync"

	"golang.org/x/time/rate"
)

// pathLimiters holds one rate limiter per GitSource push-hook path, so a
// flood on one path (which only its team knows) spends only that path's
// budget. Entries are made only for paths a GitSource has, so a caller
// cannot grow the map with made-up ones.
type pathLimiters struct {
	limit rate.Limit
	burst int

	mu sync.Mutex
	m  map[string]*rate.Limiter
}

// pathLimitersSweepAt is the size above which a new entry first drops the
// entries that are full again (a full limiter is the same as a new one, so
// nothing is lost): paths of rotated tokens and deleted GitSources.
const pathLimitersSweepAt = 256

func newPathLimiters(limit rate.Limit, burst int) *pathLimiters {
	return &pathLimiters{limit: limit, burst: burst, m: map[string]*rate.Limiter{}}
}

// allow spends one request of path's budget.
func (p *pathLimiters) allow(path string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	l, ok := p.m[path]
	if !ok {
		if len(p.m) >= pathLimitersSweepAt {
			for k, v := range p.m {
				if v.Tokens() >= float64(p.burst) {
					delete(p.m, k)
				}
			}
		}
		l = rate.NewLimiter(p.limit, p.burst)
		p.m[path] = l
	}
	return l.Allow()
}
