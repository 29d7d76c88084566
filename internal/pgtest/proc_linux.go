package pgtest

import "syscall"

// setParentDeathSignal has the kernel send sig to the server when the
// thread that started it exits: in a Go program, when the process exits
// (Go does not end its threads, except one whose goroutine exits while
// locked to it, which pgtest never does). Go sets it after switching to
// the server's user, so the switch does not clear it.
func setParentDeathSignal(a *syscall.SysProcAttr, sig syscall.Signal) { a.Pdeathsig = sig }
