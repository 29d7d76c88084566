package managed

import (
	"context"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/log"

	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
	"github.com/infraplane/infraplane/internal/provider"
)

// inSteadyState says whether a pass over obj may read its resource from a
// listing: a resync of a resource this object manages, whose last pass
// synced this very spec and left it Ready and in sync. A first pass, a
// spec change, a failed or drifted last pass read with a Get.
func inSteadyState(obj Object) bool {
	st, g := obj.ManagedStatus(), obj.GetGeneration()
	return st.ResourceID != "" && st.SyncedGeneration == g && st.ObservedGeneration == g &&
		meta.IsStatusConditionTrue(st.Conditions, commonv1.TypeReady) &&
		meta.IsStatusConditionTrue(st.Conditions, commonv1.TypeSynced) &&
		!meta.IsStatusConditionTrue(st.Conditions, commonv1.TypeDrifted)
}

// A listing is bounded in time and in what it reads: the endpoint is
// untrusted (one that pages without end, or pages slowly, each page within
// the per-call deadline, must not hold the kind's workers, which every
// team shares, nor fill the controller's memory). Past either bound the
// listing fails and its objects read with Gets, as for any failed listing.
const (
	// listingTimeout is time for 100,000 resources at 1,000 a page with
	// room to spare, and what a waiting pass can wait at most.
	listingTimeout = time.Minute
	// maxListingBytes is what one listing may read: 100,000 topics are
	// about 10 MiB of answers.
	maxListingBytes = 64 << 20
)

// listingAge is the age up to which a listing answers an object's resync:
// half its interval, so that a change made in the cloud just after a
// listing was taken is found within one and a half intervals (a Get per
// pass finds it within one), at two listings per interval.
func listingAge(resync time.Duration) time.Duration { return resync / 2 }

// observeListed answers a steady-state resync from the listing of the
// object's kind under its ProviderConfig's identity (listingKey). It
// answers only when the listing shows the resource there, this object's,
// and in sync: anything else (missing, changed, someone else's) is read
// again with a Get by the caller before the reconciler acts on it. A
// listing is not proof of absence or of drift, so it saves reads and never
// causes a write.
func (r *Reconciler[T]) observeListed(ctx context.Context, obj T, lister ListObserver[T], prov *provider.Config, name, owner string, resync time.Duration) (Observation, bool) {
	item, found, ok := r.listings.lookup(ctx, listingKey(prov), name, listingAge(resync), func(ctx context.Context) (map[string]any, error) {
		ctx, cancel := context.WithTimeout(ctx, listingTimeout)
		defer cancel()
		items, err := lister.List(provider.WithReadBudget(ctx, maxListingBytes))
		result := "ok"
		if err != nil {
			result = "error"
			log.FromContext(ctx).Info("listing failed; resyncs read with Gets meanwhile", "providerConfig", prov.Name, "project", prov.ProjectID, "error", err.Error())
		}
		cloudListingsTotal.WithLabelValues(r.kind.Name, prov.Name, result).Inc()
		return items, err
	})
	if !ok || !found {
		return Observation{}, false
	}
	obs := lister.ObserveListed(obj, item)
	if !obs.Exists || len(obs.Diff) > 0 || (obs.Owner != "" && obs.Owner != owner) {
		return Observation{}, false
	}
	cloudObservesTotal.WithLabelValues(r.kind.Name, prov.Name, "listing").Inc()
	return obs, true
}

// notingWrites wraps a client whose kind can be listed so that each of its
// writes is recorded when it returns: a listing asked for before then
// does not answer for that resource (it may not show the write).
func (r *Reconciler[T]) notingWrites(ext ExternalClient[T], prov *provider.Config) ExternalClient[T] {
	if _, ok := ext.(ListObserver[T]); !ok {
		return ext
	}
	key := listingKey(prov)
	return writeNoter[T]{ExternalClient: ext, noted: func() { r.listings.wrote(key, ext.Name()) }}
}

type writeNoter[T Object] struct {
	ExternalClient[T]
	noted func()
}

func (w writeNoter[T]) Create(ctx context.Context, obj T) error {
	defer w.noted()
	return w.ExternalClient.Create(ctx, obj)
}

func (w writeNoter[T]) Update(ctx context.Context, obj T, diff []FieldDiff) error {
	defer w.noted()
	return w.ExternalClient.Update(ctx, obj, diff)
}

func (w writeNoter[T]) Delete(ctx context.Context, obj T) error {
	defer w.noted()
	return w.ExternalClient.Delete(ctx, obj)
}
