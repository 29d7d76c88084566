package dashboard

import (
	"context"
	"io"
	"net/url"

	"github.com/infraplane/infraplane/internal/status"
)

// rawGet GETs an API path as the person and returns the answer's body,
// for status.Collect to decode as it streams in (status.Scope.Raw).
func (ss *session) rawGet(ctx context.Context, path string, query url.Values) (io.ReadCloser, error) {
	return status.RESTGetter(ss.kube.Discovery().RESTClient())(ctx, path, query)
}
