package bigtable_test

import (
	"context"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	bigtablev1 "github.com/infraplane/infraplane/api/bigtable/v1alpha1"
	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
)

// Input the cloud would refuse is refused by the API server at apply time,
// with a message that names the field.
func TestInvalidSpecsRefused(t *testing.T) {
	s := &scenario{ns: "default", project: "p", instance: "my-instance"}
	zero := int32(0)
	cases := []struct {
		name   string
		mutate func(*bigtablev1.BigtableTable)
		want   []string // substrings of the error
	}{
		{"instance not a full name", func(tb *bigtablev1.BigtableTable) { tb.Spec.InstanceRef.External = "my-instance" },
			[]string{"spec.instanceRef.external", "projects/PROJECT/instances/INSTANCE"}},
		{"instance id too short", func(tb *bigtablev1.BigtableTable) { tb.Spec.InstanceRef.External = "projects/p/instances/abc" },
			[]string{"spec.instanceRef.external", "6-33"}},
		{"family name", func(tb *bigtablev1.BigtableTable) {
			tb.Spec.ColumnFamilies = []bigtablev1.ColumnFamily{family("bad name", nil)}
		}, []string{"spec.columnFamilies[0].name"}},
		{"duplicate family", func(tb *bigtablev1.BigtableTable) {
			tb.Spec.ColumnFamilies = []bigtablev1.ColumnFamily{family("a", nil), family("a", nil)}
		}, []string{"spec.columnFamilies[1]", "Duplicate"}},
		{"empty gc policy", func(tb *bigtablev1.BigtableTable) {
			tb.Spec.ColumnFamilies = []bigtablev1.ColumnFamily{family("a", &bigtablev1.GCPolicy{})}
		}, []string{"spec.columnFamilies[0].gcPolicy", "set maxVersions, maxAge or both"}},
		{"max versions zero", func(tb *bigtablev1.BigtableTable) {
			tb.Spec.ColumnFamilies = []bigtablev1.ColumnFamily{family("a", &bigtablev1.GCPolicy{MaxVersions: &zero})}
		}, []string{"spec.columnFamilies[0].gcPolicy.maxVersions"}},
		{"max age too small", func(tb *bigtablev1.BigtableTable) {
			tb.Spec.ColumnFamilies = []bigtablev1.ColumnFamily{family("a", &bigtablev1.GCPolicy{MaxAge: duration(time.Microsecond)})}
		}, []string{"spec.columnFamilies[0].gcPolicy.maxAge", "at least 1ms"}},
		{"mode without both", func(tb *bigtablev1.BigtableTable) {
			tb.Spec.ColumnFamilies = []bigtablev1.ColumnFamily{family("a", &bigtablev1.GCPolicy{MaxVersions: versions(1).MaxVersions, Mode: bigtablev1.GCIntersection})}
		}, []string{"spec.columnFamilies[0].gcPolicy", "mode combines"}},
		{"unknown mode", func(tb *bigtablev1.BigtableTable) {
			tb.Spec.ColumnFamilies = []bigtablev1.ColumnFamily{family("a", &bigtablev1.GCPolicy{MaxVersions: versions(1).MaxVersions, MaxAge: duration(time.Hour), Mode: "Either"})}
		}, []string{"spec.columnFamilies[0].gcPolicy.mode", "Union"}},
		{"empty split key", func(tb *bigtablev1.BigtableTable) { tb.Spec.SplitKeys = []string{""} }, []string{"spec.splitKeys[0]"}},
		{"resource id", func(tb *bigtablev1.BigtableTable) { tb.Spec.ResourceID = "has space" }, []string{"spec.resourceID"}},
		{"name too long for a table id", func(tb *bigtablev1.BigtableTable) { tb.Name = strings.Repeat("a", 51) }, []string{"metadata.name", "at most 50"}},
		{"deletion policy", func(tb *bigtablev1.BigtableTable) { tb.Spec.DeletionPolicy = "Keep" }, []string{"spec.deletionPolicy", "Abandon"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			obj := s.table("invalid", tc.mutate)
			env.CreateRefused(t, obj, tc.want...)
		})
	}
}

// The instance and the table id cannot change: they are the table's
// identity.
func TestIdentityImmutable(t *testing.T) {
	s := &scenario{ns: "default", project: "p", instance: "my-instance"}
	tbl := s.table("immutable", func(tb *bigtablev1.BigtableTable) {
		tb.Spec.ManagementPolicy = commonv1.ManagementObserveOnly // no cloud needed
		tb.Spec.ResourceID = "immutable-id"
	})
	env.Create(t, tbl)
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), tbl) })
	for _, tc := range []struct {
		name   string
		mutate func(*bigtablev1.BigtableTable)
		want   string
	}{
		{"instance", func(tb *bigtablev1.BigtableTable) { tb.Spec.InstanceRef.External = "projects/p/instances/other-one" }, "instanceRef cannot change"},
		{"resource id", func(tb *bigtablev1.BigtableTable) { tb.Spec.ResourceID = "another" }, "resourceID cannot change"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			for range 10 { // the controller writes too: retry conflicts
				cur := &bigtablev1.BigtableTable{}
				if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(tbl), cur); err != nil {
					t.Fatal(err)
				}
				tc.mutate(cur)
				if err = env.Client.Update(context.Background(), cur); !apierrors.IsConflict(err) {
					break
				}
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want error %q, got %v", tc.want, err)
			}
		})
	}
}
