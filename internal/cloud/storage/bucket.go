package storage

import (
	"context"
	"errors"
	"fmt"
	"strings"

	gcs "cloud.google.com/go/storage"
	"google.golang.org/api/iterator"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
	storagev1 "github.com/infraplane/infraplane/api/storage/v1alpha1"
	"github.com/infraplane/infraplane/internal/managed"
)

// BucketKind describes Bucket to the generic reconciler.
func BucketKind(clients *Clients) managed.Kind[*storagev1.Bucket] {
	return managed.Kind[*storagev1.Bucket]{
		Name:    "Bucket",
		New:     func() *storagev1.Bucket { return &storagev1.Bucket{} },
		NewList: func() client.ObjectList { return &storagev1.BucketList{} },
		// Bucket names are global and an adopted bucket may carry no
		// ownership label (adopting writes nothing): a ResourceClaim keeps
		// two objects anywhere from managing one bucket.
		Claims: true,
		Connector: managed.ConnectorFunc[*storagev1.Bucket](func(ctx context.Context, _ *storagev1.Bucket, env managed.Env) (managed.ExternalClient[*storagev1.Bucket], error) {
			cn, err := clients.get(ctx, env.Provider)
			if err != nil {
				return nil, err
			}
			return &bucketClient{cn: cn, env: env, id: env.ResourceID}, nil
		}),
	}
}

// BucketTarget lets other kinds reference buckets.
var BucketTarget = managed.ReferenceTarget{Kind: "Bucket", New: func() managed.Object { return &storagev1.Bucket{} }, CloudName: BucketName}

// BucketName is a bucket's full name. Bucket names are global, so the
// project is "_", as in Cloud Storage's own resource names.
func BucketName(_, id string) string { return "projects/_/buckets/" + id }

type bucketClient struct {
	cn  *conn
	env managed.Env
	id  string
}

func (c *bucketClient) Name() string { return BucketName(c.env.Provider.ProjectID, c.id) }

func (c *bucketClient) Observe(ctx context.Context, b *storagev1.Bucket) (managed.Observation, error) {
	got, err := c.cn.gcs.Bucket(c.id).Attrs(ctx)
	if errors.Is(err, gcs.ErrBucketNotExist) {
		b.Status.Observed = nil
		return managed.Observation{}, nil
	}
	if err != nil {
		return managed.Observation{}, err
	}
	// Bucket names are global: one that is not provably the project's
	// (or this object's own) is never managed (project.go).
	if err := c.confirm(ctx, got); err != nil {
		return managed.Observation{}, err
	}
	return c.observe(b, got), nil
}

// observe diffs the spec against the bucket the cloud returned (by a Get
// or in a listing).
func (c *bucketClient) observe(b *storagev1.Bucket, got *gcs.BucketAttrs) managed.Observation {
	b.Status.Observed = observation(got)
	diff := diffBucket(&b.Spec, got)
	for i := range diff {
		// A shorter retention weakens what protects the objects.
		if diff[i].Field == "spec.retentionPolicy" && got.RetentionPolicy != nil && retentionOf(&b.Spec) < got.RetentionPolicy.RetentionPeriod {
			diff[i].LowersProtection = true
		}
	}
	return managed.Observation{Exists: true, Owner: got.Labels[managed.OwnerLabelKey], Diff: diff}
}

func observation(got *gcs.BucketAttrs) *storagev1.BucketObservation {
	obs := &storagev1.BucketObservation{
		Location:                 got.Location,
		LocationType:             got.LocationType,
		StorageClass:             got.StorageClass,
		Labels:                   got.Labels,
		Versioning:               got.VersioningEnabled,
		UniformBucketLevelAccess: got.UniformBucketLevelAccess.Enabled,
		LifecycleRules:           rulesFromCloud(got.Lifecycle.Rules),
	}
	if rp := got.RetentionPolicy; rp != nil {
		obs.RetentionPolicy = &storagev1.ObservedRetentionPolicy{RetentionPeriod: rp.RetentionPeriod.String(), IsLocked: rp.IsLocked}
	}
	if !got.Created.IsZero() {
		obs.Created = &metav1.Time{Time: got.Created}
	}
	return obs
}

func (c *bucketClient) Create(ctx context.Context, b *storagev1.Bucket) error {
	s := &b.Spec
	attrs := &gcs.BucketAttrs{
		Location:                 orDefault(s.Location, "US"),
		StorageClass:             string(orDefault(s.StorageClass, "STANDARD")),
		Labels:                   managed.WithOwner(commonv1.LabelMap(s.Labels), c.env.Owner),
		VersioningEnabled:        s.Versioning,
		UniformBucketLevelAccess: gcs.UniformBucketLevelAccess{Enabled: s.UniformBucketLevelAccess},
		Lifecycle:                gcs.Lifecycle{Rules: rulesToCloud(s.LifecycleRules)},
	}
	if d := retentionOf(s); d > 0 {
		attrs.RetentionPolicy = &gcs.RetentionPolicy{RetentionPeriod: d}
	}
	bkt := c.cn.gcs.Bucket(c.id)
	if err := bkt.Create(ctx, c.env.Provider.ProjectID, attrs); err != nil {
		return err
	}
	// Insert's answer is not handed back by the client: read it for status.
	if got, err := bkt.Attrs(ctx); err == nil {
		b.Status.Observed = observation(got)
	}
	return nil
}

func (c *bucketClient) Update(ctx context.Context, b *storagev1.Bucket, diff []managed.FieldDiff) error {
	s := &b.Spec
	var ua gcs.BucketAttrsToUpdate
	for _, d := range diff {
		switch d.Field {
		case "spec.storageClass":
			ua.StorageClass = string(s.StorageClass)
		case "spec.labels":
			c.setLabels(&ua, b)
		case "spec.versioning":
			ua.VersioningEnabled = s.Versioning
		case "spec.uniformBucketLevelAccess":
			ua.UniformBucketLevelAccess = &gcs.UniformBucketLevelAccess{Enabled: s.UniformBucketLevelAccess}
		case "spec.lifecycleRules":
			ua.Lifecycle = &gcs.Lifecycle{Rules: rulesToCloud(s.LifecycleRules)}
		case "spec.retentionPolicy":
			// A zero period removes the policy. It is never locked here.
			ua.RetentionPolicy = &gcs.RetentionPolicy{RetentionPeriod: retentionOf(s)}
		}
	}
	got, err := c.cn.gcs.Bucket(c.id).Update(ctx, ua)
	if err == nil {
		b.Status.Observed = observation(got)
	}
	return err
}

// setLabels sends the user's labels and the ownership label, and removes
// the other labels the cloud has (PATCH merges label maps key by key).
func (c *bucketClient) setLabels(ua *gcs.BucketAttrsToUpdate, b *storagev1.Bucket) {
	want := managed.WithOwner(commonv1.LabelMap(b.Spec.Labels), c.env.Owner)
	for k, v := range want {
		ua.SetLabel(k, v)
	}
	if b.Status.Observed != nil {
		for k := range b.Status.Observed.Labels {
			if _, ok := want[k]; !ok && !strings.HasPrefix(k, managed.ReservedLabelPrefix) {
				ua.DeleteLabel(k)
			}
		}
	}
}

func (c *bucketClient) Delete(ctx context.Context, b *storagev1.Bucket) error {
	bkt := c.cn.gcs.Bucket(c.id)
	// What is there now may not be what this object made or adopted (it
	// was deleted and the name taken in another project, or it was adopted
	// before its project could be confirmed): confirm it before emptying or
	// deleting anything.
	got, err := bkt.Attrs(ctx)
	if errors.Is(err, gcs.ErrBucketNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := c.confirm(ctx, got); err != nil {
		return err
	}
	// forceDestroy on the adopting generation does not destroy what
	// someone else put in the bucket: the spec must change after adopting.
	force, todo := b.Spec.ForceDestroy, "set spec.forceDestroy: true to delete its objects with it, or spec.deletionPolicy: Abandon to keep it"
	if force && b.Status.AdoptedGeneration != 0 {
		force, todo = false, "this object adopted the bucket with spec.forceDestroy already set, and adopting is never a way to destroy its contents: change the spec after adopting, or keep it with spec.deletionPolicy: Abandon"
	}
	if err := c.empty(ctx, bkt, force, todo); err != nil {
		return err
	}
	err = bkt.Delete(ctx)
	if errors.Is(err, gcs.ErrBucketNotExist) {
		return nil
	}
	return err
}

// empty deletes every object (all versions) when force is set; without
// it, a bucket that holds objects is an error that says what to do.
func (c *bucketClient) empty(ctx context.Context, bkt *gcs.BucketHandle, force bool, todo string) error {
	it := bkt.Objects(ctx, &gcs.Query{Versions: true})
	for {
		o, err := it.Next()
		if errors.Is(err, iterator.Done) || errors.Is(err, gcs.ErrBucketNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		if !force {
			return status.Errorf(codes.FailedPrecondition,
				"bucket %s is not empty (it holds %s and maybe more): %s", c.id, o.Name, todo)
		}
		if err := bkt.Object(o.Name).Generation(o.Generation).Delete(ctx); err != nil && !errors.Is(err, gcs.ErrObjectNotExist) {
			return fmt.Errorf("forceDestroy: deleting object %s: %w", o.Name, err)
		}
	}
}
