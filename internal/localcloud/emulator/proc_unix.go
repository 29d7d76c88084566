//go:build unix

package emulator

import (
	"errors"
	"syscall"
	"time"
)

var (
	sigTerm = syscall.SIGTERM
	sigKill = syscall.SIGKILL
)

// signalGroup sends sig to every process of the process group pgid.
func signalGroup(pgid int, sig syscall.Signal) error {
	return syscall.Kill(-pgid, sig)
}

// WaitGroupGone waits until no live (non-zombie) process is left in the
// process group pgid, for up to d, and returns the pids still there.
// pgtest uses it for its PostgreSQL servers too.
func WaitGroupGone(pgid int, d time.Duration) []int {
	deadline := time.Now().Add(d)
	for {
		left := groupMembers(pgid)
		if len(left) == 0 || time.Now().After(deadline) {
			return left
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// groupAlive reports whether signal 0 reaches the group (zombies count).
func groupAlive(pgid int) bool {
	err := syscall.Kill(-pgid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
