//go:build unix

package gitea

import (
	"errors"
	"os"
	"path/filepath"
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

// TestServerWritesNothingInTheUsersHome: a test Gitea keeps its files in
// its own directory. Without SSH it still wrote ~/.ssh/authorized_keys by
// default, the user's, which every test server shared. Not parallel: it
// sets HOME.
func TestServerWritesNothingInTheUsersHome(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	s := StartT(t)
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(home)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		t.Errorf("gitea wrote %s in the user's home", filepath.Join(home, e.Name()))
	}
}
