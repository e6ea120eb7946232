//go:build linux

package gitea

import (
	"fmt"
	"os"
	"syscall"
)

// sysProcAttr puts gitea in a process group of its own, so that Stop can
// kill it with whatever it started (git http-backend, hooks), and makes the
// kernel kill it when the process that started it dies, so that a test
// binary killed by `go test -timeout` or a signal leaves no Gitea behind.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// killGroup kills the process group led by p.
func killGroup(p *os.Process) error {
	if err := syscall.Kill(-p.Pid, syscall.SIGKILL); err != nil {
		return fmt.Errorf("kill process group %d: %w", p.Pid, err)
	}
	return nil
}
