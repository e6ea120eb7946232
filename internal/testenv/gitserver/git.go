package gitserver

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// RequireGit fails the test when git or git-http-backend is missing.
func RequireGit(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatalf("git not found in PATH (install Debian package git): %v", err)
	}
	if _, err := backendPath(t.Context()); err != nil {
		t.Fatalf("%v (install Debian package git)", err)
	}
}

// backendPath finds git-http-backend in git's exec path.
func backendPath(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "git", "--exec-path").Output()
	dirs := []string{"/usr/lib/git-core", "/usr/libexec/git-core"}
	if err == nil {
		dirs = append([]string{strings.TrimSpace(string(out))}, dirs...)
	}
	for _, d := range dirs {
		p := filepath.Join(d, "git-http-backend")
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	return "", &exec.Error{Name: "git-http-backend", Err: exec.ErrNotFound}
}

// gitEnv isolates git from the machine's and the user's configuration.
func gitEnv(home string) []string {
	env := []string{
		"HOME=" + home,
		"PATH=" + os.Getenv("PATH"),
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_TERMINAL_PROMPT=0",
		"LANG=C",
	}
	return env
}

// run runs git in dir and fails the test with its output on error.
func run(t testing.TB, dir string, env []string, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), "git", args...)
	cmd.Dir = dir
	cmd.Env = env
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	return strings.TrimSpace(out.String())
}
