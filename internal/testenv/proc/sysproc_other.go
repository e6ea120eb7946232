//go:build !unix

package proc

import (
	"fmt"
	"os"
	"syscall"
)

// sysProcAttr has nothing to add without Unix process groups.
func sysProcAttr(bool) *syscall.SysProcAttr { return nil }

// killGroup kills p alone: there are no process groups to kill.
func killGroup(p *os.Process) error {
	if err := p.Kill(); err != nil {
		return fmt.Errorf("kill process %d: %w", p.Pid, err)
	}
	return nil
}

// terminate cannot ask p to exit without Unix signals: the caller kills it.
func terminate(p *os.Process) error {
	return fmt.Errorf("terminate process %d: no signals on this system", p.Pid)
}
