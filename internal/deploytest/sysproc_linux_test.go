package deploytest

import "syscall"

// sysProcAttr makes the kernel kill a k3sync the test started when the
// test binary dies (a timeout), so that none is left behind.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
