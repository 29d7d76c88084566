package managed

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// recentTTL is how long a create is remembered: far longer than any cache
// lag, far shorter than a person deleting and re-creating things.
const recentTTL = 2 * time.Minute

// recentCreates remembers the resources this process created lately, by
// the UID of the object they were created for. A pass that starts from a
// cache that does not show the creating pass's status write yet (its
// resourceID) would otherwise create again, get AlreadyExists, and report
// adopting its own brand-new resource: a second cloud call and a spurious
// Adopted event.
type recentCreates struct {
	mu sync.Mutex
	m  map[types.UID]recentCreate
}

type recentCreate struct {
	id string
	at time.Time
}

func (r *recentCreates) add(uid types.UID, id string, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		r.m = map[types.UID]recentCreate{}
	}
	if len(r.m) >= 1024 {
		for k, v := range r.m {
			if now.Sub(v.at) > recentTTL {
				delete(r.m, k)
			}
		}
	}
	r.m[uid] = recentCreate{id: id, at: now}
}

// created reports whether this process created the resource id for the
// object uid lately.
func (r *recentCreates) created(uid types.UID, id string, now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.m[uid]
	return ok && c.id == id && now.Sub(c.at) <= recentTTL
}
