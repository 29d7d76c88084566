package pgtest

import (
	"os"
	"strconv"
	"strings"
	"syscall"
)

// setParentDeathSignal has the kernel send sig to the server when the
// thread that started it exits: in a Go program, when the process exits
// (Go does not end its threads, except one whose goroutine exits while
// locked to it, which pgtest never does). Go sets it after switching to
// the server's user, so the switch does not clear it.
func setParentDeathSignal(a *syscall.SysProcAttr, sig syscall.Signal) { a.Pdeathsig = sig }

// groupMembers lists the live processes of the group pgid from /proc,
// without zombies (in a container whose init does not reap orphans, the
// server's children would stay zombies forever).
func groupMembers(pgid int) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		if syscall.Kill(-pgid, 0) == nil {
			return []int{pgid}
		}
		return nil
	}
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// "pid (comm) state ppid pgrp …"; comm may hold spaces and ')'.
		s := string(stat)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 3 || f[0] == "Z" || f[0] == "X" {
			continue
		}
		if g, _ := strconv.Atoi(f[2]); g == pgid {
			pids = append(pids, pid)
		}
	}
	return pids
}
