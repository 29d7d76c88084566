package spanner

import (
	"context"
	"errors"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// operationTimeout bounds how long one reconcile waits for a long-running
// operation (instance and database creation, DDL). Past it, the reconcile
// fails with DeadlineExceeded and is retried with backoff; the operation
// itself goes on in the cloud.
const operationTimeout = 2 * time.Minute

// wait runs a long-running operation's Wait with a bounded context, and
// turns a timeout into a gRPC status the generic reconciler understands.
func wait[R any](ctx context.Context, what string, w func(context.Context) (R, error)) (R, error) {
	ctx, cancel := context.WithTimeout(ctx, operationTimeout)
	defer cancel()
	r, err := w(ctx)
	if err != nil && errors.Is(err, context.DeadlineExceeded) {
		err = status.Errorf(codes.DeadlineExceeded, "%s did not finish within %s; it continues in the cloud and is checked again", what, operationTimeout)
	}
	return r, err
}

// waitNoResult adapts an operation whose Wait returns only an error.
func waitNoResult(ctx context.Context, what string, w func(context.Context) error) error {
	_, err := wait(ctx, what, func(ctx context.Context) (struct{}, error) { return struct{}{}, w(ctx) })
	return err
}
