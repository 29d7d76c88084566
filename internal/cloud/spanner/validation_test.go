package spanner_test

import (
	"context"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
	spannerv1 "github.com/infraplane/infraplane/api/spanner/v1alpha1"
)

// Bad input is refused by the API server with the field named; no cloud
// is needed.
func TestBadInputRefused(t *testing.T) {
	ns := env.Namespace(t, "unused")
	s := &scenario{ns: ns}
	cases := []struct {
		name string
		obj  client.Object
		want string
	}{
		{"both capacities", s.instance("both", func(in *spannerv1.SpannerInstance) { in.Spec.NodeCount = ptr(int32(1)) }),
			"set exactly one of spec.processingUnits or spec.nodeCount"},
		{"no capacity", s.instance("none", func(in *spannerv1.SpannerInstance) { in.Spec.ProcessingUnits = nil }),
			"set exactly one of spec.processingUnits or spec.nodeCount"},
		{"processing units 150", s.instance("pu150", func(in *spannerv1.SpannerInstance) { in.Spec.ProcessingUnits = ptr(int32(150)) }),
			"spec.processingUnits must be a multiple of 100 below 1000"},
		{"processing units 1500", s.instance("pu1500", func(in *spannerv1.SpannerInstance) { in.Spec.ProcessingUnits = ptr(int32(1500)) }),
			"spec.processingUnits must be a multiple of 100 below 1000"},
		{"short instance name", s.instance("a"), "metadata.name is used as the instance id"},
		{"bad config", s.instance("cfg", func(in *spannerv1.SpannerInstance) { in.Spec.Config = "Regional US" }), "spec.config"},
		{"reserved label", s.instance("lbl", func(in *spannerv1.SpannerInstance) {
			in.Spec.Labels = map[string]commonv1.LabelValue{"infraplane-owner": "x"}
		}), "reserved for infraplane"},
		{"unknown dialect", s.database("dia", "i", func(db *spannerv1.SpannerDatabase) { db.Spec.Dialect = "MYSQL" }), "spec.dialect"},
		{"bad external instance", s.database("ext", "", func(db *spannerv1.SpannerDatabase) {
			db.Spec.InstanceRef = commonv1.ResourceRef{External: "instances/x"}
		}), "external must be a full instance name"},
		{"long database name", s.database(strings.Repeat("d", 31), "i"), "metadata.name is used as the database id"},
		{"bad retention", s.database("ret", "i", func(db *spannerv1.SpannerDatabase) { db.Spec.VersionRetentionPeriod = "7 days" }),
			"spec.versionRetentionPeriod"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := env.Client.Create(context.Background(), c.obj)
			if err == nil {
				t.Fatalf("accepted %+v", c.obj)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not mention %q", err, c.want)
			}
		})
	}
}

// Immutable fields are refused on update with the field named.
func TestImmutableFieldsRefused(t *testing.T) {
	ns := env.Namespace(t, "unused")
	s := &scenario{ns: ns}
	in := s.instance("immut")
	env.Create(t, in)
	err := updateErr(in, func(in *spannerv1.SpannerInstance) { in.Spec.Config = "regional-europe-west1" })
	if err == nil || !strings.Contains(err.Error(), "config cannot change") {
		t.Errorf("config change: %v", err)
	}
	db := s.database("immutdb", "immut")
	env.Create(t, db)
	err = updateErr(db, func(db *spannerv1.SpannerDatabase) { db.Spec.Dialect = spannerv1.DialectPostgreSQL })
	if err == nil || !strings.Contains(err.Error(), "dialect cannot change") {
		t.Errorf("dialect change: %v", err)
	}
}

// updateErr applies mutate to the newest version of obj and returns the
// API server's answer (retrying only conflicts with the controller's
// writes).
func updateErr[T client.Object](obj T, mutate func(T)) error {
	for {
		if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(obj), obj); err != nil {
			return err
		}
		mutate(obj)
		err := env.Client.Update(context.Background(), obj)
		if !apierrors.IsConflict(err) {
			return err
		}
	}
}
