package provider

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"google.golang.org/api/option"
	htransport "google.golang.org/api/transport/http"
	"google.golang.org/grpc/codes"

	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
)

// HTTPOptions returns client options for an HTTP (JSON API) Google Cloud
// client of service (e.g. "storage") at endpoint: credentials per the
// config, a call-metrics transport and the client-side rate limit. With
// credentials, a plain-http endpoint is refused unless it is on this
// machine (a local fake or test proxy): tokens are not sent in clear text
// across a network. method names a request for the metrics (e.g.
// "buckets.insert"); JSON API clients have no method name on the wire,
// only a verb and a path.
func (c *Config) HTTPOptions(ctx context.Context, service, endpoint string, method func(*http.Request) string) ([]option.ClientOption, error) {
	var opts []option.ClientOption
	if endpoint != "" {
		opts = append(opts, option.WithEndpoint(endpoint))
	}
	var rt http.RoundTripper = &meteredTransport{service: service, endpoint: endpoint, method: method, lim: c.limits, base: http.DefaultTransport}
	if c.Credentials != corev1alpha1.CredentialsNone {
		if err := checkCleartext(c.Name, service, endpoint); err != nil {
			return nil, err
		}
	}
	switch {
	case namedIdentity(c.Credentials):
		// The identity's own tokens, added here (outside the metered
		// transport: a request without a token is neither sent nor
		// counted); never the library's default credentials.
		rt = &tokenTransport{ts: c.identityTokens(), base: rt}
	case c.Credentials != corev1alpha1.CredentialsNone:
		// WithHTTPClient replaces the client's own authenticated
		// transport: wrap ours in one that adds credentials.
		authed, err := htransport.NewTransport(context.WithoutCancel(ctx), rt, append(opts, option.WithScopes("https://www.googleapis.com/auth/cloud-platform"))...)
		if err != nil {
			return nil, fmt.Errorf("%s credentials: %w", service, err)
		}
		rt = authed
	}
	opts = append(opts, option.WithHTTPClient(&http.Client{Transport: rt}))
	if c.Credentials == corev1alpha1.CredentialsNone || namedIdentity(c.Credentials) {
		// Our transport carries whatever credentials there are.
		opts = append(opts, option.WithoutAuthentication())
	}
	return opts, nil
}

// meteredTransport counts and times every request, and waits for the rate
// limiter first, like the gRPC interceptor.
type meteredTransport struct {
	service, endpoint string
	method            func(*http.Request) string
	lim               *limits
	base              http.RoundTripper
}

func (t *meteredTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	m := t.method(req)
	br := t.lim.breakersOf()
	if err := br.allow(t.service, t.endpoint, time.Now()); err != nil {
		// Wrapping a context error: the client libraries do not retry it.
		cloudCallsTotal.WithLabelValues(t.service, m, codes.DeadlineExceeded.String()).Inc()
		return nil, fmt.Errorf("%w: %w", err, context.DeadlineExceeded)
	}
	budget := budgetOf(req.Context())
	if budget.spent() {
		// Wrapping a context error: the client libraries do not retry it.
		return nil, fmt.Errorf("%w: %w", budget.err(), context.Canceled)
	}
	if lim := t.lim.forService(t.service); lim != nil {
		if err := lim.Wait(req.Context()); err != nil {
			return nil, err
		}
	}
	start := time.Now()
	d := t.lim.timeout(req.Method == http.MethodGet || req.Method == http.MethodHead)
	ctx := req.Context()
	callCtx, cancel := ctx, context.CancelFunc(func() {})
	if dl, ok := ctx.Deadline(); !ok || time.Until(dl) > d {
		callCtx, cancel = context.WithTimeout(ctx, d)
	}
	resp, err := t.base.RoundTrip(req.WithContext(callCtx))
	o := answered
	switch {
	case err != nil && errors.Is(callCtx.Err(), context.DeadlineExceeded):
		// No answer in the time given (ours, or a sooner one of the
		// caller's): the endpoint hangs. Wrapping a context error: the
		// client libraries do not retry it.
		o = hung
		if ctx.Err() == nil {
			err = fmt.Errorf("the %s endpoint %s did not answer %s within %s: %w", t.service, endpointName(t.endpoint), m, d, context.DeadlineExceeded)
		}
	case err != nil && ctx.Err() == nil:
		o = unreachable // no answer at all (refused, no route, DNS)
	}
	if err != nil {
		cancel()
	} else {
		// The body is read after RoundTrip returns: the deadline covers
		// it, and ends when it is closed.
		resp.Body = &cancelOnClose{ReadCloser: &limitedBody{ReadCloser: resp.Body, budget: budget}, cancel: cancel}
	}
	br.record(t.service, o, err, time.Now())
	cloudCallSeconds.WithLabelValues(t.service, m).Observe(time.Since(start).Seconds())
	code := "Unavailable" // no answer at all
	if err == nil {
		code = httpCodeName(resp.StatusCode)
	}
	cloudCallsTotal.WithLabelValues(t.service, m, code).Inc()
	return resp, err
}

type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c *cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}

// httpCodeName names an HTTP status like the gRPC code it maps to, so
// CloudCalls counts HTTP and gRPC calls alike.
func httpCodeName(status int) string {
	if status < 300 {
		return codes.OK.String()
	}
	return HTTPCode(status).String()
}

// HTTPCode maps an HTTP error status of a JSON API to the canonical code
// (the one table: metrics, conditions and retries agree).
func HTTPCode(status int) codes.Code {
	switch status {
	case http.StatusBadRequest:
		return codes.InvalidArgument
	case http.StatusUnauthorized:
		return codes.Unauthenticated
	case http.StatusForbidden:
		return codes.PermissionDenied
	case http.StatusNotFound:
		return codes.NotFound
	case http.StatusConflict:
		return codes.AlreadyExists
	case http.StatusPreconditionFailed:
		return codes.FailedPrecondition
	case http.StatusTooManyRequests:
		return codes.ResourceExhausted
	case http.StatusNotImplemented:
		return codes.Unimplemented
	case http.StatusServiceUnavailable, http.StatusBadGateway, http.StatusGatewayTimeout:
		return codes.Unavailable
	}
	if status >= 500 {
		return codes.Internal
	}
	return codes.Unknown
}
