package proc

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestAddrInUseNeedsTheMessage(t *testing.T) {
	t.Parallel()
	exited := func(output string) error {
		return &StartError{msg: "etcd exited", err: errors.New("exit status 1"), output: output}
	}
	if AddrInUse(exited("bind: permission denied")) {
		t.Error("permission denied taken for a port conflict")
	}
	if !AddrInUse(exited("listen tcp 127.0.0.1:1: bind: address already in use")) {
		t.Error("address already in use not recognized")
	}
}

// TestWaitReadyReportsAnEarlyExit: a process that exits before it is
// ready fails the wait at once, quoting its output.
func TestWaitReadyReportsAnEarlyExit(t *testing.T) {
	t.Parallel()
	p, err := Start(t.Context(), Spec{Name: "sh", Bin: "/bin/sh", Dir: t.TempDir(), Args: []string{"-c", "echo cannot start; exit 3"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	err = WaitReady(t.Context(), p, 10*time.Millisecond, time.Minute, "readiness", func(context.Context) error { return errors.New("not yet") })
	var se *StartError
	if !errors.As(err, &se) || !strings.Contains(err.Error(), "sh exited before it was ready") || !strings.Contains(err.Error(), "cannot start") {
		t.Fatalf("wait for an exited process: %v", err)
	}
}
