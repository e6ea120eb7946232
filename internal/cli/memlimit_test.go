package cli

import (
	"errors"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"testing"
)

func TestReadOnlyMappedSumsTheBinarysReadOnlyMappings(t *testing.T) {
	const maps = `00400000-025aa000 r-xp 00000000 fd:01 1234 /opt/k3sync/bin/k3sync
029aa000-0545e000 r--p 025aa000 fd:01 1234 /opt/k3sync/bin/k3sync
0545e000-0554d000 rw-p 0505e000 fd:01 1234 /opt/k3sync/bin/k3sync
0554d000-0757e000 rw-p 00000000 00:00 0 
c000000000-c004000000 rw-p 00000000 00:00 0 
7f0000000000-7f0000100000 r--p 00000000 fd:01 99 /var/lib/k3sync/state.db
7f0000200000-7f0000201000 r--p 00000000 fd:01 98 /opt/k3sync/bin/k3sync.old
7f0000300000-7f0000302000 r--p 00000000 fd:01 97 /opt/my k3sync/k3sync
`
	got := readOnlyMapped(strings.NewReader(maps), "/opt/k3sync/bin/k3sync")
	// Code and read-only data; not the data segment, the heap or the
	// state file.
	if want := uint64(0x025aa000-0x00400000) + uint64(0x0545e000-0x029aa000); got != want {
		t.Errorf("readOnlyMapped = %d, want %d", got, want)
	}
	if got := readOnlyMapped(strings.NewReader(maps), "/opt/my k3sync/k3sync"); got != 0x2000 {
		t.Errorf("readOnlyMapped of a path with a space = %#x, want 0x2000", got)
	}
	if got := readOnlyMapped(strings.NewReader("garbage\nzz-yy r--p 0 0:0 1 /x\n"), "/x"); got != 0 {
		t.Errorf("readOnlyMapped of garbage = %d, want 0", got)
	}
}

func TestBinaryReserveIsThisBinarysCode(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("/proc/self/maps is Linux's")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(exe)
	if err != nil {
		t.Fatal(err)
	}
	got := binaryReserve()
	// The test binary maps its code and read-only data from its file:
	// more than a MB, less than the file (which has symbols and DWARF).
	if got < 1<<20 || got > uint64(fi.Size()) {
		t.Errorf("binaryReserve = %d, want between 1 MiB and the binary's %d bytes", got, fi.Size())
	}
}

func TestLessBinaryLeavesRoomForTheBinary(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	const mib = 1 << 20
	of := func(limit uint64, err error) func() (uint64, error) {
		return func() (uint64, error) { return limit, err }
	}
	for _, tc := range []struct {
		name           string
		limit, reserve uint64
		want           uint64
	}{
		{"a 200 MiB container and an 80 MiB binary", 200 * mib, 80 * mib, 120 * mib},
		{"a 1 GiB container", 1024 * mib, 80 * mib, 944 * mib},
		{"a container smaller than twice the binary keeps half", 128 * mib, 80 * mib, 64 * mib},
		{"no binary pages known", 200 * mib, 0, 200 * mib},
	} {
		got, err := lessBinary(of(tc.limit, nil), func() uint64 { return tc.reserve }, log)()
		if err != nil || got != tc.want {
			t.Errorf("%s: lessBinary = %d, %v; want %d", tc.name, got, err, tc.want)
		}
	}
	// Outside a container the binary's mappings are not read.
	noLimit := errors.New("no cgroup limit")
	asked := false
	if _, err := lessBinary(of(0, noLimit), func() uint64 { asked = true; return 80 * mib }, log)(); !errors.Is(err, noLimit) {
		t.Errorf("lessBinary without a limit: err = %v, want %v", err, noLimit)
	}
	if asked {
		t.Errorf("lessBinary without a limit read the binary's mappings")
	}
}
