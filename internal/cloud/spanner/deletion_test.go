package spanner_test

import (
	"context"
	"testing"

	"cloud.google.com/go/spanner/admin/database/apiv1/databasepb"
	"cloud.google.com/go/spanner/admin/instance/apiv1/instancepb"

	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
	spannerv1 "github.com/infraplane/infraplane/api/spanner/v1alpha1"
	"github.com/infraplane/infraplane/internal/managed"
	"github.com/infraplane/infraplane/internal/testenv"
)

// Deleting the objects deletes the database, then the instance.
func TestDelete(t *testing.T) {
	s := onEmulator(t)
	in := s.instance("gone-inst")
	env.Create(t, in)
	db := s.database("gonedb", "gone-inst", func(db *spannerv1.SpannerDatabase) { db.Spec.DDL = []string{createAlbums} })
	env.Create(t, db)
	env.WaitReady(t, db)

	if err := env.Client.Delete(context.Background(), db); err != nil {
		t.Fatal(err)
	}
	env.WaitGone(t, db)
	_, err := emu.databases.GetDatabase(ctxT(t), &databasepb.GetDatabaseRequest{Name: s.databaseName("gone-inst", "gonedb")})
	if !managed.IsNotFound(err) {
		t.Errorf("database after delete: %v", err)
	}
	if err := env.Client.Delete(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	env.WaitGone(t, in)
	_, err = emu.instances.GetInstance(ctxT(t), &instancepb.GetInstanceRequest{Name: s.instanceName("gone-inst")})
	if !managed.IsNotFound(err) {
		t.Errorf("instance after delete: %v", err)
	}
}

// deletionPolicy Abandon releases the objects and keeps the cloud resources.
func TestAbandon(t *testing.T) {
	s := onEmulator(t)
	in := s.instance("kept-inst", func(in *spannerv1.SpannerInstance) { in.Spec.DeletionPolicy = commonv1.DeletionAbandon })
	env.Create(t, in)
	db := s.database("keptdb", "kept-inst", func(db *spannerv1.SpannerDatabase) { db.Spec.DeletionPolicy = commonv1.DeletionAbandon })
	env.Create(t, db)
	env.WaitReady(t, db)

	for _, o := range []testenv.Managed{db, in} {
		if err := env.Client.Delete(context.Background(), o); err != nil {
			t.Fatal(err)
		}
		env.WaitGone(t, o)
	}
	if _, err := emu.databases.GetDatabase(ctxT(t), &databasepb.GetDatabaseRequest{Name: s.databaseName("kept-inst", "keptdb")}); err != nil {
		t.Errorf("abandoned database: %v", err)
	}
	if _, err := emu.instances.GetInstance(ctxT(t), &instancepb.GetInstanceRequest{Name: s.instanceName("kept-inst")}); err != nil {
		t.Errorf("abandoned instance: %v", err)
	}
}
