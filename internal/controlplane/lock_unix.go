//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package controlplane

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"syscall"
)

// lockDataDir takes an exclusive, non-blocking lock on dir. Without it a
// second control plane on the same dir would hang forever inside etcd, which
// blocks on its own database lock. flock locks belong to the open file, so
// this also catches a second Start in the same process. The kernel drops the
// lock when the process dies, so a crash never leaves a stale lock behind.
func lockDataDir(dir string) (release func(), err error) {
	f, err := os.OpenFile(dir+"/lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("data dir %s is in use by another control plane", dir)
		}
		return nil, fmt.Errorf("locking %s: %w", dir, err)
	}
	var once sync.Once
	return func() { once.Do(func() { f.Close() }) }, nil
}

// LockPID takes an exclusive, non-blocking lock on path (created if need
// be) and writes this process's pid into it, so that a second process can
// say who holds it: an *InUseError. Like lockDataDir it is released with
// the process, so a crash leaves no stale lock.
func LockPID(path string) (release func(), err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, &InUseError{Path: path, PID: readPID(path)}
		}
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0) // only for the message of a second process
	}
	var once sync.Once
	return func() { once.Do(func() { f.Close() }) }, nil
}
