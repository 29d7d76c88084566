package emulator

import (
	"os"
	"strconv"
	"strings"
	"syscall"
)

func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{
		// Own process group, so Stop can kill the emulator and everything
		// it started.
		Setpgid: true,
		// If this process dies without calling Stop (a crash, a test
		// binary killed by its -timeout), the kernel kills the emulator.
		// It reaches only the direct child, and fires when the OS thread
		// that started it exits; Go keeps threads alive unless a goroutine
		// exits while locked to one with runtime.LockOSThread.
		Pdeathsig: syscall.SIGKILL,
	}
}

// groupMembers lists the live (non-zombie) processes in process group pgid,
// read from /proc. Zombies are left out: in a container whose init does not
// reap orphans they would otherwise stay forever.
func groupMembers(pgid int) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		if groupAlive(pgid) {
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
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp ...; comm may contain spaces and ')'.
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 3 || f[0] == "Z" || f[0] == "X" {
			continue
		}
		if g, err := strconv.Atoi(f[2]); err == nil && g == pgid {
			pids = append(pids, pid)
		}
	}
	return pids
}
