package storage

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	gcs "cloud.google.com/go/storage"

	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
	storagev1 "github.com/infraplane/infraplane/api/storage/v1alpha1"
	"github.com/infraplane/infraplane/internal/managed"
)

// dateLayout is the format of lifecycle dates (createdBefore).
const dateLayout = "2006-01-02"

// diffBucket compares the spec with what the cloud reported.
func diffBucket(spec *storagev1.BucketSpec, got *gcs.BucketAttrs) []managed.FieldDiff {
	var d managed.Differ
	// The cloud reports locations in upper case ("EUROPE-WEST1").
	d.Add("spec.location", strings.ToUpper(orDefault(spec.Location, "US")), strings.ToUpper(got.Location), true)
	d.Add("spec.storageClass", string(orDefault(spec.StorageClass, "STANDARD")), got.StorageClass, false)
	d.Add("spec.labels", managed.RenderLabels(commonv1.LabelMap(spec.Labels)), managed.RenderLabels(managed.UserLabels(got.Labels)), false)
	d.Add("spec.versioning", strconv.FormatBool(spec.Versioning), strconv.FormatBool(got.VersioningEnabled), false)
	d.Add("spec.uniformBucketLevelAccess", strconv.FormatBool(spec.UniformBucketLevelAccess), strconv.FormatBool(got.UniformBucketLevelAccess.Enabled), false)
	d.Add("spec.lifecycleRules", renderRules(spec.LifecycleRules), renderRules(rulesFromCloud(got.Lifecycle.Rules)), false)
	d.Add("spec.retentionPolicy", renderRetention(retentionOf(spec)), renderRetention(cloudRetention(got)), false)
	return d.Diffs
}

func orDefault[S ~string](s, def S) S {
	if s == "" {
		return def
	}
	return s
}

// retentionOf is the retention period the spec asks for, in whole seconds
// (the cloud's unit); 0 means none.
func retentionOf(spec *storagev1.BucketSpec) time.Duration {
	if spec.RetentionPolicy == nil {
		return 0
	}
	return spec.RetentionPolicy.RetentionPeriod.Duration.Truncate(time.Second)
}

func cloudRetention(got *gcs.BucketAttrs) time.Duration {
	if got.RetentionPolicy == nil {
		return 0
	}
	return got.RetentionPolicy.RetentionPeriod
}

func renderRetention(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return "retentionPeriod=" + d.String()
}

// renderRules renders lifecycle rules in a canonical form, so equal rules
// compare equal whatever the order of their storage classes.
func renderRules(rules []storagev1.LifecycleRule) string {
	parts := make([]string, len(rules))
	for i, r := range rules {
		act := r.Action.Type
		if r.Action.StorageClass != "" {
			act += " to " + string(r.Action.StorageClass)
		}
		var cond []string
		c := r.Condition
		if c.Age != nil {
			cond = append(cond, fmt.Sprintf("age=%d", *c.Age))
		}
		if c.CreatedBefore != "" {
			cond = append(cond, "createdBefore="+c.CreatedBefore)
		}
		if c.NumNewerVersions != nil {
			cond = append(cond, fmt.Sprintf("numNewerVersions=%d", *c.NumNewerVersions))
		}
		if c.WithState != "" && c.WithState != "Any" { // Any is the default
			cond = append(cond, "withState="+c.WithState)
		}
		if len(c.MatchesStorageClass) > 0 {
			classes := make([]string, len(c.MatchesStorageClass))
			for j, s := range c.MatchesStorageClass {
				classes[j] = string(s)
			}
			slices.Sort(classes)
			cond = append(cond, "matchesStorageClass="+strings.Join(classes, "|"))
		}
		parts[i] = act + " if " + strings.Join(cond, ",")
	}
	return strings.Join(parts, "; ")
}

// rulesToCloud converts the spec's lifecycle rules for the client.
func rulesToCloud(rules []storagev1.LifecycleRule) []gcs.LifecycleRule {
	out := make([]gcs.LifecycleRule, 0, len(rules))
	for _, r := range rules {
		c := r.Condition
		cr := gcs.LifecycleRule{Action: gcs.LifecycleAction{Type: r.Action.Type, StorageClass: string(r.Action.StorageClass)}}
		if c.Age != nil {
			// The client sends age 0 only as "all objects".
			cr.Condition.AllObjects = *c.Age == 0
			cr.Condition.AgeInDays = int64(*c.Age)
		}
		if t, err := time.Parse(dateLayout, c.CreatedBefore); err == nil {
			cr.Condition.CreatedBefore = t
		}
		if c.NumNewerVersions != nil {
			cr.Condition.NumNewerVersions = int64(*c.NumNewerVersions)
		}
		switch c.WithState {
		case "Live":
			cr.Condition.Liveness = gcs.Live
		case "Archived":
			cr.Condition.Liveness = gcs.Archived
		}
		for _, s := range c.MatchesStorageClass {
			cr.Condition.MatchesStorageClasses = append(cr.Condition.MatchesStorageClasses, string(s))
		}
		out = append(out, cr)
	}
	return out
}

// rulesFromCloud converts the cloud's lifecycle rules to the spec's form.
func rulesFromCloud(rules []gcs.LifecycleRule) []storagev1.LifecycleRule {
	var out []storagev1.LifecycleRule
	for _, r := range rules {
		c := r.Condition
		sr := storagev1.LifecycleRule{Action: storagev1.LifecycleAction{Type: r.Action.Type, StorageClass: storagev1.StorageClass(r.Action.StorageClass)}}
		switch {
		case c.AllObjects:
			sr.Condition.Age = ptr(int32(0))
		case c.AgeInDays > 0:
			sr.Condition.Age = ptr(int32(c.AgeInDays))
		}
		if !c.CreatedBefore.IsZero() {
			sr.Condition.CreatedBefore = c.CreatedBefore.Format(dateLayout)
		}
		if c.NumNewerVersions > 0 {
			sr.Condition.NumNewerVersions = ptr(int32(c.NumNewerVersions))
		}
		switch c.Liveness {
		case gcs.Live:
			sr.Condition.WithState = "Live"
		case gcs.Archived:
			sr.Condition.WithState = "Archived"
		}
		for _, s := range c.MatchesStorageClasses {
			sr.Condition.MatchesStorageClass = append(sr.Condition.MatchesStorageClass, storagev1.StorageClass(s))
		}
		out = append(out, sr)
	}
	return out
}

func ptr[T any](v T) *T { return &v }
