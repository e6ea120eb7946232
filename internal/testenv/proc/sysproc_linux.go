//go:build linux

package proc

import (
	"fmt"
	"os"
	"syscall"
)

// sysProcAttr makes the kernel kill the process when the one that started
// it dies and, with group, puts it in a process group of its own.
func sysProcAttr(group bool) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: group, Pdeathsig: syscall.SIGKILL}
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
