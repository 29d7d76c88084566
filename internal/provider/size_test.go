package provider

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// An endpoint's answer is untrusted: an HTTP body larger than
// MaxResponseBytes fails when read, and the answers to calls made under a
// read budget stop once it is spent; a call after that is not even sent.
func TestHTTPAnswersAreBounded(t *testing.T) {
	var requests atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		size := 1 << 20
		if r.URL.Path == "/huge" {
			size = MaxResponseBytes + 1<<20
		}
		_, _ = io.Copy(w, io.LimitReader(zeros{}, int64(size)))
	}))
	t.Cleanup(srv.Close)
	hc := &http.Client{Transport: &meteredTransport{service: "storage", endpoint: srv.URL, method: func(*http.Request) string { return "test" }, base: http.DefaultTransport}}
	get := func(ctx context.Context, path string) (int, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+path, nil)
		resp, err := hc.Do(req)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		n, err := io.Copy(io.Discard, resp.Body)
		return int(n), err
	}

	if n, err := get(context.Background(), "/huge"); !errors.Is(err, ErrTooMuchRead) || !strings.Contains(err.Error(), "an answer of more than 32 MiB") {
		t.Fatalf("huge answer: read %d bytes, error %v; want ErrTooMuchRead", n, err)
	}
	if _, err := get(context.Background(), "/page"); err != nil {
		t.Fatalf("a page of 1 MiB without a budget: %v", err)
	}

	ctx := WithReadBudget(context.Background(), 3<<19) // 1.5 MiB
	if _, err := get(ctx, "/page"); err != nil {
		t.Fatalf("first page under the budget: %v", err)
	}
	if _, err := get(ctx, "/page"); !errors.Is(err, ErrTooMuchRead) || !strings.Contains(err.Error(), "answers to one listing") {
		t.Fatalf("second page past the budget: %v; want ErrTooMuchRead", err)
	}
	before := requests.Load()
	if _, err := get(ctx, "/page"); !errors.Is(err, ErrTooMuchRead) {
		t.Fatalf("a call after the budget is spent: %v; want ErrTooMuchRead", err)
	}
	if sent := requests.Load() - before; sent != 0 {
		t.Errorf("%d requests sent after the budget was spent, want none", sent)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
