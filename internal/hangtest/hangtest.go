// Package hangtest serves, for tests, an endpoint that accepts connections
// and never answers: a SIGSTOPped emulator, a black-holing proxy.
package hangtest

import (
	"net"
	"sync"
	"testing"
)

// Endpoint listens on a loopback port, accepts every connection, holds it
// open and never writes; it returns host:port. Everything is closed when
// the test ends.
func Endpoint(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
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
	return ln.Addr().String()
}
