//go:build !linux

package kube

import "syscall"

// sysProcAttr has nothing to add outside Linux: there, a killed test binary
// can leave its control planes running.
func sysProcAttr() *syscall.SysProcAttr { return nil }
