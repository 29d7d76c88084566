package spanner

import (
	"context"
	"fmt"

	"cloud.google.com/go/spanner/admin/database/apiv1/databasepb"
	"cloud.google.com/go/spanner/admin/instance/apiv1/instancepb"
	"google.golang.org/api/iterator"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
	spannerv1 "github.com/infraplane/infraplane/api/spanner/v1alpha1"
	"github.com/infraplane/infraplane/internal/importer"
	"github.com/infraplane/infraplane/internal/managed"
	"github.com/infraplane/infraplane/internal/provider"
)

// InstanceLister lists a project's Spanner instances for `infraplane import`.
type InstanceLister struct{ Clients *Clients }

// GVK is SpannerInstance's.
func (InstanceLister) GVK() schema.GroupVersionKind {
	return spannerv1.GroupVersion.WithKind("SpannerInstance")
}

// List returns every instance of the project with the manifest adopting it.
func (l InstanceLister) List(ctx context.Context, p *provider.Config) ([]importer.Found, error) {
	cn, err := l.Clients.get(ctx, p)
	if err != nil {
		return nil, err
	}
	insts, err := listInstances(ctx, cn, p.ProjectID)
	if err != nil {
		return nil, err
	}
	var out []importer.Found
	for _, got := range insts {
		in := &spannerv1.SpannerInstance{TypeMeta: metav1.TypeMeta{APIVersion: spannerv1.GroupVersion.String(), Kind: "SpannerInstance"}}
		importer.SetIdentity(&in.ObjectMeta, &in.Spec.ManagedSpec, managed.LastSegment(got.GetName()))
		in.Spec.Config = managed.LastSegment(got.GetConfig())
		if got.GetDisplayName() != in.Name {
			in.Spec.DisplayName = got.GetDisplayName()
		}
		// Processing units describe every instance; nodes only whole ones.
		pu := got.GetProcessingUnits()
		in.Spec.ProcessingUnits = &pu
		in.Spec.Labels = importer.Labels(got.GetLabels())
		obj, err := importer.Manifest(in)
		if err != nil {
			return nil, err
		}
		out = append(out, importer.Found{SelfLink: got.GetName(), Owner: got.GetLabels()[managed.OwnerLabelKey], Object: obj})
	}
	return out, nil
}

// DatabaseLister lists the databases of a project's Spanner instances for
// `infraplane import`.
type DatabaseLister struct{ Clients *Clients }

// GVK is SpannerDatabase's.
func (DatabaseLister) GVK() schema.GroupVersionKind {
	return spannerv1.GroupVersion.WithKind("SpannerDatabase")
}

// List returns every database of every instance of the project, with the
// manifest adopting it. spec.ddl is the schema as the cloud lists it, so
// adopting it applies nothing. The instance is referenced by its full
// name (external): a reference by object name would break when the
// instance is not imported.
func (l DatabaseLister) List(ctx context.Context, p *provider.Config) ([]importer.Found, error) {
	cn, err := l.Clients.get(ctx, p)
	if err != nil {
		return nil, err
	}
	insts, err := listInstances(ctx, cn, p.ProjectID)
	if err != nil {
		return nil, err
	}
	var out []importer.Found
	for _, inst := range insts {
		it := cn.databases.ListDatabases(ctx, &databasepb.ListDatabasesRequest{Parent: inst.GetName()})
		for {
			got, err := it.Next()
			if err == iterator.Done {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("listing databases of %s: %w", inst.GetName(), err)
			}
			ddl, err := cn.databases.GetDatabaseDdl(ctx, &databasepb.GetDatabaseDdlRequest{Database: got.GetName()})
			if err != nil {
				return nil, fmt.Errorf("reading the DDL of %s: %w", got.GetName(), err)
			}
			db := &spannerv1.SpannerDatabase{TypeMeta: metav1.TypeMeta{APIVersion: spannerv1.GroupVersion.String(), Kind: "SpannerDatabase"}}
			importer.SetIdentity(&db.ObjectMeta, &db.Spec.ManagedSpec, managed.LastSegment(got.GetName()))
			db.Spec.InstanceRef = commonv1.ResourceRef{External: inst.GetName()}
			if d := cloudDialect(got.GetDatabaseDialect()); d != "" && d != string(spannerv1.DialectGoogleSQL) {
				db.Spec.Dialect = spannerv1.DatabaseDialect(d)
			}
			db.Spec.DDL = ddl.GetStatements()
			db.Spec.EnableDropProtection = got.GetEnableDropProtection()
			obj, err := importer.Manifest(db)
			if err != nil {
				return nil, err
			}
			// Databases carry no labels, hence no ownership label.
			out = append(out, importer.Found{SelfLink: got.GetName(), Object: obj})
		}
	}
	return out, nil
}

func listInstances(ctx context.Context, cn *conn, project string) ([]*instancepb.Instance, error) {
	var out []*instancepb.Instance
	it := cn.instances.ListInstances(ctx, &instancepb.ListInstancesRequest{Parent: "projects/" + project})
	for {
		got, err := it.Next()
		if err == iterator.Done {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("listing Spanner instances of project %s: %w", project, err)
		}
		out = append(out, got)
	}
}
