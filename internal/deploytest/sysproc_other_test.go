//go:build !linux

package deploytest

import "syscall"

func sysProcAttr() *syscall.SysProcAttr { return nil }
