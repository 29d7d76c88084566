//go:build !unix

package pgtest

import (
	"os"
	"syscall"
	"time"
)

const supported = false

var (
	sigQuit = os.Kill
	sigKill = os.Kill
)

func (c *credential) attr(bool) *syscall.SysProcAttr { return nil }

func signalGroupLeader(int, os.Signal) error { return nil }
func signalGroup(int, os.Signal) error       { return nil }
func waitGroupGone(int, time.Duration) []int { return nil }
func processAlive(int) bool                  { return false }
