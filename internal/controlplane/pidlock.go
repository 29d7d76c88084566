package controlplane

import (
	"os"
	"strconv"
	"strings"
)

// InUseError says that another process holds a PID lock (LockPID).
type InUseError struct {
	Path string
	PID  int // 0 when the holder has not written its pid yet
}

func (e *InUseError) Error() string {
	if e.PID == 0 {
		return "locked by another process: " + e.Path
	}
	return "locked by process " + strconv.Itoa(e.PID) + ": " + e.Path
}

func readPID(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}
