package dashboard

import (
	"context"
	"net/url"

	"github.com/infraplane/infraplane/internal/status"
)

// rawGet GETs an API path as the person and returns the answer's bytes,
// for status.Collect to decode once (status.Scope.Raw).
func (ss *session) rawGet(ctx context.Context, path string, query url.Values) ([]byte, error) {
	return status.RESTGetter(ss.kube.Discovery().RESTClient())(ctx, path, query)
}
