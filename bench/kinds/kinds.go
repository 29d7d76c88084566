package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/bigtable"
	database "cloud.google.com/go/spanner/admin/database/apiv1"
	"cloud.google.com/go/spanner/admin/database/apiv1/databasepb"
	gcs "cloud.google.com/go/storage"
	"github.com/jackc/pgx/v5"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	bigtablev1 "github.com/infraplane/infraplane/api/bigtable/v1alpha1"
	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
	postgresv1 "github.com/infraplane/infraplane/api/postgres/v1alpha1"
	spannerv1 "github.com/infraplane/infraplane/api/spanner/v1alpha1"
	storagev1 "github.com/infraplane/infraplane/api/storage/v1alpha1"
	"github.com/infraplane/infraplane/internal/localcloud"
	"github.com/infraplane/infraplane/internal/pgtest"
)

// kindBench is one kind: how to make its objects, and the same creates
// done directly with the official client.
type kindBench struct {
	name    string // kind, as the reconciler's metrics label it
	backend string // what serves it, for the report
	skip    string // why the kind is not measured ("" when it is)

	ns       string // namespace its objects go to
	group    string // API group and plural, for the API server's metrics
	resource string
	service  string // the cloud-call metrics' service label

	object  func(name string) client.Object // an object of the kind
	newList func() client.ObjectList

	// provide fills in the ProviderConfig; objects are created before it
	// (e.g. the PostgreSQL admin Secret).
	provide func(*corev1alpha1.ProviderConfigSpec)
	objects []client.Object

	// prepare runs once, untimed, before the direct creates, with the
	// number of objects and of direct workers.
	prepare func(ctx context.Context, admin client.Client, n, workers int) error
	// create and remove are one direct call each, by worker w.
	create func(ctx context.Context, w int, id string) error
	remove func(ctx context.Context, w int, id string) error
	close  func()
}

func objectName(i int) string { return fmt.Sprintf("k-%04d", i) }

// index is the number in an object name or direct id ("d-0042" → 42).
func index(id string) int {
	_, num, _ := strings.Cut(id, "-")
	i, _ := strconv.Atoi(num)
	return i
}

// databasesPerInstance is Spanner's (and its emulator's) limit.
const databasesPerInstance = 100

// newKind starts the kind's backend; a backend that is not installed
// makes a skipped kind, not an error.
func newKind(ctx context.Context, kind string) (*kindBench, error) {
	switch kind {
	case "Bucket":
		return newBucket(ctx)
	case "SpannerDatabase":
		return newSpanner(ctx)
	case "BigtableTable":
		return newBigtable(ctx)
	case "Database":
		return newPostgres(ctx)
	}
	return nil, fmt.Errorf("unknown kind %q", kind)
}

func startCloud(ctx context.Context, mode localcloud.Mode, svc localcloud.Service) (*localcloud.Cloud, error) {
	sctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	return localcloud.Start(sctx, localcloud.Options{Mode: mode, Services: []localcloud.Service{svc}, LogDir: os.TempDir()})
}

func grpcOptions(addr string) []option.ClientOption {
	return []option.ClientOption{
		option.WithEndpoint(addr),
		option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())),
	}
}

func newBucket(ctx context.Context) (*kindBench, error) {
	// fake-gcs-server runs in process in every mode.
	cloud, err := startCloud(ctx, localcloud.ModeFakes, localcloud.ServiceStorage)
	if err != nil {
		return nil, err
	}
	ep := cloud.Endpoints().Storage
	cl, err := gcs.NewClient(ctx, option.WithEndpoint(ep), option.WithoutAuthentication())
	if err != nil {
		cloud.Stop()
		return nil, err
	}
	ns := "bench-bucket"
	return &kindBench{
		name: "Bucket", backend: firstWord(cloud.Describe(), "storage: "), ns: ns,
		group: storagev1.GroupVersion.Group, resource: "buckets", service: "storage",
		object: func(name string) client.Object {
			return &storagev1.Bucket{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}}
		},
		newList: func() client.ObjectList { return &storagev1.BucketList{} },
		provide: func(s *corev1alpha1.ProviderConfigSpec) { s.Endpoints.Storage = ep },
		create: func(ctx context.Context, _ int, id string) error {
			return cl.Bucket(id).Create(ctx, cloud.Project(), &gcs.BucketAttrs{Location: "US", StorageClass: "STANDARD"})
		},
		remove: func(ctx context.Context, _ int, id string) error { return cl.Bucket(id).Delete(ctx) },
		close:  func() { cl.Close(); cloud.Stop() },
	}, nil
}

func newSpanner(ctx context.Context) (*kindBench, error) {
	cloud, err := startCloud(ctx, localcloud.ModeEmulators, localcloud.ServiceSpanner)
	if errors.Is(err, localcloud.ErrNotInstalled) {
		return &kindBench{name: "SpannerDatabase", backend: "Spanner emulator", skip: err.Error()}, nil
	}
	if err != nil {
		return nil, err
	}
	ep := cloud.Endpoints().Spanner
	dbs, err := database.NewDatabaseAdminClient(ctx, grpcOptions(ep)...)
	if err != nil {
		cloud.Stop()
		return nil, err
	}
	ns := "bench-spanner"
	// The emulator, like Spanner, holds at most 100 databases per
	// instance: database i goes in instance bench-(i/100), all created
	// first (untimed), through the controllers.
	instanceOf := func(id string) string { return fmt.Sprintf("bench-%d", index(id)/databasesPerInstance) }
	parent := func(id string) string {
		return fmt.Sprintf("projects/%s/instances/%s", cloud.Project(), instanceOf(id))
	}
	return &kindBench{
		name: "SpannerDatabase", backend: firstWord(cloud.Describe(), "spanner: "), ns: ns,
		group: spannerv1.GroupVersion.Group, resource: "spannerdatabases", service: "spanner",
		object: func(name string) client.Object {
			return &spannerv1.SpannerDatabase{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
				Spec: spannerv1.SpannerDatabaseSpec{InstanceRef: commonv1.ResourceRef{Name: instanceOf(name)}}}
		},
		newList: func() client.ObjectList { return &spannerv1.SpannerDatabaseList{} },
		provide: func(s *corev1alpha1.ProviderConfigSpec) { s.Endpoints.Spanner = ep },
		prepare: func(ctx context.Context, admin client.Client, n, _ int) error {
			instances := (n + databasesPerInstance - 1) / databasesPerInstance
			pu := int32(100)
			var objs []*spannerv1.SpannerInstance
			for i := range instances {
				inst := &spannerv1.SpannerInstance{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("bench-%d", i), Namespace: ns},
					Spec: spannerv1.SpannerInstanceSpec{Config: "regional-us-central1", ProcessingUnits: &pu}}
				if err := admin.Create(ctx, inst); err != nil {
					return err
				}
				objs = append(objs, inst)
			}
			deadline := time.Now().Add(2 * time.Minute)
			for _, inst := range objs {
				for !meta.IsStatusConditionTrue(inst.Status.Conditions, commonv1.TypeReady) {
					if time.Now().After(deadline) {
						return fmt.Errorf("SpannerInstance %s not Ready after 2 minutes", inst.Name)
					}
					time.Sleep(50 * time.Millisecond)
					if err := admin.Get(ctx, client.ObjectKeyFromObject(inst), inst); err != nil {
						return err
					}
				}
			}
			return nil
		},
		create: func(ctx context.Context, _ int, id string) error {
			op, err := dbs.CreateDatabase(ctx, &databasepb.CreateDatabaseRequest{Parent: parent(id), CreateStatement: "CREATE DATABASE `" + id + "`"})
			if err != nil {
				return err
			}
			_, err = op.Wait(ctx)
			return err
		},
		remove: func(ctx context.Context, _ int, id string) error {
			return dbs.DropDatabase(ctx, &databasepb.DropDatabaseRequest{Database: parent(id) + "/databases/" + id})
		},
		close: func() { dbs.Close(); cloud.Stop() },
	}, nil
}

func newBigtable(ctx context.Context) (*kindBench, error) {
	cloud, err := startCloud(ctx, localcloud.ModeEmulators, localcloud.ServiceBigtable)
	if errors.Is(err, localcloud.ErrNotInstalled) {
		return &kindBench{name: "BigtableTable", backend: "Bigtable emulator", skip: err.Error()}, nil
	}
	if err != nil {
		return nil, err
	}
	ep := cloud.Endpoints().Bigtable
	const instance = "bench-instance" // the emulator serves any instance
	ac, err := bigtable.NewAdminClient(ctx, cloud.Project(), instance, grpcOptions(ep)...)
	if err != nil {
		cloud.Stop()
		return nil, err
	}
	ns := "bench-bigtable"
	external := fmt.Sprintf("projects/%s/instances/%s", cloud.Project(), instance)
	return &kindBench{
		name: "BigtableTable", backend: firstWord(cloud.Describe(), "bigtable: "), ns: ns,
		group: bigtablev1.GroupVersion.Group, resource: "bigtabletables", service: "bigtable",
		object: func(name string) client.Object {
			return &bigtablev1.BigtableTable{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
				Spec: bigtablev1.BigtableTableSpec{InstanceRef: bigtablev1.InstanceRef{External: external}}}
		},
		newList: func() client.ObjectList { return &bigtablev1.BigtableTableList{} },
		provide: func(s *corev1alpha1.ProviderConfigSpec) { s.Endpoints.Bigtable = ep },
		create:  func(ctx context.Context, _ int, id string) error { return ac.CreateTable(ctx, id) },
		remove:  func(ctx context.Context, _ int, id string) error { return ac.DeleteTable(ctx, id) },
		close:   func() { ac.Close(); cloud.Stop() },
	}, nil
}

func newPostgres(ctx context.Context) (*kindBench, error) {
	srv, err := pgtest.Start(ctx, pgtest.Options{})
	if errors.Is(err, pgtest.ErrUnavailable) {
		return &kindBench{name: "Database", backend: "PostgreSQL", skip: err.Error()}, nil
	}
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(srv.AdminDSN("postgres"))
	if err != nil {
		srv.Stop()
		return nil, err
	}
	password, _ := u.User.Password()
	ns := "bench-postgres"
	// One connection per direct worker, opened before the timing (the
	// controllers keep theirs open between reconciles too).
	var mu sync.Mutex
	var conns []*pgx.Conn
	exec := func(ctx context.Context, w int, sql string) error {
		_, err := conns[w].Exec(ctx, sql)
		return err
	}
	return &kindBench{
		name: "Database", backend: "PostgreSQL " + srv.Version + " (pgtest, fsync off)", ns: ns,
		group: postgresv1.GroupVersion.Group, resource: "databases", service: "postgres",
		object: func(name string) client.Object {
			return &postgresv1.Database{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}}
		},
		newList: func() client.ObjectList { return &postgresv1.DatabaseList{} },
		objects: []client.Object{
			&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "pg-admin"}},
			&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "admin", Namespace: "pg-admin"},
				Data: map[string][]byte{"username": []byte(u.User.Username()), "password": []byte(password)}},
		},
		provide: func(s *corev1alpha1.ProviderConfigSpec) {
			s.Postgres = &corev1alpha1.PostgresServer{Host: srv.Host, Port: int32(srv.Port), Database: "postgres", SSLMode: "disable",
				CredentialsSecretRef: corev1alpha1.SecretReference{Namespace: "pg-admin", Name: "admin"}}
		},
		prepare: func(ctx context.Context, _ client.Client, _, workers int) error {
			mu.Lock()
			defer mu.Unlock()
			for range workers {
				c, err := pgx.Connect(ctx, srv.AdminDSN("postgres"))
				if err != nil {
					return err
				}
				conns = append(conns, c)
			}
			return nil
		},
		create: func(ctx context.Context, w int, id string) error {
			// The controller's own statement (template0, so that an
			// encoding may be chosen), without its COMMENT and read-back.
			return exec(ctx, w, "CREATE DATABASE "+pgx.Identifier{id}.Sanitize()+" WITH TEMPLATE template0 ENCODING 'UTF8'")
		},
		remove: func(ctx context.Context, w int, id string) error {
			return exec(ctx, w, "DROP DATABASE "+pgx.Identifier{id}.Sanitize())
		},
		close: func() {
			mu.Lock()
			for _, c := range conns {
				c.Close(context.Background())
			}
			mu.Unlock()
			srv.Stop()
		},
	}, nil
}

// firstWord is the implementation named in a Describe line ("storage:
// fake-gcs-server v1.52.2 (in-process …) at …" → "fake-gcs-server v1.52.2").
func firstWord(describe, prefix string) string {
	s := strings.TrimPrefix(describe, prefix)
	for _, stop := range []string{" (", " at ", ","} {
		s, _, _ = strings.Cut(s, stop)
	}
	return s
}

// applyProvider creates the ProviderConfig "default" (used by every
// namespace without the annotation) pointing at every running backend.
func applyProvider(ctx context.Context, admin client.Client, benches []*kindBench) error {
	pc := &corev1alpha1.ProviderConfig{ObjectMeta: metav1.ObjectMeta{Name: corev1alpha1.DefaultProviderConfig},
		Spec: corev1alpha1.ProviderConfigSpec{ProjectID: localcloud.DefaultProject,
			Credentials: corev1alpha1.Credentials{Source: corev1alpha1.CredentialsNone}}}
	for _, b := range benches {
		if b.skip != "" {
			continue
		}
		for _, o := range b.objects {
			if err := admin.Create(ctx, o); err != nil {
				return err
			}
		}
		b.provide(&pc.Spec)
	}
	return admin.Create(ctx, pc)
}
