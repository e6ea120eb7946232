//go:build unix && !linux

package gitea

import (
	"fmt"
	"os"
	"syscall"
)

// sysProcAttr puts gitea in a process group of its own, so that Stop can
// kill it with whatever it started. Only Linux can also tie its life to the
// test binary's: elsewhere a killed test binary can leave a Gitea running.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

// killGroup kills the process group led by p.
func killGroup(p *os.Process) error {
	if err := syscall.Kill(-p.Pid, syscall.SIGKILL); err != nil {
		return fmt.Errorf("kill process group %d: %w", p.Pid, err)
	}
	return nil
}
