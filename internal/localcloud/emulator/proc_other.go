//go:build !unix

package emulator

import (
	"os"
	"syscall"
	"time"
)

var (
	sigTerm = os.Kill
	sigKill = os.Kill
)

func sysProcAttr() *syscall.SysProcAttr { return nil }

// Without process groups only the direct child can be killed.
func signalGroup(pid int, sig os.Signal) error {
	p, err := os.FindProcess(pid)
	if err != nil {
		return err
	}
	return p.Signal(sig)
}

func WaitGroupGone(int, time.Duration) []int { return nil }
