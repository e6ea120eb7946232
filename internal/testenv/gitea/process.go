package gitea

import (
	"context"
	"io"
	"time"

	"github.com/k3sync/k3sync/internal/testenv/proc"
)

// pollInterval is how often readiness is probed while gitea starts.
const pollInterval = 50 * time.Millisecond

// startProcess starts `gitea web` in a process group of its own, so that
// Stop kills it with whatever it started (git http-backend, hooks).
func startProcess(ctx context.Context, name, bin, dir string, args []string, output io.Writer) (*proc.Process, error) {
	return proc.Start(ctx, proc.Spec{Name: name, Bin: bin, Dir: dir, Args: args, Env: processEnv(), Output: output, Group: true}) //nolint:wrapcheck // proc's errors name the process
}

// processEnv is the environment of gitea and its CLI: ours, minus what
// would change its configuration behind app.ini's back (GITEA_WORK_DIR,
// GITEA__section__KEY overrides, ...) or point its git at another
// repository (GIT_DIR when the tests run from a git hook, ...).
func processEnv() []string { return proc.Environ("GITEA_", "GIT_") }
