package pgtest

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/infraplane/infraplane/internal/localcloud/cloudtest"
)

// New starts a server for the calling test and stops it in t.Cleanup
// (which runs even when the test panics). When no server can be run here
// the test is skipped, or fails under CI (cloudtest.Unavailable).
func New(t testing.TB, opts Options) *Server {
	t.Helper()
	s, err := Start(context.Background(), opts)
	if errors.Is(err, ErrUnavailable) {
		cloudtest.Unavailable(t, "pgtest: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("pgtest: PostgreSQL %s on %s:%d started in %s (initdb %s)", s.Version, s.Host, s.Port,
		s.StartTime.Round(time.Millisecond), s.InitTime.Round(time.Millisecond))
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Error(err)
		}
	})
	return s
}

// The test binary's shared server.
var shared struct {
	mu     sync.Mutex
	server *Server
	err    error
	tried  bool
}

// Shared returns the test binary's shared server, starting it the first
// time (a failure is remembered: later callers fail or skip the same way
// without trying again). Stop it with StopShared from TestMain; tests must
// not Stop it. Tests that share it should each use their own database
// (Database).
func Shared(t testing.TB) *Server {
	t.Helper()
	shared.mu.Lock()
	if !shared.tried {
		shared.tried = true
		shared.server, shared.err = Start(context.Background(), Options{})
		if shared.err == nil {
			s := shared.server
			t.Logf("pgtest: shared PostgreSQL %s on %s:%d started in %s (initdb %s)", s.Version, s.Host, s.Port,
				s.StartTime.Round(time.Millisecond), s.InitTime.Round(time.Millisecond))
		}
	}
	s, err := shared.server, shared.err
	shared.mu.Unlock()
	if errors.Is(err, ErrUnavailable) {
		cloudtest.Unavailable(t, "pgtest: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// StopShared stops the shared server if one was started; call it from
// TestMain after m.Run. A later Shared starts a new one.
func StopShared() error {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	s := shared.server
	shared.server, shared.err, shared.tried = nil, nil, false
	if s == nil {
		return nil
	}
	return s.Stop()
}

var dbCount atomic.Int64

var nonName = regexp.MustCompile(`[^a-z0-9_]+`)

// Database creates a database of its own for the calling test on the
// shared server (owned by a role of the same name with a password) and
// returns its DSN; the database and role are dropped in t.Cleanup.
func Database(t testing.TB) string {
	t.Helper()
	s := Shared(t)
	return database(t, s)
}

// Database creates a database for the calling test on s and returns its
// DSN; it is dropped in t.Cleanup.
func (s *Server) Database(t testing.TB) string {
	t.Helper()
	return database(t, s)
}

func database(t testing.TB, s *Server) string {
	t.Helper()
	base := nonName.ReplaceAllString(strings.ToLower(t.Name()), "_")
	name := fmt.Sprintf("t%d_%s", dbCount.Add(1), base)
	if len(name) > 63 {
		name = name[:63]
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dsn, err := s.CreateDatabase(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		select {
		case <-s.Exited():
			return // stopped (or crashed): nothing to drop
		default:
		}
		if err := s.DropDatabase(ctx, name); err != nil {
			t.Error(err)
		}
	})
	return dsn
}
