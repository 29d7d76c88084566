package localcloud

import (
	"context"
	"log/slog"
)

// startBigtable starts the local Bigtable service; nil, nil when it is not
// available in opts.Mode. (Placeholder until the Bigtable kinds land.)
func startBigtable(ctx context.Context, opts Options, log *slog.Logger) (service, error) {
	return nil, nil
}
