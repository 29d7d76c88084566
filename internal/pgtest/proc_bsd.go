//go:build unix && !linux

package pgtest

import "syscall"

// No parent-death signal here: a server whose starter dies without Stop
// keeps running until killed.
func setParentDeathSignal(*syscall.SysProcAttr, syscall.Signal) {}
