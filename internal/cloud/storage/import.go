package storage

import (
	"context"
	"errors"
	"regexp"
	"strings"

	gcs "cloud.google.com/go/storage"
	"google.golang.org/api/iterator"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	storagev1 "github.com/infraplane/infraplane/api/storage/v1alpha1"
	"github.com/infraplane/infraplane/internal/importer"
	"github.com/infraplane/infraplane/internal/managed"
	"github.com/infraplane/infraplane/internal/provider"
)

// BucketLister lists a project's buckets for `infraplane import`.
type BucketLister struct{ Clients *Clients }

var _ importer.Lister = BucketLister{}

// GVK is Bucket's.
func (BucketLister) GVK() schema.GroupVersionKind { return storagev1.GroupVersion.WithKind("Bucket") }

// List returns every bucket of the provider's project as an adopting manifest.
func (l BucketLister) List(ctx context.Context, p *provider.Config) ([]importer.Found, error) {
	cn, err := l.Clients.get(ctx, p)
	if err != nil {
		return nil, err
	}
	var out []importer.Found
	it := cn.gcs.Buckets(ctx, p.ProjectID)
	for {
		attrs, err := it.Next()
		if errors.Is(err, iterator.Done) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		obj, err := bucketManifest(attrs)
		if err != nil {
			return nil, err
		}
		out = append(out, importer.Found{
			SelfLink: BucketName(p.ProjectID, attrs.Name),
			Owner:    attrs.Labels[managed.OwnerLabelKey],
			Object:   obj,
		})
	}
}

// objectName matches bucket names that are valid object names as they are
// (bucket names may also hold '_', which object names may not).
var objectName = regexp.MustCompile(`^[a-z0-9]([a-z0-9.-]{1,61}[a-z0-9])$`)

// bucketManifest is the Bucket that adopts attrs, with the fields at their
// defaults left out.
func bucketManifest(attrs *gcs.BucketAttrs) (*unstructured.Unstructured, error) {
	b := &storagev1.Bucket{}
	b.SetGroupVersionKind(storagev1.GroupVersion.WithKind("Bucket"))
	b.Name = attrs.Name
	if !objectName.MatchString(attrs.Name) {
		b.Name = strings.Trim(strings.ReplaceAll(attrs.Name, "_", "-"), "-.")
		b.Spec.ResourceID = attrs.Name
	}
	s := &b.Spec
	s.Adopt = true
	if !strings.EqualFold(attrs.Location, "US") {
		s.Location = strings.ToLower(attrs.Location)
	}
	if attrs.StorageClass != "STANDARD" {
		s.StorageClass = storagev1.StorageClass(attrs.StorageClass)
	}
	s.Labels = importer.Labels(attrs.Labels)
	s.Versioning = attrs.VersioningEnabled
	s.UniformBucketLevelAccess = attrs.UniformBucketLevelAccess.Enabled
	s.LifecycleRules = rulesFromCloud(attrs.Lifecycle.Rules)
	if rp := attrs.RetentionPolicy; rp != nil && rp.RetentionPeriod > 0 {
		s.RetentionPolicy = &storagev1.RetentionPolicy{}
		s.RetentionPolicy.RetentionPeriod.Duration = rp.RetentionPeriod
	}
	return importer.Manifest(b)
}
