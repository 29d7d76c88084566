package provider

import (
	"context"
	"fmt"
	"io"
	"sync/atomic"
)

// A cloud endpoint is untrusted input like a manifest: a ProviderConfig may
// point at any endpoint its team runs, and the controller that reads it is
// shared by every team. What one answer, and one listing of many pages,
// may bring into the controller's memory is therefore bounded.

// MaxResponseBytes is the largest single answer read from a cloud
// endpoint (a gRPC message, an HTTP body). Infraplane's calls are admin
// calls whose answers are kilobytes; a page of a listing of 1,000 topics
// is well under a megabyte.
const MaxResponseBytes = 32 << 20

// ErrTooMuchRead is what a call returns when its answer, or the answers
// to the calls made under one ReadBudget, were larger than allowed.
var ErrTooMuchRead = fmt.Errorf("the cloud endpoint answered with more than infraplane reads")

// readBudget is how many bytes of answers may still be read under one
// context (WithReadBudget).
type readBudget struct {
	limit int64
	left  atomic.Int64
}

type readBudgetKey struct{}

// WithReadBudget bounds the answers read by every call made with ctx to
// limit bytes in all: a listing that follows pages is bounded as a whole,
// not only per page. Once spent, calls fail with ErrTooMuchRead before
// they are sent.
func WithReadBudget(ctx context.Context, limit int64) context.Context {
	b := &readBudget{limit: limit}
	b.left.Store(limit)
	return context.WithValue(ctx, readBudgetKey{}, b)
}

func budgetOf(ctx context.Context) *readBudget {
	b, _ := ctx.Value(readBudgetKey{}).(*readBudget)
	return b
}

// spent says whether ctx's budget, if any, is used up.
func (b *readBudget) spent() bool { return b != nil && b.left.Load() < 0 }

// spend takes n bytes from the budget; it fails when that was more than
// was left.
func (b *readBudget) spend(n int) error {
	if b == nil {
		return nil
	}
	if b.left.Add(-int64(n)) < 0 {
		return b.err()
	}
	return nil
}

func (b *readBudget) err() error {
	return fmt.Errorf("%w: more than %d MiB in answers to one listing", ErrTooMuchRead, b.limit>>20)
}

// limitedBody is an HTTP answer's body that fails once it has given more
// than MaxResponseBytes, or more than its request's budget had left.
type limitedBody struct {
	io.ReadCloser
	read   int64
	budget *readBudget
}

func (l *limitedBody) Read(p []byte) (int, error) {
	n, err := l.ReadCloser.Read(p)
	l.read += int64(n)
	if l.read > MaxResponseBytes {
		return n, fmt.Errorf("%w: an answer of more than %d MiB", ErrTooMuchRead, MaxResponseBytes>>20)
	}
	if err := l.budget.spend(n); err != nil {
		return n, err
	}
	return n, err
}
