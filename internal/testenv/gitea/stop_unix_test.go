//go:build unix

package gitea

import (
	"errors"
	"os"
	"syscall"
	"testing"
)

// TestStopKillsTheServer checks that Stop leaves no gitea running and no
// directory behind.
func TestStopKillsTheServer(t *testing.T) {
	t.Parallel()
	s := StartT(t)
	pid := s.proc.Pid()
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("gitea (pid %d) still exists after Stop: kill -0: %v", pid, err)
	}
	if _, err := os.Stat(s.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s still exists after Stop: %v", s.Dir, err)
	}
	if err := s.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}
