//go:build unix && !linux

package emulator

import "syscall"

func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

func groupMembers(pgid int) []int {
	if groupAlive(pgid) {
		return []int{pgid}
	}
	return nil
}
