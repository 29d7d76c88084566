package bigtable

import (
	"context"
	"slices"
	"strconv"
	"strings"

	"cloud.google.com/go/bigtable"
	"cloud.google.com/go/bigtable/admin/apiv2/adminpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"sigs.k8s.io/controller-runtime/pkg/client"

	bigtablev1 "github.com/infraplane/infraplane/api/bigtable/v1alpha1"
	"github.com/infraplane/infraplane/internal/managed"
)

// TableKind describes BigtableTable to the generic reconciler.
//
// Bigtable tables have no labels, so a table carries no ownership label:
// Observe reports Owner "" and the generic adoption rules treat every
// existing table this object has not recorded as its own as unowned (it
// is taken over only with spec.adopt), and a cluster-wide ResourceClaim
// keeps two objects from managing one table.
func TableKind(clients *Clients) managed.Kind[*bigtablev1.BigtableTable] {
	return managed.Kind[*bigtablev1.BigtableTable]{
		Name:    "BigtableTable",
		New:     func() *bigtablev1.BigtableTable { return &bigtablev1.BigtableTable{} },
		NewList: func() client.ObjectList { return &bigtablev1.BigtableTableList{} },
		// No labels on tables: a ResourceClaim says which object has one.
		Claims: true,
		Connector: managed.ConnectorFunc[*bigtablev1.BigtableTable](func(ctx context.Context, t *bigtablev1.BigtableTable, env managed.Env) (managed.ExternalClient[*bigtablev1.BigtableTable], error) {
			inst, err := parseInstance(t.Spec.InstanceRef.External, "")
			if err != nil {
				return nil, status.Error(codes.InvalidArgument, "spec.instanceRef.external: "+err.Error())
			}
			// No client yet: the reconciler confines the table's name to the
			// ProviderConfig's project first, and an instance of another
			// project must not even cost a connection.
			admin := func(ctx context.Context) (*bigtable.AdminClient, error) {
				return clients.admin(ctx, env.Provider, inst)
			}
			return &tableClient{admin: admin, id: env.ResourceID, inst: inst.name(), name: TableName(inst.name(), env.ResourceID)}, nil
		}),
	}
}

type tableClient struct {
	admin func(context.Context) (*bigtable.AdminClient, error)
	id    string // table id
	inst  string // instance full name
	name  string // table full name
}

func (c *tableClient) Name() string { return c.name }

func (c *tableClient) Observe(ctx context.Context, t *bigtablev1.BigtableTable) (managed.Observation, error) {
	admin, err := c.admin(ctx)
	if err != nil {
		return managed.Observation{}, err
	}
	got, err := admin.TableAdminClientV2().GetTable(ctx, &adminpb.GetTableRequest{Name: c.name, View: adminpb.Table_SCHEMA_VIEW})
	if managed.IsNotFound(err) {
		t.Status.Observed = nil
		return managed.Observation{}, nil
	}
	if err != nil {
		return managed.Observation{}, err
	}
	obs := observation(got)
	t.Status.Observed = obs
	return managed.Observation{Exists: true, Diff: diffTable(t, obs)}, nil
}

func observation(got *adminpb.Table) *bigtablev1.BigtableTableObservation {
	obs := &bigtablev1.BigtableTableObservation{DeletionProtection: got.GetDeletionProtection()}
	for name, fam := range got.GetColumnFamilies() {
		if obs.ColumnFamilies == nil {
			obs.ColumnFamilies = map[string]string{}
		}
		obs.ColumnFamilies[name] = renderGCRule(fam.GetGcRule())
	}
	return obs
}

// absent is how a missing column family shows in a diff.
const absent = "absent"

func familyField(name string) string   { return "spec.columnFamilies[" + name + "]" }
func familyGCField(name string) string { return familyField(name) + ".gcPolicy" }

// familiesClaimed reports whether spec.columnFamilies is the whole truth
// for the table, so that a family the spec does not list is dropped. It is
// once this object holds the table (status.resourceID) and either created
// it or has had a successful pass on it: a pass sets
// status.syncedGeneration only when nothing was left undone, and, until
// the families are claimed, an unlisted family is left undone (Blocked).
// So an adopted table is claimed only after a pass found every one of its
// families in the spec. (The reconciler resets syncedGeneration when it
// adopts, so passes from before the adoption do not count.)
func familiesClaimed(t *bigtablev1.BigtableTable) bool {
	return t.Status.ResourceID != "" && (t.Status.CreatedWith != nil || t.Status.SyncedGeneration > 0)
}

// unclaimedFamily is why an unlisted family of a table whose families are
// not claimed is kept.
const unclaimedFamily = "the family is kept, because this object did not create the table and its spec never listed the family, so dropping it would destroy data nobody asked to remove; " +
	"list it in spec.columnFamilies to manage it (taking it out of the list afterwards drops it), or delete it in the cloud yourself"

// diffTable compares the spec with what the cloud has. Once the families
// are claimed (familiesClaimed), the spec's column families are the whole
// list: extra ones in the cloud are differences, repaired by dropping them.
// Before, extra ones are reported and never dropped.
func diffTable(t *bigtablev1.BigtableTable, obs *bigtablev1.BigtableTableObservation) []managed.FieldDiff {
	var out []managed.FieldDiff
	add := func(field, desired, actual string, immutable bool) {
		if desired != actual {
			out = append(out, managed.FieldDiff{Field: field, Desired: desired, Actual: actual, Immutable: immutable})
		}
	}
	wanted := map[string]bool{}
	for _, f := range t.Spec.ColumnFamilies {
		wanted[f.Name] = true
		actual, ok := obs.ColumnFamilies[f.Name]
		if !ok {
			add(familyField(f.Name), renderGCRule(gcRule(f.GCPolicy)), absent, false)
			continue
		}
		add(familyGCField(f.Name), renderGCRule(gcRule(f.GCPolicy)), actual, false)
	}
	claimed := familiesClaimed(t)
	for _, name := range sortedKeys(obs.ColumnFamilies) {
		switch {
		case wanted[name]:
		case claimed:
			add(familyField(name), absent, obs.ColumnFamilies[name], false)
		default:
			out = append(out, managed.FieldDiff{Field: familyField(name), Desired: absent, Actual: obs.ColumnFamilies[name], Blocked: unclaimedFamily})
		}
	}
	if obs.DeletionProtection && !t.Spec.DeletionProtection {
		out = append(out, managed.FieldDiff{Field: "spec.deletionProtection", Desired: "false", Actual: "true", LowersProtection: true})
	} else {
		add("spec.deletionProtection", strconv.FormatBool(t.Spec.DeletionProtection), strconv.FormatBool(obs.DeletionProtection), false)
	}
	// Splits are not reported by the cloud: compare with what this object
	// created the table with, when it did.
	if cw := t.Status.CreatedWith; cw != nil {
		add("spec.splitKeys", strings.Join(t.Spec.SplitKeys, ","), strings.Join(cw.SplitKeys, ","), true)
	}
	return out
}

func (c *tableClient) Create(ctx context.Context, t *bigtablev1.BigtableTable) error {
	tbl := &adminpb.Table{DeletionProtection: t.Spec.DeletionProtection, ColumnFamilies: map[string]*adminpb.ColumnFamily{}}
	for _, f := range t.Spec.ColumnFamilies {
		tbl.ColumnFamilies[f.Name] = &adminpb.ColumnFamily{GcRule: gcRule(f.GCPolicy)}
	}
	req := &adminpb.CreateTableRequest{Parent: c.inst, TableId: c.id, Table: tbl}
	for _, k := range t.Spec.SplitKeys {
		req.InitialSplits = append(req.InitialSplits, &adminpb.CreateTableRequest_Split{Key: []byte(k)})
	}
	admin, err := c.admin(ctx)
	if err != nil {
		return err
	}
	got, err := admin.TableAdminClientV2().CreateTable(ctx, req)
	if err != nil {
		return err
	}
	t.Status.CreatedWith = &bigtablev1.TableCreation{SplitKeys: slices.Clone(t.Spec.SplitKeys)}
	t.Status.Observed = observation(got)
	return nil
}

// Update changes column families in one ModifyColumnFamilies call and
// deletion protection with UpdateTable. Protection is lifted before the
// families change and set after them, so a spec that unprotects a table
// and drops a family in one edit works.
func (c *tableClient) Update(ctx context.Context, t *bigtablev1.BigtableTable, diff []managed.FieldDiff) error {
	var mods []*adminpb.ModifyColumnFamiliesRequest_Modification
	protection := false
	for _, d := range diff {
		if d.Field == "spec.deletionProtection" {
			protection = true
			continue
		}
		if m := c.familyModification(t, d); m != nil {
			mods = append(mods, m)
		}
	}
	if protection && !t.Spec.DeletionProtection {
		if err := c.setProtection(ctx, false); err != nil {
			return err
		}
	}
	if len(mods) > 0 {
		admin, err := c.admin(ctx)
		if err != nil {
			return err
		}
		got, err := admin.TableAdminClientV2().ModifyColumnFamilies(ctx, &adminpb.ModifyColumnFamiliesRequest{Name: c.name, Modifications: mods})
		if err != nil {
			return err
		}
		if t.Status.Observed != nil {
			t.Status.Observed.ColumnFamilies = observation(got).ColumnFamilies
		}
	}
	if protection && t.Spec.DeletionProtection {
		return c.setProtection(ctx, true)
	}
	return nil
}

// familyModification turns one column-family difference into the change
// that repairs it; nil for other fields.
func (c *tableClient) familyModification(t *bigtablev1.BigtableTable, d managed.FieldDiff) *adminpb.ModifyColumnFamiliesRequest_Modification {
	rest, ok := strings.CutPrefix(d.Field, "spec.columnFamilies[")
	if !ok || d.Blocked != "" {
		return nil
	}
	name, gcOnly := strings.CutSuffix(rest, "].gcPolicy")
	if !gcOnly {
		name = strings.TrimSuffix(rest, "]")
	}
	idx := slices.IndexFunc(t.Spec.ColumnFamilies, func(f bigtablev1.ColumnFamily) bool { return f.Name == name })
	switch {
	case idx < 0: // in the cloud only
		return &adminpb.ModifyColumnFamiliesRequest_Modification{Id: name, Mod: &adminpb.ModifyColumnFamiliesRequest_Modification_Drop{Drop: true}}
	case gcOnly:
		return &adminpb.ModifyColumnFamiliesRequest_Modification{
			Id:         name,
			Mod:        &adminpb.ModifyColumnFamiliesRequest_Modification_Update{Update: &adminpb.ColumnFamily{GcRule: gcRule(t.Spec.ColumnFamilies[idx].GCPolicy)}},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"gc_rule"}},
		}
	default: // in the spec only
		return &adminpb.ModifyColumnFamiliesRequest_Modification{
			Id:  name,
			Mod: &adminpb.ModifyColumnFamiliesRequest_Modification_Create{Create: &adminpb.ColumnFamily{GcRule: gcRule(t.Spec.ColumnFamilies[idx].GCPolicy)}},
		}
	}
}

func (c *tableClient) setProtection(ctx context.Context, on bool) error {
	p := bigtable.Unprotected
	if on {
		p = bigtable.Protected
	}
	admin, err := c.admin(ctx)
	if err != nil {
		return err
	}
	return admin.UpdateTableWithDeletionProtection(ctx, c.id, p)
}

// Delete deletes the table. The cloud refuses to delete a protected table;
// the error then says what to do about it.
func (c *tableClient) Delete(ctx context.Context, _ *bigtablev1.BigtableTable) error {
	admin, err := c.admin(ctx)
	if err != nil {
		return err
	}
	err = admin.DeleteTable(ctx, c.id)
	if managed.CloudCode(err) == codes.FailedPrecondition {
		return status.Errorf(codes.FailedPrecondition,
			"%s; the table has deletion protection: set spec.deletionProtection: false and wait for Synced before deleting, or set spec.deletionPolicy: Abandon to keep the table",
			strings.TrimPrefix(managed.CloudMessage(err), "FailedPrecondition: "))
	}
	return err
}
