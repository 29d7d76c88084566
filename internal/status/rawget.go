package status

import (
	"context"
	"io"
	"net/url"

	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
)

// RawGetter is a Scope.Raw for a REST config: a GET of an API path whose
// answer Collect decodes once, straight into rows as it streams in
// (decodeList), instead of the client's decoder reading a list of every
// kind three times. It needs no REST mapping (no discovery of the kinds'
// groups) either: the paths come from the kinds.
func RawGetter(cfg *rest.Config) (func(ctx context.Context, path string, query url.Values) (io.ReadCloser, error), error) {
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return RESTGetter(dc.RESTClient()), nil
}

// RESTGetter is a Scope.Raw that GETs with rc (whose credentials the
// reads are made with: the dashboard's are the person's). An answer other
// than 2xx is the API's error (Forbidden, NotFound), as with DoRaw.
func RESTGetter(rc rest.Interface) func(ctx context.Context, path string, query url.Values) (io.ReadCloser, error) {
	return func(ctx context.Context, path string, query url.Values) (io.ReadCloser, error) {
		req := rc.Get().AbsPath(path).SetHeader("Accept", "application/json")
		for k, vs := range query {
			for _, v := range vs {
				req = req.Param(k, v)
			}
		}
		return req.Stream(ctx)
	}
}
