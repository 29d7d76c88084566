package postgres

import (
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Interruption cuts off the first create of each of some databases and
// roles after its first statement (see interruptHook).
type Interruption struct {
	mu    sync.Mutex
	names map[string]bool // name -> fired
}

// InterruptCreate cuts off the first create of each name after its first
// statement, until Stop.
func InterruptCreate(names ...string) *Interruption {
	in := &Interruption{names: map[string]bool{}}
	for _, n := range names {
		in.names[n] = false
	}
	f := func(name string) error {
		in.mu.Lock()
		defer in.mu.Unlock()
		if fired, ok := in.names[name]; !ok || fired {
			return nil
		}
		in.names[name] = true
		return status.Errorf(codes.Unavailable, "test: the create of %q was cut off after its first statement", name)
	}
	interruptHook.Store(&f)
	return in
}

// Fired reports whether the create of name was cut off.
func (in *Interruption) Fired(name string) bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.names[name]
}

// Stop removes the interruption.
func (in *Interruption) Stop() { interruptHook.Store(nil) }
