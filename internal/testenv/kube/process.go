package kube

import (
	"context"
	"io"
	"time"

	"github.com/k3sync/k3sync/internal/testenv/proc"
)

// pollInterval is how often readiness is probed while a process starts.
const pollInterval = 100 * time.Millisecond

// startProcess starts a binary of the control plane, its output in
// <dir>/<name>.log (and output, if set), without the ETCD_* variables
// etcd would read as configuration.
func startProcess(ctx context.Context, name, bin, dir string, args []string, output io.Writer) (*proc.Process, error) {
	return proc.Start(ctx, proc.Spec{Name: name, Bin: bin, Dir: dir, Args: args, Env: proc.Environ("ETCD_"), Output: output}) //nolint:wrapcheck // proc's errors name the process
}
