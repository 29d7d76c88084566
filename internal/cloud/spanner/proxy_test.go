package spanner_test

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"cloud.google.com/go/spanner/admin/database/apiv1/databasepb"
	"cloud.google.com/go/spanner/admin/instance/apiv1/instancepb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/emptypb"
)

// updateProxy is a gRPC server in front of the Spanner emulator that does
// what the emulator does not: UpdateInstance and UpdateDatabase. It
// records what it received, keeps the updated fields (and shows them on
// later reads) and answers with a completed long-running operation. Every
// other call it forwards to the emulator.
type updateProxy struct {
	longrunningpb.UnimplementedOperationsServer

	addr   string
	srv    *grpc.Server
	conn   *grpc.ClientConn
	inst   instancepb.InstanceAdminClient
	db     databasepb.DatabaseAdminClient
	lro    longrunningpb.OperationsClient
	mu     sync.Mutex
	instUp []*instancepb.UpdateInstanceRequest
	dbUp   []*databasepb.UpdateDatabaseRequest
	// overlays hold the fields updated through the proxy, by resource name.
	instOverlay map[string]*instancepb.Instance
	dbOverlay   map[string]*databasepb.Database
	// waitFails names the resources whose next create is answered as still
	// running, its first status poll then failing (failNextWait);
	// failingOps are those operations, waitFailed the resources whose
	// wait did fail.
	waitFails  map[string]bool
	failingOps map[string]bool
	waitFailed map[string]bool
}

func startUpdateProxy(emulatorAddr string) (*updateProxy, error) {
	conn, err := grpc.NewClient(emulatorAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, err
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		conn.Close()
		return nil, err
	}
	p := &updateProxy{
		addr: lis.Addr().String(), srv: grpc.NewServer(), conn: conn,
		inst: instancepb.NewInstanceAdminClient(conn), db: databasepb.NewDatabaseAdminClient(conn),
		lro:         longrunningpb.NewOperationsClient(conn),
		instOverlay: map[string]*instancepb.Instance{}, dbOverlay: map[string]*databasepb.Database{},
		waitFails: map[string]bool{}, failingOps: map[string]bool{}, waitFailed: map[string]bool{},
	}
	instancepb.RegisterInstanceAdminServer(p.srv, &instanceProxy{updateProxy: p})
	databasepb.RegisterDatabaseAdminServer(p.srv, &databaseProxy{updateProxy: p})
	longrunningpb.RegisterOperationsServer(p.srv, p)
	go func() { _ = p.srv.Serve(lis) }()
	return p, nil
}

func (p *updateProxy) stop() {
	p.srv.Stop()
	p.conn.Close()
}

// instanceUpdates returns the UpdateInstance requests received for name.
func (p *updateProxy) instanceUpdates(name string) []*instancepb.UpdateInstanceRequest {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []*instancepb.UpdateInstanceRequest
	for _, r := range p.instUp {
		if r.GetInstance().GetName() == name {
			out = append(out, r)
		}
	}
	return out
}

// databaseUpdates returns the UpdateDatabase requests received for name.
func (p *updateProxy) databaseUpdates(name string) []*databasepb.UpdateDatabaseRequest {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []*databasepb.UpdateDatabaseRequest
	for _, r := range p.dbUp {
		if r.GetDatabase().GetName() == name {
			out = append(out, r)
		}
	}
	return out
}

// failNextWait makes the next create of the instance or database name
// (its full name) look, to whoever waits for it, like an operation the
// cloud accepted and that could not be waited for: the create is answered
// as still running, and the first poll of its status fails. The resource
// is created all the same.
func (p *updateProxy) failNextWait(name string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.waitFails[name] = true
}

// didFailWait reports whether a wait for name's create failed.
func (p *updateProxy) didFailWait(name string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.waitFailed[name]
}

// created passes on a create's operation, or, for a resource
// failNextWait names, the same operation as still running.
func (p *updateProxy) created(op *longrunningpb.Operation, err error) (*longrunningpb.Operation, error) {
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for name := range p.waitFails {
		if strings.HasPrefix(op.GetName(), name+"/operations/") {
			delete(p.waitFails, name)
			p.failingOps[op.GetName()] = true
			p.waitFailed[name] = true
			return &longrunningpb.Operation{Name: op.GetName(), Metadata: op.GetMetadata()}, nil
		}
	}
	return op, nil
}

// done wraps a result in a completed long-running operation.
func done(name string, result proto.Message) (*longrunningpb.Operation, error) {
	a, err := anypb.New(result)
	if err != nil {
		return nil, err
	}
	return &longrunningpb.Operation{Name: name + "/operations/proxy-update", Done: true, Result: &longrunningpb.Operation_Response{Response: a}}, nil
}

// --- instances ---

// instanceProxy serves the instance admin API.
type instanceProxy struct {
	instancepb.UnimplementedInstanceAdminServer
	*updateProxy
}

func (p *instanceProxy) UpdateInstance(ctx context.Context, req *instancepb.UpdateInstanceRequest) (*longrunningpb.Operation, error) {
	name := req.GetInstance().GetName()
	p.mu.Lock()
	p.instUp = append(p.instUp, proto.Clone(req).(*instancepb.UpdateInstanceRequest))
	ov := p.instOverlay[name]
	if ov == nil {
		ov = &instancepb.Instance{}
		p.instOverlay[name] = ov
	}
	paths := req.GetFieldMask().GetPaths()
	if slices.Contains(paths, "display_name") {
		ov.DisplayName = req.GetInstance().GetDisplayName()
	}
	if slices.Contains(paths, "node_count") {
		ov.NodeCount, ov.ProcessingUnits = req.GetInstance().GetNodeCount(), req.GetInstance().GetNodeCount()*1000
	}
	if slices.Contains(paths, "processing_units") {
		ov.ProcessingUnits, ov.NodeCount = req.GetInstance().GetProcessingUnits(), req.GetInstance().GetProcessingUnits()/1000
	}
	if slices.Contains(paths, "labels") {
		ov.Labels = req.GetInstance().GetLabels()
		if ov.Labels == nil {
			ov.Labels = map[string]string{}
		}
	}
	p.mu.Unlock()
	got, err := p.GetInstance(ctx, &instancepb.GetInstanceRequest{Name: name})
	if err != nil {
		return nil, err
	}
	return done(name, got)
}

func (p *updateProxy) withInstanceOverlay(in *instancepb.Instance) *instancepb.Instance {
	p.mu.Lock()
	defer p.mu.Unlock()
	ov := p.instOverlay[in.GetName()]
	if ov == nil {
		return in
	}
	if ov.DisplayName != "" {
		in.DisplayName = ov.DisplayName
	}
	if ov.ProcessingUnits != 0 {
		in.ProcessingUnits, in.NodeCount = ov.ProcessingUnits, ov.NodeCount
	}
	if ov.Labels != nil {
		in.Labels = ov.Labels
	}
	return in
}

func (p *instanceProxy) GetInstance(ctx context.Context, req *instancepb.GetInstanceRequest) (*instancepb.Instance, error) {
	got, err := p.inst.GetInstance(ctx, req)
	if err != nil {
		return nil, err
	}
	return p.withInstanceOverlay(got), nil
}

func (p *instanceProxy) ListInstances(ctx context.Context, req *instancepb.ListInstancesRequest) (*instancepb.ListInstancesResponse, error) {
	got, err := p.inst.ListInstances(ctx, req)
	if err != nil {
		return nil, err
	}
	for _, in := range got.GetInstances() {
		p.withInstanceOverlay(in)
	}
	return got, nil
}

func (p *instanceProxy) CreateInstance(ctx context.Context, req *instancepb.CreateInstanceRequest) (*longrunningpb.Operation, error) {
	return p.created(p.inst.CreateInstance(ctx, req))
}

func (p *instanceProxy) DeleteInstance(ctx context.Context, req *instancepb.DeleteInstanceRequest) (*emptypb.Empty, error) {
	p.mu.Lock()
	delete(p.instOverlay, req.GetName())
	p.mu.Unlock()
	return p.inst.DeleteInstance(ctx, req)
}

// --- databases ---

// databaseProxy serves the database admin API.
type databaseProxy struct {
	databasepb.UnimplementedDatabaseAdminServer
	*updateProxy
}

func (p *databaseProxy) UpdateDatabase(ctx context.Context, req *databasepb.UpdateDatabaseRequest) (*longrunningpb.Operation, error) {
	name := req.GetDatabase().GetName()
	if !slices.Equal(req.GetUpdateMask().GetPaths(), []string{"enable_drop_protection"}) {
		return nil, fmt.Errorf("proxy: unexpected update mask %v", req.GetUpdateMask().GetPaths())
	}
	p.mu.Lock()
	p.dbUp = append(p.dbUp, proto.Clone(req).(*databasepb.UpdateDatabaseRequest))
	p.dbOverlay[name] = &databasepb.Database{EnableDropProtection: req.GetDatabase().GetEnableDropProtection()}
	p.mu.Unlock()
	got, err := p.GetDatabase(ctx, &databasepb.GetDatabaseRequest{Name: name})
	if err != nil {
		return nil, err
	}
	return done(name, got)
}

func (p *updateProxy) withDatabaseOverlay(db *databasepb.Database) *databasepb.Database {
	p.mu.Lock()
	defer p.mu.Unlock()
	if ov := p.dbOverlay[db.GetName()]; ov != nil {
		db.EnableDropProtection = ov.EnableDropProtection
	}
	return db
}

func (p *databaseProxy) GetDatabase(ctx context.Context, req *databasepb.GetDatabaseRequest) (*databasepb.Database, error) {
	got, err := p.db.GetDatabase(ctx, req)
	if err != nil {
		return nil, err
	}
	return p.withDatabaseOverlay(got), nil
}

func (p *databaseProxy) ListDatabases(ctx context.Context, req *databasepb.ListDatabasesRequest) (*databasepb.ListDatabasesResponse, error) {
	got, err := p.db.ListDatabases(ctx, req)
	if err != nil {
		return nil, err
	}
	for _, db := range got.GetDatabases() {
		p.withDatabaseOverlay(db)
	}
	return got, nil
}

func (p *databaseProxy) CreateDatabase(ctx context.Context, req *databasepb.CreateDatabaseRequest) (*longrunningpb.Operation, error) {
	return p.created(p.db.CreateDatabase(ctx, req))
}

func (p *databaseProxy) DropDatabase(ctx context.Context, req *databasepb.DropDatabaseRequest) (*emptypb.Empty, error) {
	p.mu.Lock()
	delete(p.dbOverlay, req.GetDatabase())
	p.mu.Unlock()
	return p.db.DropDatabase(ctx, req)
}

func (p *databaseProxy) GetDatabaseDdl(ctx context.Context, req *databasepb.GetDatabaseDdlRequest) (*databasepb.GetDatabaseDdlResponse, error) {
	return p.db.GetDatabaseDdl(ctx, req)
}

func (p *databaseProxy) UpdateDatabaseDdl(ctx context.Context, req *databasepb.UpdateDatabaseDdlRequest) (*longrunningpb.Operation, error) {
	return p.db.UpdateDatabaseDdl(ctx, req)
}

// --- long-running operations (the client polls unfinished ones) ---

func (p *updateProxy) GetOperation(ctx context.Context, req *longrunningpb.GetOperationRequest) (*longrunningpb.Operation, error) {
	p.mu.Lock()
	failing := p.failingOps[req.GetName()]
	delete(p.failingOps, req.GetName())
	p.mu.Unlock()
	if failing {
		return nil, status.Error(codes.Internal, "proxy: the operation's status could not be read")
	}
	return p.lro.GetOperation(ctx, req)
}
