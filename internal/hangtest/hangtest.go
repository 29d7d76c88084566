// Package hangtest serves, for tests, an endpoint that accepts connections
// and never answers: a SIGSTOPped emulator, a black-holing proxy, a silent
// git host.
package hangtest

import (
	"io"
	"net"
	"sync"
	"testing"
)

// Silent is a loopback listener that accepts every connection, reads what
// the client sends and never writes. Accepted gets a value per connection
// as it comes; Closed, one per connection the client gave up on (each
// buffers 16). Everything is closed when the test ends.
type Silent struct {
	Addr             string // host:port
	Accepted, Closed <-chan struct{}
}

// Listen starts a Silent endpoint.
func Listen(t testing.TB) *Silent {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted, closed := make(chan struct{}, 16), make(chan struct{}, 16)
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			notify(accepted)
			go func() {
				_, _ = io.Copy(io.Discard, c) // until the client hangs up
				notify(closed)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return &Silent{Addr: ln.Addr().String(), Accepted: accepted, Closed: closed}
}

// Endpoint is Listen's address, for tests that only need one that hangs.
func Endpoint(t testing.TB) string { return Listen(t).Addr }

// notify sends without blocking: a test that does not read the channel
// must not stall the listener.
func notify(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
