//go:build !linux

package bench

import (
	"os/exec"
	"runtime"
)

// detach does nothing outside Linux: there is no parent-death signal, so
// only stop ends the worker process, and a Ctrl-C at the terminal reaches
// it as well as the bench.
func detach(*exec.Cmd) {}

// maxrssBytes converts getrusage's ru_maxrss to bytes: macOS reports
// bytes, the BSDs KiB.
func maxrssBytes(maxrss int64) int64 {
	if runtime.GOOS == "darwin" || runtime.GOOS == "ios" {
		return maxrss
	}
	return maxrss * 1024
}
