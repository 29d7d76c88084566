//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package controlplane

// lockDataDir is a no-op where flock is unavailable.
func lockDataDir(string) (func(), error) { return func() {}, nil }

// LockPID is a no-op where flock is unavailable.
func LockPID(string) (func(), error) { return func() {}, nil }
