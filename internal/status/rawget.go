package status

import (
	"context"
	"net/url"

	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
)

// RawGetter is a Scope.Raw for a REST config: a GET of an API path whose
// answer's bytes Collect decodes once, lean (leanList), instead of the
// client's decoder reading a list of every kind three times. It needs no
// REST mapping (no discovery of the kinds' groups) either: the paths come
// from the kinds.
func RawGetter(cfg *rest.Config) (func(ctx context.Context, path string, query url.Values) ([]byte, error), error) {
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return RESTGetter(dc.RESTClient()), nil
}

// RESTGetter is a Scope.Raw that GETs with rc (whose credentials the
// reads are made with: the dashboard's are the person's).
func RESTGetter(rc rest.Interface) func(ctx context.Context, path string, query url.Values) ([]byte, error) {
	return func(ctx context.Context, path string, query url.Values) ([]byte, error) {
		req := rc.Get().AbsPath(path).SetHeader("Accept", "application/json")
		for k, vs := range query {
			for _, v := range vs {
				req = req.Param(k, v)
			}
		}
		return req.DoRaw(ctx)
	}
}
