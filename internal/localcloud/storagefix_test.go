package localcloud_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"cloud.google.com/go/storage"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"

	"github.com/infraplane/infraplane/internal/localcloud"
	"github.com/infraplane/infraplane/internal/localcloud/cloudtest"
)

func storageClient(t *testing.T, c *localcloud.Cloud) *storage.Client {
	t.Helper()
	cl, err := storage.NewClient(context.Background(),
		option.WithEndpoint(c.Endpoints().Storage), option.WithoutAuthentication())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

// The local Cloud Storage keeps the bucket fields fake-gcs-server drops,
// through insert, get, list and patch, like Cloud Storage does.
func TestStorageKeepsBucketFields(t *testing.T) {
	c := cloudtest.Start(t, localcloud.Options{Mode: localcloud.ModeFakes, Services: []localcloud.Service{localcloud.ServiceStorage}})
	cl := storageClient(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b := cl.Bucket("kept-fields")
	err := b.Create(ctx, localcloud.DefaultProject, &storage.BucketAttrs{
		Location:                 "europe-west1",
		StorageClass:             "NEARLINE",
		Labels:                   map[string]string{"team": "data"},
		VersioningEnabled:        true,
		UniformBucketLevelAccess: storage.UniformBucketLevelAccess{Enabled: true},
		RetentionPolicy:          &storage.RetentionPolicy{RetentionPeriod: 24 * time.Hour},
		Lifecycle: storage.Lifecycle{Rules: []storage.LifecycleRule{{
			Action:    storage.LifecycleAction{Type: storage.DeleteAction},
			Condition: storage.LifecycleCondition{AgeInDays: 30},
		}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	check := func(when string, a *storage.BucketAttrs, labels map[string]string, class string, versioning bool) {
		t.Helper()
		if a.Location != "EUROPE-WEST1" || a.LocationType != "region" || a.StorageClass != class || !a.UniformBucketLevelAccess.Enabled ||
			a.VersioningEnabled != versioning || a.RetentionPolicy == nil || a.RetentionPolicy.RetentionPeriod != 24*time.Hour ||
			len(a.Lifecycle.Rules) != 1 || a.Lifecycle.Rules[0].Condition.AgeInDays != 30 || len(a.Labels) != len(labels) {
			t.Fatalf("%s: %+v", when, a)
		}
		for k, v := range labels {
			if a.Labels[k] != v {
				t.Fatalf("%s: labels %v, want %v", when, a.Labels, labels)
			}
		}
	}
	a, err := b.Attrs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	check("get", a, map[string]string{"team": "data"}, "NEARLINE", true)

	// A labels-only patch: the fake alone would turn versioning off.
	var ua storage.BucketAttrsToUpdate
	ua.SetLabel("env", "dev")
	ua.DeleteLabel("team")
	if a, err = b.Update(ctx, ua); err != nil {
		t.Fatal(err)
	}
	check("patch response", a, map[string]string{"env": "dev"}, "NEARLINE", true)
	if a, err = b.Update(ctx, storage.BucketAttrsToUpdate{StorageClass: "COLDLINE"}); err != nil {
		t.Fatal(err)
	}
	check("class patch", a, map[string]string{"env": "dev"}, "COLDLINE", true)
	if a, err = b.Update(ctx, storage.BucketAttrsToUpdate{VersioningEnabled: false}); err != nil {
		t.Fatal(err)
	}
	check("versioning off", a, map[string]string{"env": "dev"}, "COLDLINE", false)

	it := cl.Buckets(ctx, localcloud.DefaultProject)
	found := false
	for {
		a, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if a.Name == "kept-fields" {
			found = true
			check("list", a, map[string]string{"env": "dev"}, "COLDLINE", false)
		}
	}
	if !found {
		t.Fatal("bucket not listed")
	}

	// Removing the retention policy, and a default location.
	if a, err = b.Update(ctx, storage.BucketAttrsToUpdate{RetentionPolicy: &storage.RetentionPolicy{}}); err != nil {
		t.Fatal(err)
	}
	if a.RetentionPolicy != nil {
		t.Errorf("retention policy not removed: %+v", a.RetentionPolicy)
	}
	d := cl.Bucket("default-location")
	if err := d.Create(ctx, localcloud.DefaultProject, nil); err != nil {
		t.Fatal(err)
	}
	if a, err = d.Attrs(ctx); err != nil || a.Location != "US" || a.StorageClass != "STANDARD" || a.LocationType != "multi-region" {
		t.Fatalf("defaults: %+v, %v", a, err)
	}
}

// Deleting a bucket that holds objects fails with 409, as in Cloud
// Storage; emptied, it is deleted and forgotten.
func TestStorageDeleteNonEmptyBucket(t *testing.T) {
	c := cloudtest.Start(t, localcloud.Options{Mode: localcloud.ModeFakes, Services: []localcloud.Service{localcloud.ServiceStorage}})
	cl := storageClient(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b := cl.Bucket("full")
	if err := b.Create(ctx, localcloud.DefaultProject, &storage.BucketAttrs{Labels: map[string]string{"a": "b"}}); err != nil {
		t.Fatal(err)
	}
	w := b.Object("o").NewWriter(ctx)
	if _, err := w.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	var gerr *googleapi.Error
	if err := b.Delete(ctx); !errors.As(err, &gerr) || gerr.Code != 409 {
		t.Fatalf("delete of a non-empty bucket: %v", err)
	}
	if err := b.Object("o").Delete(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Delete(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Create(ctx, localcloud.DefaultProject, nil); err != nil {
		t.Fatal(err)
	}
	if a, err := b.Attrs(ctx); err != nil || len(a.Labels) != 0 {
		t.Fatalf("re-created bucket: %+v, %v", a, err)
	}
}

// The local Cloud Storage names a project's service agent as Cloud
// Storage does, with the number it gives the project (the number its
// buckets report): what a ProviderConfig without projectNumber looks up.
func TestStorageServiceAccountNamesProjectNumber(t *testing.T) {
	c := cloudtest.Start(t, localcloud.Options{Mode: localcloud.ModeFakes, Services: []localcloud.Service{localcloud.ServiceStorage}})
	cl := storageClient(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, project := range []string{localcloud.DefaultProject, "team-b-project"} {
		got, err := cl.ServiceAccount(ctx, project)
		if err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf("service-%d@gs-project-accounts.iam.gserviceaccount.com", localcloud.ProjectNumber(project))
		if got != want {
			t.Errorf("%s: %q, want %q", project, got, want)
		}
		b := cl.Bucket("sa-" + project)
		if err := b.Create(ctx, project, nil); err != nil {
			t.Fatal(err)
		}
		if a, err := b.Attrs(ctx); err != nil || a.ProjectNumber != localcloud.ProjectNumber(project) {
			t.Errorf("%s: bucket's project number %+v, %v", project, a, err)
		}
	}
}
