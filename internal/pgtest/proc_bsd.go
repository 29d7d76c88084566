//go:build unix && !linux

package pgtest

import "syscall"

// No parent-death signal here: a server whose starter dies without Stop
// keeps running until killed.
func setParentDeathSignal(*syscall.SysProcAttr, syscall.Signal) {}

// groupMembers reports the group as one live process while signal 0
// reaches it (zombies included).
func groupMembers(pgid int) []int {
	if syscall.Kill(-pgid, 0) == nil {
		return []int{pgid}
	}
	return nil
}
