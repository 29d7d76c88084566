package localcloud

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"

	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
)

// pubsubFix sits in front of the Pub/Sub emulator (gRPC and REST on one
// port, as the emulator itself) and makes updates behave like Pub/Sub. The
// emulator refuses to update some fields that Pub/Sub updates (labels on
// topics and subscriptions, a topic's message storage policy, a
// subscription's expiration policy). The layer forwards the rest of such an
// update, remembers the refused fields per resource, and puts them into
// every topic or subscription it returns. Everything else (publishing,
// pulling, snapshots, schemas) passes through as bytes.
type pubsubFix struct {
	conn *grpc.ClientConn
	pub  pubsubpb.PublisherClient
	sub  pubsubpb.SubscriberClient
	rest http.Handler // the emulator's REST API
	grpc *grpc.Server

	mu   sync.Mutex
	kept map[string]*pubsubKept // full resource name -> fields kept here
}

// pubsubKept are the fields of one topic or subscription the layer keeps:
// the message holds their values (a path without a value was cleared).
type pubsubKept struct {
	paths []string
	msg   proto.Message
}

// The fields the emulator cannot update (measured with emulator 0.8.x;
// a subscription's filter is immutable in Pub/Sub too, so it is not here).
var (
	topicKept = []string{"labels", "message_storage_policy"}
	subKept   = []string{"labels", "expiration_policy"}
)

func newPubSubFix(emulatorAddr string) (*pubsubFix, error) {
	conn, err := grpc.NewClient(emulatorAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, err
	}
	f := &pubsubFix{
		conn: conn,
		pub:  pubsubpb.NewPublisherClient(conn),
		sub:  pubsubpb.NewSubscriberClient(conn),
		rest: httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: emulatorAddr}),
		kept: map[string]*pubsubKept{},
	}
	f.grpc = grpc.NewServer(grpc.ForceServerCodec(rawCodec{}), grpc.UnknownServiceHandler(f.forward))
	return f, nil
}

// ServeHTTP serves gRPC (HTTP/2 without TLS) and REST on one port.
func (f *pubsubFix) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.ProtoMajor == 2 && strings.HasPrefix(r.Header.Get("Content-Type"), "application/grpc") {
		f.grpc.ServeHTTP(w, r)
		return
	}
	f.serveREST(w, r)
}

func (f *pubsubFix) close() error {
	f.grpc.Stop()
	return f.conn.Close()
}

// keep records the kept fields of mask (all of them for a create, with or
// without value) from msg for the resource name.
func (f *pubsubFix) keep(name string, msg proto.Message, paths []string) {
	if len(paths) == 0 {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	k := f.kept[name]
	if k == nil {
		k = &pubsubKept{msg: msg.ProtoReflect().New().Interface()}
		f.kept[name] = k
	}
	for _, p := range paths {
		copyField(k.msg, msg, p)
		if !slices.Contains(k.paths, p) {
			k.paths = append(k.paths, p)
		}
	}
}

func (f *pubsubFix) forget(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.kept, name)
}

// merge puts the kept fields into a resource the emulator returned.
func (f *pubsubFix) merge(name string, msg proto.Message) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if k := f.kept[name]; k != nil {
		for _, p := range k.paths {
			copyField(msg, k.msg, p)
		}
	}
}

func copyField(dst, src proto.Message, path string) {
	s, d := src.ProtoReflect(), dst.ProtoReflect()
	fd := s.Descriptor().Fields().ByName(protoreflect.Name(path))
	if s.Has(fd) {
		d.Set(fd, s.Get(fd))
	} else {
		d.Clear(fd)
	}
}

// split divides an update mask into the paths the emulator updates and
// those kept here.
func split(mask *fieldmaskpb.FieldMask, kept []string) (rest, ours []string) {
	for _, p := range mask.GetPaths() {
		if slices.Contains(kept, p) {
			ours = append(ours, p)
		} else {
			rest = append(rest, p)
		}
	}
	return rest, ours
}

// present returns the paths of kept that msg has a value for.
func present(msg proto.Message, kept []string) []string {
	var out []string
	m := msg.ProtoReflect()
	for _, p := range kept {
		if m.Has(m.Descriptor().Fields().ByName(protoreflect.Name(p))) {
			out = append(out, p)
		}
	}
	return out
}

func (f *pubsubFix) createTopic(ctx context.Context, req *pubsubpb.Topic) (*pubsubpb.Topic, error) {
	got, err := f.pub.CreateTopic(ctx, req)
	if err != nil {
		return nil, err
	}
	f.forget(req.GetName())
	f.keep(req.GetName(), req, present(req, topicKept))
	f.merge(req.GetName(), got)
	return got, nil
}

func (f *pubsubFix) getTopic(ctx context.Context, req *pubsubpb.GetTopicRequest) (*pubsubpb.Topic, error) {
	got, err := f.pub.GetTopic(ctx, req)
	if err != nil {
		return nil, err
	}
	f.merge(got.GetName(), got)
	return got, nil
}

func (f *pubsubFix) updateTopic(ctx context.Context, req *pubsubpb.UpdateTopicRequest) (*pubsubpb.Topic, error) {
	rest, ours := split(req.GetUpdateMask(), topicKept)
	if len(ours) == 0 {
		return f.pub.UpdateTopic(ctx, req)
	}
	name := req.GetTopic().GetName()
	var got *pubsubpb.Topic
	var err error
	if len(rest) > 0 {
		fwd := proto.Clone(req).(*pubsubpb.UpdateTopicRequest)
		fwd.UpdateMask = &fieldmaskpb.FieldMask{Paths: rest}
		got, err = f.pub.UpdateTopic(ctx, fwd)
	} else { // the emulator still says whether the topic exists
		got, err = f.pub.GetTopic(ctx, &pubsubpb.GetTopicRequest{Topic: name})
	}
	if err != nil {
		return nil, err
	}
	f.keep(name, req.GetTopic(), ours)
	f.merge(name, got)
	return got, nil
}

func (f *pubsubFix) listTopics(ctx context.Context, req *pubsubpb.ListTopicsRequest) (*pubsubpb.ListTopicsResponse, error) {
	got, err := f.pub.ListTopics(ctx, req)
	if err != nil {
		return nil, err
	}
	for _, t := range got.GetTopics() {
		f.merge(t.GetName(), t)
	}
	return got, nil
}

func (f *pubsubFix) deleteTopic(ctx context.Context, req *pubsubpb.DeleteTopicRequest) (*emptypb.Empty, error) {
	got, err := f.pub.DeleteTopic(ctx, req)
	if err == nil {
		f.forget(req.GetTopic())
	}
	return got, err
}

func (f *pubsubFix) createSubscription(ctx context.Context, req *pubsubpb.Subscription) (*pubsubpb.Subscription, error) {
	got, err := f.sub.CreateSubscription(ctx, req)
	if err != nil {
		return nil, err
	}
	f.forget(req.GetName())
	f.keep(req.GetName(), req, present(req, subKept))
	f.merge(req.GetName(), got)
	return got, nil
}

func (f *pubsubFix) getSubscription(ctx context.Context, req *pubsubpb.GetSubscriptionRequest) (*pubsubpb.Subscription, error) {
	got, err := f.sub.GetSubscription(ctx, req)
	if err != nil {
		return nil, err
	}
	f.merge(got.GetName(), got)
	return got, nil
}

func (f *pubsubFix) updateSubscription(ctx context.Context, req *pubsubpb.UpdateSubscriptionRequest) (*pubsubpb.Subscription, error) {
	rest, ours := split(req.GetUpdateMask(), subKept)
	if len(ours) == 0 {
		return f.sub.UpdateSubscription(ctx, req)
	}
	name := req.GetSubscription().GetName()
	var got *pubsubpb.Subscription
	var err error
	if len(rest) > 0 {
		fwd := proto.Clone(req).(*pubsubpb.UpdateSubscriptionRequest)
		fwd.UpdateMask = &fieldmaskpb.FieldMask{Paths: rest}
		got, err = f.sub.UpdateSubscription(ctx, fwd)
	} else {
		got, err = f.sub.GetSubscription(ctx, &pubsubpb.GetSubscriptionRequest{Subscription: name})
	}
	if err != nil {
		return nil, err
	}
	f.keep(name, req.GetSubscription(), ours)
	f.merge(name, got)
	return got, nil
}

func (f *pubsubFix) listSubscriptions(ctx context.Context, req *pubsubpb.ListSubscriptionsRequest) (*pubsubpb.ListSubscriptionsResponse, error) {
	got, err := f.sub.ListSubscriptions(ctx, req)
	if err != nil {
		return nil, err
	}
	for _, s := range got.GetSubscriptions() {
		f.merge(s.GetName(), s)
	}
	return got, nil
}

func (f *pubsubFix) deleteSubscription(ctx context.Context, req *pubsubpb.DeleteSubscriptionRequest) (*emptypb.Empty, error) {
	got, err := f.sub.DeleteSubscription(ctx, req)
	if err == nil {
		f.forget(req.GetSubscription())
	}
	return got, err
}

// unary adapts a typed call to the byte-level gRPC handler.
type unaryFn func(ctx context.Context, in []byte) ([]byte, error)

func typed[Req, Resp proto.Message](f func(context.Context, Req) (Resp, error)) unaryFn {
	return func(ctx context.Context, in []byte) ([]byte, error) {
		var zero Req
		req := zero.ProtoReflect().New().Interface().(Req)
		if err := proto.Unmarshal(in, req); err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "decode request: %v", err)
		}
		resp, err := f(ctx, req)
		if err != nil {
			return nil, err
		}
		return proto.Marshal(resp)
	}
}

func (f *pubsubFix) unary(method string) unaryFn {
	switch method {
	case "/google.pubsub.v1.Publisher/CreateTopic":
		return typed(f.createTopic)
	case "/google.pubsub.v1.Publisher/GetTopic":
		return typed(f.getTopic)
	case "/google.pubsub.v1.Publisher/UpdateTopic":
		return typed(f.updateTopic)
	case "/google.pubsub.v1.Publisher/ListTopics":
		return typed(f.listTopics)
	case "/google.pubsub.v1.Publisher/DeleteTopic":
		return typed(f.deleteTopic)
	case "/google.pubsub.v1.Subscriber/CreateSubscription":
		return typed(f.createSubscription)
	case "/google.pubsub.v1.Subscriber/GetSubscription":
		return typed(f.getSubscription)
	case "/google.pubsub.v1.Subscriber/UpdateSubscription":
		return typed(f.updateSubscription)
	case "/google.pubsub.v1.Subscriber/ListSubscriptions":
		return typed(f.listSubscriptions)
	case "/google.pubsub.v1.Subscriber/DeleteSubscription":
		return typed(f.deleteSubscription)
	}
	return nil
}

// forward handles every gRPC call: the calls above typed, the rest as
// bytes, streams included (StreamingPull).
func (f *pubsubFix) forward(_ any, ss grpc.ServerStream) error {
	method, ok := grpc.MethodFromServerStream(ss)
	if !ok {
		return status.Error(codes.Internal, "no method")
	}
	ctx := ss.Context()
	if h := f.unary(method); h != nil {
		var in []byte
		if err := ss.RecvMsg(&in); err != nil {
			return err
		}
		out, err := h(ctx, in)
		if err != nil {
			return err
		}
		return ss.SendMsg(&out)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cs, err := f.conn.NewStream(ctx, &grpc.StreamDesc{ClientStreams: true, ServerStreams: true}, method, grpc.ForceCodec(rawCodec{}))
	if err != nil {
		return err
	}
	go func() {
		for {
			var m []byte
			if err := ss.RecvMsg(&m); err != nil {
				if errors.Is(err, io.EOF) {
					cs.CloseSend()
				} else {
					cancel()
				}
				return
			}
			if err := cs.SendMsg(&m); err != nil {
				return
			}
		}
	}()
	for {
		var m []byte
		if err := cs.RecvMsg(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if err := ss.SendMsg(&m); err != nil {
			return err
		}
	}
}

// rawCodec passes messages through as bytes.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) {
	b, ok := v.(*[]byte)
	if !ok {
		return nil, fmt.Errorf("rawCodec: %T", v)
	}
	return *b, nil
}

func (rawCodec) Unmarshal(data []byte, v any) error {
	b, ok := v.(*[]byte)
	if !ok {
		return fmt.Errorf("rawCodec: %T", v)
	}
	*b = append([]byte(nil), data...)
	return nil
}

func (rawCodec) Name() string { return "proto" }

// serveREST answers the REST calls that read or update topics and
// subscriptions through the gRPC path above (so gcloud sees and updates
// the kept fields too), and passes the rest to the emulator.
func (f *pubsubFix) serveREST(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	// v1 projects P topics|subscriptions [NAME]
	if len(parts) < 4 || len(parts) > 5 || parts[0] != "v1" || parts[1] != "projects" ||
		(parts[3] != "topics" && parts[3] != "subscriptions") {
		f.rest.ServeHTTP(w, r)
		return
	}
	ctx := r.Context()
	project := "projects/" + parts[2]
	topics := parts[3] == "topics"
	q := r.URL.Query()
	size, _ := strconv.Atoi(q.Get("pageSize"))
	var resp proto.Message
	var err error
	switch {
	case len(parts) == 4 && r.Method == http.MethodGet && topics:
		resp, err = f.listTopics(ctx, &pubsubpb.ListTopicsRequest{Project: project, PageSize: int32(size), PageToken: q.Get("pageToken")})
	case len(parts) == 4 && r.Method == http.MethodGet:
		resp, err = f.listSubscriptions(ctx, &pubsubpb.ListSubscriptionsRequest{Project: project, PageSize: int32(size), PageToken: q.Get("pageToken")})
	case len(parts) == 5 && strings.Contains(parts[4], ":"): // custom methods (publish, pull, …)
		f.rest.ServeHTTP(w, r)
		return
	case len(parts) == 5:
		name := strings.Join(parts[1:], "/")
		switch {
		case r.Method == http.MethodGet && topics:
			resp, err = f.getTopic(ctx, &pubsubpb.GetTopicRequest{Topic: name})
		case r.Method == http.MethodGet:
			resp, err = f.getSubscription(ctx, &pubsubpb.GetSubscriptionRequest{Subscription: name})
		case r.Method == http.MethodPatch && topics:
			req := &pubsubpb.UpdateTopicRequest{}
			if err = readProtoJSON(r, req); err == nil {
				if req.Topic == nil {
					req.Topic = &pubsubpb.Topic{}
				}
				req.Topic.Name = name
				resp, err = f.updateTopic(ctx, req)
			}
		case r.Method == http.MethodPatch:
			req := &pubsubpb.UpdateSubscriptionRequest{}
			if err = readProtoJSON(r, req); err == nil {
				if req.Subscription == nil {
					req.Subscription = &pubsubpb.Subscription{}
				}
				req.Subscription.Name = name
				resp, err = f.updateSubscription(ctx, req)
			}
		case r.Method == http.MethodDelete && topics:
			resp, err = f.deleteTopic(ctx, &pubsubpb.DeleteTopicRequest{Topic: name})
		case r.Method == http.MethodDelete:
			resp, err = f.deleteSubscription(ctx, &pubsubpb.DeleteSubscriptionRequest{Subscription: name})
		default: // create (PUT) passes through: the emulator keeps what a create sets
			f.rest.ServeHTTP(w, r)
			return
		}
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	if err != nil {
		writeRESTError(w, err)
		return
	}
	b, err := protojson.Marshal(resp)
	if err != nil {
		writeRESTError(w, err)
		return
	}
	w.Write(b)
}

func readProtoJSON(r *http.Request, m proto.Message) error {
	b, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return err
	}
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(b, m); err != nil {
		return status.Errorf(codes.InvalidArgument, "invalid JSON payload: %v", err)
	}
	return nil
}

// writeRESTError writes a gRPC status as Google's REST error body.
func writeRESTError(w http.ResponseWriter, err error) {
	st := status.Convert(err)
	code := map[codes.Code]int{
		codes.InvalidArgument: 400, codes.FailedPrecondition: 400, codes.OutOfRange: 400,
		codes.Unauthenticated: 401, codes.PermissionDenied: 403, codes.NotFound: 404,
		codes.AlreadyExists: 409, codes.Aborted: 409, codes.ResourceExhausted: 429,
		codes.Canceled: 499, codes.Unimplemented: 501, codes.Unavailable: 503, codes.DeadlineExceeded: 504,
	}[st.Code()]
	if code == 0 {
		code = 500
	}
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{
		"code": code, "message": st.Message(), "status": strings.ToUpper(codeName(st.Code())),
	}})
}

// codeName is the REST status name of a code (NOT_FOUND for NotFound).
func codeName(c codes.Code) string {
	var b strings.Builder
	for i, r := range c.String() {
		if i > 0 && r >= 'A' && r <= 'Z' {
			b.WriteByte('_')
		}
		b.WriteRune(r)
	}
	return b.String()
}
