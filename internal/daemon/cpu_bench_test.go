package daemon

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// cpuSeconds is the CPU time, user and system, this process has used
// (the daemon under test and the peers it hosts: kfake, the Kong
// emulator) and that its child processes still running have used (the
// apiservers and their etcd), in seconds. Its differences across a phase
// tell whether the phase waited on k3sync or on the peers: on a 2-core
// machine the two share the cores.
func cpuSeconds() (self, children float64) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err == nil {
		self = float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
	}
	pid := strconv.Itoa(os.Getpid())
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, f := range stats {
		raw, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		// pid (comm) state ppid ... utime(14) stime(15): comm may hold
		// spaces, so fields are counted after its closing parenthesis.
		s := string(raw)
		rest := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(rest) < 13 || rest[1] != pid {
			continue
		}
		utime, _ := strconv.ParseFloat(rest[11], 64)
		stime, _ := strconv.ParseFloat(rest[12], 64)
		children += (utime + stime) / clockTicks
	}
	return self, children
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat's times: 100 on
// every Linux architecture Go supports.
const clockTicks = 100
