package cli

import (
	"bufio"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"

	"github.com/KimMachineGun/automemlimit/memlimit"
)

// memoryRatio is the share of the container's memory, less the binary's
// own pages (binaryReserve), that the Go runtime aims to stay under, as
// Prometheus' --auto-gomemlimit does: the rest is for what the Go heap
// does not count (goroutine stacks, runtime metadata, the page cache of
// the state file and the Git clone) and for the sandbox children, which
// have limits of their own.
const memoryRatio = 0.9

// setMemoryLimit sets the Go runtime's soft memory limit when the process
// runs in a container with a memory limit (cgroup v2 or v1): memoryRatio
// of that limit less the binary's code and read-only data. Without it the
// heap may grow to twice what is live between collections (GOGC=100):
// the 1,000-tenant first sync has 55–85 MB live and peaks at about
// 135 MiB of heap, 220–240 MiB of RSS with the binary's pages. Those
// pages count against the container's limit too (80 MB of code and
// read-only data, 60–76 MiB of it mapped by the end of a first sync): a
// limit of 90% of a 200 MiB container let the heap crowd them out, and
// the first sync, reading its own code from disk again and again, took
// minutes instead of a minute (BenchmarkServeBinary1000Tenants). An
// explicit GOMEMLIMIT, or AUTOMEMLIMIT=off, wins; no limit found leaves
// the runtime as it is. The result is logged either way.
func setMemoryLimit(log *slog.Logger) {
	log = log.With("component", "memlimit")
	_, _ = memlimit.Set(
		memlimit.WithRatio(memoryRatio),
		memlimit.WithProvider(lessBinary(memlimit.FromCgroup, binaryReserve, log)),
		memlimit.WithLogger(log),
	)
}

// lessBinary is the container's limit less reserve() bytes, and at least
// half of it: a container too small for the binary still gets a limit
// the collector can work under. reserve is only asked once a limit is
// found: outside a container, start-up reads nothing more.
func lessBinary(limit memlimit.Provider, reserve func() uint64, log *slog.Logger) memlimit.Provider {
	return func() (uint64, error) {
		l, err := limit()
		if err != nil {
			return 0, err //nolint:wrapcheck // memlimit says what failed
		}
		r := min(reserve(), l/2)
		log.Info("container memory limit found; leaving room for the binary's code",
			"limitBytes", l, "binaryBytes", r)
		return l - r, nil
	}
}

// binaryReserve is the size of the running executable's read-only file
// mappings (its code and read-only data), which the kernel maps from the
// page cache as they are used: 0 when /proc cannot tell.
func binaryReserve() uint64 {
	exe, err := os.Executable()
	if err != nil {
		return 0
	}
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return 0
	}
	defer func() { _ = f.Close() }()
	return readOnlyMapped(f, exe)
}

// readOnlyMapped sums the sizes of the mappings of file path in maps (the
// format of /proc/PID/maps) that cannot be written.
func readOnlyMapped(maps io.Reader, path string) uint64 {
	var total uint64
	sc := bufio.NewScanner(maps)
	for sc.Scan() {
		// address perms offset dev inode pathname
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || strings.Join(fields[5:], " ") != path || strings.Contains(fields[1], "w") {
			continue
		}
		from, to, ok := strings.Cut(fields[0], "-")
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(from, 16, 64)
		end, err2 := strconv.ParseUint(to, 16, 64)
		if err1 != nil || err2 != nil || end < start {
			continue
		}
		total += end - start
	}
	return total
}
