package bigtable

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"cloud.google.com/go/bigtable/admin/apiv2/adminpb"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	bigtablev1 "github.com/infraplane/infraplane/api/bigtable/v1alpha1"
	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
	"github.com/infraplane/infraplane/internal/importer"
	"github.com/infraplane/infraplane/internal/provider"
)

// TableLister lists the tables of the given instances for `infraplane
// import`. A ProviderConfig names no instance, and instances cannot be
// listed on the emulators, so the instances come from the caller
// (`infraplane import --bigtable-instance`). Without any, it lists nothing.
type TableLister struct {
	Clients *Clients
	// Instances are full instance names (projects/P/instances/I) or
	// instance ids in the ProviderConfig's project.
	Instances []string
}

// NewTableLister returns a lister of the tables of instances.
func NewTableLister(clients *Clients, instances []string) *TableLister {
	return &TableLister{Clients: clients, Instances: instances}
}

// GVK is BigtableTable's.
func (l *TableLister) GVK() schema.GroupVersionKind {
	return bigtablev1.GroupVersion.WithKind("BigtableTable")
}

// List returns one adopting manifest per table. Tables have no labels, so
// Found.Owner is always "": a table another object manages is recognised
// by its status.selfLink only.
func (l *TableLister) List(ctx context.Context, p *provider.Config) ([]importer.Found, error) {
	var out []importer.Found
	names := map[string]bool{}
	for _, s := range l.Instances {
		inst, err := parseInstance(s, p.ProjectID)
		if err != nil {
			return nil, err
		}
		admin, err := l.Clients.admin(ctx, p, inst)
		if err != nil {
			return nil, err
		}
		ids, err := admin.Tables(ctx)
		if err != nil {
			return nil, fmt.Errorf("listing tables of %s: %w", inst.name(), err)
		}
		slices.Sort(ids)
		for _, id := range ids {
			name := TableName(inst.name(), id)
			got, err := admin.TableAdminClientV2().GetTable(ctx, &adminpb.GetTableRequest{Name: name, View: adminpb.Table_SCHEMA_VIEW})
			if err != nil {
				return nil, fmt.Errorf("reading %s: %w", name, err)
			}
			obj, err := importedTable(inst, id, got, names)
			if err != nil {
				return nil, err
			}
			out = append(out, importer.Found{SelfLink: name, Object: obj})
		}
	}
	return out, nil
}

// importedTable is the manifest that adopts one table. Two instances may
// hold tables with the same id: the second gets the instance id in front
// of its object name.
func importedTable(inst instance, id string, got *adminpb.Table, used map[string]bool) (*unstructured.Unstructured, error) {
	name, same := importer.ObjectName(id)
	if used[name] {
		name, _ = importer.ObjectName(inst.id + "-" + id)
		same = false
	}
	used[name] = true
	t := &bigtablev1.BigtableTable{
		TypeMeta:   metav1.TypeMeta{APIVersion: bigtablev1.GroupVersion.String(), Kind: "BigtableTable"},
		ObjectMeta: metav1.ObjectMeta{Name: name},
	}
	if !same {
		t.Spec.ResourceID = id
	}
	t.Spec.Adopt = true
	t.Spec.InstanceRef.External = inst.name()
	t.Spec.DeletionProtection = got.GetDeletionProtection()
	fams := got.GetColumnFamilies()
	for _, f := range slices.Sorted(maps.Keys(fams)) {
		p, ok := specGCPolicy(fams[f].GetGcRule())
		if !ok {
			// A rule the spec cannot express (nested combinations): adopt
			// read-only, so applying the manifest never rewrites it.
			t.Spec.ManagementPolicy = commonv1.ManagementObserveOnly
		}
		t.Spec.ColumnFamilies = append(t.Spec.ColumnFamilies, bigtablev1.ColumnFamily{Name: f, GCPolicy: p})
	}
	return importer.Manifest(t)
}
