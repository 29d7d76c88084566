//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package ledger

import (
	"errors"
	"os"
	"syscall"
)

// lockFile takes an exclusive, non-blocking flock on f: one appender per
// ledger, in this process or any other. The lock belongs to the open file
// and goes with it (Close, or the process dying).
func lockFile(f *os.File) error {
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return errors.New("already open for appending (by another infraplane process, or twice in this one)")
		}
		return err
	}
	return nil
}
