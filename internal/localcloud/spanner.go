package localcloud

import (
	"context"
	"log/slog"
)

// startSpanner starts the local Spanner service; nil, nil when it is not
// available in opts.Mode. (Placeholder until the Spanner kinds land.)
func startSpanner(ctx context.Context, opts Options, log *slog.Logger) (service, error) {
	return nil, nil
}
