package gitea

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// pollInterval is how often readiness is probed while gitea starts.
const pollInterval = 50 * time.Millisecond

// process is the running `gitea web`. Its stdout and stderr, where Gitea
// logs, go to <dir>/<name>.log (and to Options.Output, if set).
type process struct {
	name    string
	logPath string
	cmd     *exec.Cmd
	done    chan struct{} // closed once the process has exited
	err     error         // result of cmd.Wait, valid once done is closed
}

// startProcess starts bin in a process group of its own. The process
// outlives ctx, which only carries values: it runs until stop.
func startProcess(ctx context.Context, name, bin, dir string, args []string, output io.Writer) (*process, error) {
	logPath := filepath.Join(dir, name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("%s log: %w", name, err)
	}
	var w io.Writer = logFile
	if output != nil {
		w = io.MultiWriter(logFile, output)
	}
	cmd := exec.CommandContext(context.WithoutCancel(ctx), bin, args...)
	cmd.Dir = dir
	cmd.Env = processEnv()
	cmd.Stdout = w
	cmd.Stderr = w
	cmd.SysProcAttr = sysProcAttr()
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	p := &process{name: name, logPath: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		_ = logFile.Close()
		close(p.done)
	}()
	return p, nil
}

// processEnv is the environment of gitea and its CLI: ours, minus what
// would change its configuration behind app.ini's back (GITEA_WORK_DIR,
// GITEA__section__KEY overrides, ...) or point its git at another
// repository (GIT_DIR when the tests run from a git hook, ...).
func processEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GITEA_") && !strings.HasPrefix(kv, "GIT_") {
			env = append(env, kv)
		}
	}
	return env
}

// stop kills the process group (if the process still runs) and waits for
// the process to exit.
func (p *process) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	if err := killGroup(p.cmd.Process); err != nil {
		_ = p.cmd.Process.Kill()
	}
	<-p.done
}

// exited reports the premature exit of p, quoting the end of its output.
func (p *process) exited() error {
	err := p.err
	if err == nil {
		err = errors.New("exit status 0")
	}
	return &startError{
		msg:    fmt.Sprintf("%s exited before it was ready", p.name),
		err:    err,
		output: p.output(),
	}
}

// output returns the last lines p wrote.
func (p *process) output() string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", p.logPath, err)
	}
	return tail(b)
}

// tail returns the last lines of b, at most 25 lines and 8 KiB.
func tail(b []byte) string {
	const maxLines, maxBytes = 25, 8 << 10
	b = bytes.TrimRight(b, "\n")
	if len(b) > maxBytes {
		b = b[len(b)-maxBytes:]
	}
	lines := strings.Split(string(b), "\n")
	if len(lines) > maxLines {
		lines = lines[len(lines)-maxLines:]
	}
	return strings.Join(lines, "\n")
}

// startError is a process that failed to become ready, with the tail of its
// output so that the test failure explains itself.
type startError struct {
	msg    string
	err    error
	output string
}

func (e *startError) Error() string {
	if e.output == "" {
		return fmt.Sprintf("%s: %v (no output)", e.msg, e.err)
	}
	return fmt.Sprintf("%s: %v; last output:\n%s", e.msg, e.err, e.output)
}

func (e *startError) Unwrap() error { return e.err }

// addrInUse reports whether err is a gitea that could not bind its port:
// another process took it between freePort and the bind. Start retries
// those with a fresh port.
func addrInUse(err error) bool {
	var se *startError
	return errors.As(err, &se) && strings.Contains(se.output, "address already in use")
}

// giveUp, returned by a probe, makes waitReady stop waiting at once: the
// process will never become ready, though it may keep running.
type giveUp struct{ err error }

func (e *giveUp) Error() string { return e.err.Error() }
func (e *giveUp) Unwrap() error { return e.err }

// waitReady polls probe until it succeeds or gives up, p exits, ctx is done
// or timeout elapses, whichever comes first.
func waitReady(ctx context.Context, p *process, timeout time.Duration, what string, probe func(context.Context) error) error {
	waitCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// Probes are cut short when the process exits: the port may belong to
	// another process that accepts connections but never answers.
	probeCtx, cancelProbe := context.WithCancel(waitCtx)
	defer cancelProbe()
	go func() {
		select {
		case <-p.done:
			cancelProbe()
		case <-probeCtx.Done():
		}
	}()
	ticker := time.NewTicker(pollInterval)
	defer ticker.Stop()
	for {
		lastErr := probe(probeCtx)
		if lastErr == nil {
			return nil
		}
		if g := (*giveUp)(nil); errors.As(lastErr, &g) {
			return &startError{msg: fmt.Sprintf("%s failed to start", p.name), err: g.err, output: p.output()}
		}
		select {
		case <-p.done:
			return p.exited()
		case <-waitCtx.Done():
			select {
			case <-p.done:
				return p.exited()
			default:
			}
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("%s: waiting for %s: %w", p.name, what, err)
			}
			return &startError{
				msg:    fmt.Sprintf("%s: %s not ready after %s", p.name, what, timeout),
				err:    lastErr,
				output: p.output(),
			}
		case <-ticker.C:
		}
	}
}

// freePort returns a TCP port that is free on 127.0.0.1 when returned, not
// reserved: see addrInUse.
func freePort(ctx context.Context) (int, error) {
	var lc net.ListenConfig
	l, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pick a free port: %w", err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port, nil
}
