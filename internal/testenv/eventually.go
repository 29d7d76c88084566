package testenv

import (
	"testing"
	"time"
)

// Eventually calls check every 100 ms until it returns nil, and fails the
// test with check's last error when timeout passes. Timeouts are generous
// on purpose: these machines are noisy, and a test waits for a state, it
// does not measure time.
func Eventually(t testing.TB, timeout time.Duration, check func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var err error
	for {
		if err = check(); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %v", timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
