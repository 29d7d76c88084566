package storage

import (
	"context"
	"errors"

	gcs "cloud.google.com/go/storage"
	"google.golang.org/api/iterator"

	storagev1 "github.com/infraplane/infraplane/api/storage/v1alpha1"
	"github.com/infraplane/infraplane/internal/managed"
)

// Batched reads: the bucket list returns each bucket's full metadata, so a
// resync can be answered from one listing of the project instead of a Get
// per bucket (managed.ListObserver; the reconciler decides when).

var _ managed.ListObserver[*storagev1.Bucket] = (*bucketClient)(nil)

// List lists the project's buckets, all pages, by full name.
func (c *bucketClient) List(ctx context.Context) (map[string]any, error) {
	it := c.cn.gcs.Buckets(ctx, c.env.Provider.ProjectID)
	out := map[string]any{}
	for {
		attrs, err := it.Next()
		if errors.Is(err, iterator.Done) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		out[BucketName(c.env.Provider.ProjectID, attrs.Name)] = attrs
	}
}

// ObserveListed is Observe from a listed bucket. One not confirmed as the
// project's (or this object's own) is not answered here (reported as
// missing, the reconciler reads it with a Get, which refuses it with the
// reason).
func (c *bucketClient) ObserveListed(b *storagev1.Bucket, item any) managed.Observation {
	got := item.(*gcs.BucketAttrs)
	if !c.confirmedListed(got) {
		return managed.Observation{}
	}
	return c.observe(b, got)
}
