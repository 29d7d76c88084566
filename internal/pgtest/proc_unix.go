//go:build unix

package pgtest

import (
	"errors"
	"syscall"
	"time"

	"github.com/infraplane/infraplane/internal/localcloud/emulator"
)

const supported = true

var (
	sigQuit = syscall.SIGQUIT
	sigKill = syscall.SIGKILL
)

// attr runs a command as c, and, for the server, in its own process group
// (Stop kills the group) with a parent-death signal where there is one.
func (c *credential) attr(server bool) *syscall.SysProcAttr {
	a := &syscall.SysProcAttr{}
	if c.set {
		a.Credential = &syscall.Credential{Uid: uint32(c.uid), Gid: uint32(c.gid), NoSetGroups: true}
	}
	if server {
		a.Setpgid = true
		setParentDeathSignal(a, sigQuit)
	}
	return a
}

func signalGroupLeader(pid int, sig syscall.Signal) error { return syscall.Kill(pid, sig) }

func signalGroup(pgid int, sig syscall.Signal) error { return syscall.Kill(-pgid, sig) }

// waitGroupGone waits up to d until no live process is left in the group
// pgid, and returns those still there.
func waitGroupGone(pgid int, d time.Duration) []int { return emulator.WaitGroupGone(pgid, d) }

func processAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
