package localcloud

import (
	"context"
	"log/slog"
)

// startStorage starts the local Storage service; nil, nil when it is not
// available in opts.Mode. (Placeholder until the Storage kinds land.)
func startStorage(ctx context.Context, opts Options, log *slog.Logger) (service, error) {
	return nil, nil
}
