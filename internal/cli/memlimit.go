package cli

import (
	"log/slog"

	"github.com/KimMachineGun/automemlimit/memlimit"
)

// memoryRatio is the share of the container's memory limit the Go runtime
// aims to stay under, as Prometheus' --auto-gomemlimit does: the rest is
// for what the Go heap does not count (goroutine stacks, the binary,
// cgo-free runtime metadata) and for the sandbox children, which have
// limits of their own.
const memoryRatio = 0.9

// setMemoryLimit sets the Go runtime's soft memory limit to memoryRatio
// of the container's memory limit (cgroup v2 or v1) when there is one.
// Without it the heap may grow to twice what is live between collections
// (GOGC=100): the 1,000-tenant first sync has about 100 MiB live and
// peaks at 190 MiB of heap and 300 MiB of RSS, which a container limit of
// 256 MiB kills. With the limit the collector runs earlier instead. An
// explicit GOMEMLIMIT, or AUTOMEMLIMIT=off, wins; no limit found leaves
// the runtime as it is. The result is logged either way.
func setMemoryLimit(log *slog.Logger) {
	_, _ = memlimit.Set(
		memlimit.WithRatio(memoryRatio),
		memlimit.WithProvider(memlimit.FromCgroup),
		memlimit.WithLogger(log.With("component", "memlimit")),
	)
}
