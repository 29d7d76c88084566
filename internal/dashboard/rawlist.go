package dashboard

import (
	"context"
	"net/url"
)

// rawGet GETs an API path as the person and returns the answer's bytes,
// for status.Collect to decode once (status.Scope.Raw).
func (ss *session) rawGet(ctx context.Context, path string, query url.Values) ([]byte, error) {
	req := ss.kube.Discovery().RESTClient().Get().AbsPath(path).SetHeader("Accept", "application/json")
	for k, vs := range query {
		for _, v := range vs {
			req = req.Param(k, v)
		}
	}
	return req.DoRaw(ctx)
}
