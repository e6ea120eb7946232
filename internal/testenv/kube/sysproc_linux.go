//go:build linux

package kube

import "syscall"

// sysProcAttr makes the kernel kill a started binary when the process that
// started it dies, so that a test binary killed by `go test -timeout` or a
// signal leaves no orphaned etcd or apiserver behind.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
