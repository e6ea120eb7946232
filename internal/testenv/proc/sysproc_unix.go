//go:build unix && !linux

package proc

import (
	"fmt"
	"os"
	"syscall"
)

// sysProcAttr puts the process in a process group of its own with group.
// Only Linux can also tie its life to the test binary's: elsewhere a
// killed test binary can leave its peers running.
func sysProcAttr(group bool) *syscall.SysProcAttr {
	if !group {
		return nil
	}
	return &syscall.SysProcAttr{Setpgid: true}
}

// killGroup kills the process group led by p.
func killGroup(p *os.Process) error {
	if err := syscall.Kill(-p.Pid, syscall.SIGKILL); err != nil {
		return fmt.Errorf("kill process group %d: %w", p.Pid, err)
	}
	return nil
}

// terminate sends p SIGTERM.
func terminate(p *os.Process) error {
	if err := p.Signal(syscall.SIGTERM); err != nil {
		return fmt.Errorf("terminate process %d: %w", p.Pid, err)
	}
	return nil
}
