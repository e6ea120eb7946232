package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain runs main instead of the tests when the test binary is started
// as k3sync by a test.
func TestMain(m *testing.M) {
	if os.Getenv("K3SYNC_TEST_AS_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// slowRepo is a valid repo whose one tenant takes minutes to evaluate
// (9 million iterations of a CUE comprehension) in little memory.
func slowRepo(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	platform, err := os.ReadFile("../../internal/loader/testdata/platform.cue")
	if err != nil {
		t.Fatal(err)
	}
	tenant := `package k3sync

import "list"

owners: ["slow@example.com"]
_n: len([for i in list.Range(0, 3000, 1) for j in list.Range(0, 3000, 1) if i*j < 0 {1}])
`
	for name, data := range map[string]string{"platform.cue": string(platform), "tenants/slow/tenant.cue": tenant} {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// process is a running k3sync.
type process struct {
	cmd    *exec.Cmd
	stderr *strings.Builder
	// done receives Wait's error when the process exits.
	done chan error
}

// start runs k3sync with args.
func start(t *testing.T, args ...string) *process {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "K3SYNC_TEST_AS_MAIN=1")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	p := &process{cmd: cmd, stderr: &stderr, done: make(chan error, 1)}
	go func() { p.done <- cmd.Wait() }()
	return p
}

// waitExit waits for p to exit, at most within, and returns its code.
func waitExit(t *testing.T, p *process, within time.Duration) int {
	t.Helper()
	select {
	case err := <-p.done:
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatal(err)
		}
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(within):
		t.Fatalf("still running %v after the signal", within)
		return 0
	}
}

// TestSignalStopsValidate: SIGINT or SIGTERM ends a validate that is busy
// evaluating, at once, with exit code 130.
func TestSignalStopsValidate(t *testing.T) {
	repo := slowRepo(t)
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			p := start(t, "validate", "--repo", repo)
			// Let it reach the evaluation.
			time.Sleep(time.Second)
			if err := p.cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			if code := waitExit(t, p, 10*time.Second); code != 130 {
				t.Errorf("exit %d, want 130\n%s", code, p.stderr)
			}
			if !strings.Contains(p.stderr.String(), "interrupted") {
				t.Errorf("stderr: %q", p.stderr)
			}
		})
	}
}

// TestSignalStopsApply: SIGINT ends an apply that is busy evaluating the
// repo at once: the evaluation runs in a sandbox child that the signal
// kills, so nothing waits for it.
func TestSignalStopsApply(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "k3sync.yaml")
	if err := os.WriteFile(cfg, []byte("state: {backend: bolt, path: "+filepath.Join(dir, "state.db")+"}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := start(t, "apply", "--config", cfg, "--repo", slowRepo(t))
	time.Sleep(time.Second)
	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if code := waitExit(t, p, 10*time.Second); code != 130 {
		t.Errorf("exit %d, want 130\n%s", code, p.stderr)
	}
	if !strings.Contains(p.stderr.String(), "interrupted") {
		t.Errorf("stderr: %q", p.stderr)
	}
}
