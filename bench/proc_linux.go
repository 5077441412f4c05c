package bench

import (
	"os/exec"
	"syscall"
)

// detach has the kernel SIGTERM the worker process if the bench dies
// without stopping it (SIGKILL, a crash), so it never outlives the bench
// and its server. Linux sends it when the forking thread exits; Go's
// runtime does not retire threads that have not locked themselves, so in
// practice that is when the bench process exits. The process also gets a
// process group of its own, so a Ctrl-C at the terminal reaches only the
// bench, which reads the worker's peak RSS before stopping it.
func detach(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM, Setpgid: true}
}

// maxrssBytes converts getrusage's ru_maxrss, in KiB on Linux, to bytes.
func maxrssBytes(maxrss int64) int64 { return maxrss * 1024 }
