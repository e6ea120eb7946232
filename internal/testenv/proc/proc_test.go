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

// TestTerminate: a process that exits on SIGTERM stops within the grace
// period; one that ignores it is killed once the grace period is over.
func TestTerminate(t *testing.T) {
	t.Parallel()
	start := func(script string) *Process {
		t.Helper()
		p, err := Start(t.Context(), Spec{Name: "sh", Bin: "/bin/sh", Dir: t.TempDir(), Args: []string{"-c", script}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.Stop)
		return p
	}
	// The traps are set before "ready" is printed; wait for it.
	waitFor := func(p *Process, want string) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			if b, _ := p.Log(); strings.Contains(string(b), want) {
				return
			}
		}
		t.Fatalf("%q never printed", want)
	}

	clean := start(`trap 'exit 0' TERM; echo ready; while :; do sleep 0.05; done`)
	waitFor(clean, "ready")
	if !clean.Terminate(10 * time.Second) {
		t.Error("a process that exits on SIGTERM was killed")
	}
	if !clean.Exited() {
		t.Error("Terminate returned before the process exited")
	}

	stubborn := start(`trap '' TERM; echo ready; while :; do sleep 0.05; done`)
	waitFor(stubborn, "ready")
	if stubborn.Terminate(200 * time.Millisecond) {
		t.Error("a process that ignores SIGTERM reported a clean exit")
	}
	if !stubborn.Exited() {
		t.Error("the process still runs after Terminate")
	}
}
