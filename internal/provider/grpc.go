package provider

import (
	"context"
	"errors"
	"path"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
)

var (
	cloudCallsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "infraplane_cloud_calls_total",
		Help: "Cloud API calls by service, method and result code.",
	}, []string{"service", "method", "code"})
	cloudCallSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "infraplane_cloud_call_duration_seconds",
		Help:    "Latency of cloud API calls by service and method.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
	}, []string{"service", "method"})
)

func init() { ctrlmetrics.Registry.MustRegister(cloudCallsTotal, cloudCallSeconds) }

// CloudCalls returns how many calls were made to service.method so far;
// tests and benchmarks use it to count reads and writes.
func CloudCalls(service, method string) float64 {
	var total float64
	for code := codes.OK; code <= codes.Unauthenticated; code++ {
		c, err := cloudCallsTotal.GetMetricWithLabelValues(service, method, code.String())
		if err != nil {
			continue
		}
		total += testValue(c)
	}
	return total
}

// GRPCOptions returns client options for a gRPC-based Google Cloud client
// of service (e.g. "pubsub") at endpoint: credentials per the config, no TLS
// for credential-less emulator endpoints, a call-metrics interceptor, and
// the client-side rate limit. A named identity's tokens go as per-RPC
// credentials, which need TLS: such a config cannot use a plaintext
// emulator. A call whose token cannot be had fails with the
// CredentialsError's code before anything is sent.
func (c *Config) GRPCOptions(service, endpoint string) []option.ClientOption {
	var opts []option.ClientOption
	if endpoint != "" {
		opts = append(opts, option.WithEndpoint(endpoint))
	}
	switch {
	case c.Credentials == corev1alpha1.CredentialsNone:
		opts = append(opts,
			option.WithoutAuthentication(),
			option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
	case namedIdentity(c.Credentials):
		opts = append(opts, option.WithTokenSource(c.identityTokens()))
	}
	opts = append(opts, option.WithGRPCDialOption(grpc.WithChainUnaryInterceptor(c.interceptor(service, endpoint))),
		// After the client library's own (some allow 2 GiB), so it wins:
		// an endpoint's answer is untrusted input (size.go).
		option.WithGRPCDialOption(grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(MaxResponseBytes))),
		// gRPC's defaults let the wait between reconnections to a lost
		// endpoint grow to 2 min, so an endpoint back after an outage
		// was not used for up to that long; and it gives a connection
		// 20 s to be made, longer than a read's deadline.
		option.WithGRPCDialOption(grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: time.Second, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 5 * time.Second},
			MinConnectTimeout: c.limits.timeout(true),
		})))
	return opts
}

// isReadMethod: a gRPC method that only reads (Get…, List…): it gets the
// short deadline.
func isReadMethod(m string) bool {
	return strings.HasPrefix(m, "Get") || strings.HasPrefix(m, "List") || strings.HasPrefix(m, "Test") || strings.HasPrefix(m, "Check")
}

func endpointName(endpoint string) string {
	if endpoint == "" {
		return "(Google's)"
	}
	return endpoint
}

// interceptor counts and times every unary call and waits for the rate
// limiter first, so the limit covers all callers of one project's service.
func (c *Config) interceptor(service, endpoint string) grpc.UnaryClientInterceptor {
	lim := c.limits.forService(service)
	br := c.limits.breakersOf()
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		m := path.Base(method)
		if err := br.allow(service, endpoint, time.Now()); err != nil {
			// DeadlineExceeded: the client libraries do not retry it, so
			// an open breaker frees the worker at once.
			cloudCallsTotal.WithLabelValues(service, m, codes.DeadlineExceeded.String()).Inc()
			return status.Error(codes.DeadlineExceeded, err.Error())
		}
		budget := budgetOf(ctx)
		if budget.spent() {
			// InvalidArgument: the client libraries do not retry it.
			return status.Error(codes.InvalidArgument, budget.err().Error())
		}
		if lim != nil {
			if err := lim.Wait(ctx); err != nil {
				return err
			}
		}
		start := time.Now()
		d := c.limits.timeout(isReadMethod(m))
		callCtx, cancel := ctx, context.CancelFunc(func() {})
		if dl, ok := ctx.Deadline(); !ok || time.Until(dl) > d {
			callCtx, cancel = context.WithTimeout(ctx, d)
		}
		err := invoker(callCtx, method, req, reply, cc, opts...)
		o := answered
		switch {
		case err != nil && errors.Is(callCtx.Err(), context.DeadlineExceeded):
			// No answer in the time given (ours, or a sooner one of the
			// caller's): the endpoint hangs. DeadlineExceeded is not
			// retried by the client libraries.
			o = hung
			if ctx.Err() == nil {
				err = status.Errorf(codes.DeadlineExceeded, "the %s endpoint %s did not answer %s within %s", service, endpointName(endpoint), m, d)
			}
		case status.Code(err) == codes.Unavailable:
			o = unreachable
		}
		cancel()
		// Sized only under a budget (a listing): proto.Size walks the
		// whole answer, which no other call needs.
		if m, ok := reply.(proto.Message); ok && err == nil && budget != nil {
			if e := budget.spend(proto.Size(m)); e != nil {
				err = status.Error(codes.InvalidArgument, e.Error())
			}
		}
		br.record(service, o, err, time.Now())
		cloudCallSeconds.WithLabelValues(service, m).Observe(time.Since(start).Seconds())
		cloudCallsTotal.WithLabelValues(service, m, status.Code(err).String()).Inc()
		return err
	}
}
