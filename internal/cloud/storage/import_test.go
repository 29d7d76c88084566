package storage_test

import (
	"context"
	"testing"
	"time"

	gcs "cloud.google.com/go/storage"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	storagev1 "github.com/infraplane/infraplane/api/storage/v1alpha1"
	cloudstorage "github.com/infraplane/infraplane/internal/cloud/storage"
	"github.com/infraplane/infraplane/internal/localcloud"
	"github.com/infraplane/infraplane/internal/provider"
	"github.com/infraplane/infraplane/internal/testenv"
)

// Buckets made outside infraplane are listed as adopting manifests;
// applying them adopts the buckets with zero cloud writes.
func TestBucketImportAdoptsWithoutWrites(t *testing.T) {
	// Other tests' namespaces delete their buckets as they go: let them
	// finish, so the write counters below count this test only.
	env.WaitNamespacesGone(t)
	s := newScenario(t)
	ctx := context.Background()
	name := s.name("legacy")
	err := s.gcs.Bucket(name).Create(ctx, localcloud.DefaultProject, &gcs.BucketAttrs{
		Location: "EU", StorageClass: "NEARLINE", Labels: map[string]string{"team": "ops"}, VersioningEnabled: true,
		RetentionPolicy: &gcs.RetentionPolicy{RetentionPeriod: time.Hour},
		Lifecycle: gcs.Lifecycle{Rules: []gcs.LifecycleRule{{Action: gcs.LifecycleAction{Type: "Delete"},
			Condition: gcs.LifecycleCondition{NumNewerVersions: 3, Liveness: gcs.Archived}}}},
	})
	if err != nil {
		t.Fatal(err)
	}

	var pcfg *provider.Config
	testenv.Eventually(t, 10*time.Second, func() error {
		var err error
		pcfg, err = provider.NewResolver(env.Client, provider.Options{}).ForNamespace(ctx, s.ns)
		return err
	})
	clients := cloudstorage.NewClients()
	defer clients.Close()
	found, err := cloudstorage.BucketLister{Clients: clients}.List(ctx, pcfg)
	if err != nil {
		t.Fatal(err)
	}
	var manifest *unstructured.Unstructured
	for _, f := range found {
		if f.SelfLink == cloudstorage.BucketName("", name) {
			manifest = f.Object
			if f.Owner != "" {
				t.Errorf("owner %q, want none", f.Owner)
			}
		}
	}
	if manifest == nil {
		t.Fatalf("bucket %s not listed in %d found", name, len(found))
	}

	writes := func() float64 {
		return provider.CloudCalls("storage", "buckets.insert") + provider.CloudCalls("storage", "buckets.patch") + provider.CloudCalls("storage", "buckets.delete")
	}
	before := writes()
	manifest.SetNamespace(s.ns)
	if err := env.Client.Create(ctx, manifest); err != nil {
		t.Fatalf("apply imported manifest: %v\n%v", err, manifest.Object)
	}
	b := &storagev1.Bucket{}
	b.Name, b.Namespace = manifest.GetName(), s.ns
	env.WaitReady(t, b)
	if b.Status.ResourceID != name || len(b.Status.Drift) != 0 {
		t.Errorf("adopted status: resourceID %q drift %+v", b.Status.ResourceID, b.Status.Drift)
	}
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(b), b); err != nil {
		t.Fatal(err)
	}
	if b.Spec.Location != "eu" || b.Spec.StorageClass != "NEARLINE" || !b.Spec.Versioning || len(b.Spec.LifecycleRules) != 1 || b.Spec.RetentionPolicy == nil {
		t.Errorf("imported spec: %+v", b.Spec)
	}
	time.Sleep(time.Second)
	if n := writes() - before; n != 0 {
		t.Errorf("adoption made %v cloud writes (insert %v, patch %v, delete %v); drifted: %+v",
			n, provider.CloudCalls("storage", "buckets.insert"), provider.CloudCalls("storage", "buckets.patch"),
			provider.CloudCalls("storage", "buckets.delete"), b.Status.Conditions)
	}
}
