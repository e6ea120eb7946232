// Package proc runs the test peers k3sync builds from source (etcd,
// kube-apiserver, kube-controller-manager, Gitea) or fetches with the
// make targets (the Kafka broker's jars) as child processes: it starts
// them with their output in a log file, waits until they are ready,
// recognizes a lost port race and stops them (killed, or asked to exit
// first with Terminate), and finds their binaries under the repository's
// bin/.
package proc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Spec says how to start a process.
type Spec struct {
	// Name names the process in errors and its log, <Dir>/<Name>.log.
	Name string
	Bin  string
	Dir  string
	Args []string
	// Env is the process environment (see Environ).
	Env []string
	// Output, if set, receives a copy of stdout and stderr.
	Output io.Writer
	// Group puts the process in a process group of its own (Unix), which
	// Stop kills whole: for binaries that start children of their own.
	Group bool
}

// Process is a running binary. Its stdout and stderr go to its log.
type Process struct {
	name    string
	logPath string
	group   bool
	cmd     *exec.Cmd
	done    chan struct{} // closed once the process has exited
	err     error         // result of cmd.Wait, valid once done is closed
}

// Start starts the process. It outlives ctx, which only carries values:
// it runs until Stop. On Linux it is killed when the process that started
// it dies, so that a test binary killed by `go test -timeout` or a signal
// leaves nothing behind.
func Start(ctx context.Context, s Spec) (*Process, error) {
	logPath := filepath.Join(s.Dir, s.Name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("%s log: %w", s.Name, err)
	}
	var w io.Writer = logFile
	if s.Output != nil {
		w = io.MultiWriter(logFile, s.Output)
	}
	cmd := exec.CommandContext(context.WithoutCancel(ctx), s.Bin, s.Args...)
	cmd.Dir = s.Dir
	cmd.Env = s.Env
	cmd.Stdout = w
	cmd.Stderr = w
	cmd.SysProcAttr = sysProcAttr(s.Group)
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return nil, fmt.Errorf("%s: %w", s.Name, err)
	}
	p := &Process{name: s.Name, logPath: logPath, group: s.Group, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		_ = logFile.Close()
		close(p.done)
	}()
	return p, nil
}

// Environ is our environment minus the variables with any of the
// prefixes: those a started binary would read as configuration.
func Environ(dropPrefixes ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		drop := false
		for _, p := range dropPrefixes {
			if strings.HasPrefix(kv, p) {
				drop = true
				break
			}
		}
		if !drop {
			env = append(env, kv)
		}
	}
	return env
}

// Pid is the process's ID.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Stop kills the process (its group, with Spec.Group) if it still runs and
// waits for it to exit.
func (p *Process) Stop() {
	select {
	case <-p.done:
		return
	default:
	}
	if !p.group || killGroup(p.cmd.Process) != nil {
		_ = p.cmd.Process.Kill()
	}
	<-p.done
}

// Exited reports whether the process has exited.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Terminate asks the process to exit (SIGTERM on Unix), waits up to grace
// for it to do so, then kills it as Stop does. It reports whether the
// process exited on its own within grace: false means it was killed (or
// could not be signalled and was killed at once). Without Unix signals it
// is Stop.
func (p *Process) Terminate(grace time.Duration) bool {
	select {
	case <-p.done:
		return true
	default:
	}
	if err := terminate(p.cmd.Process); err != nil {
		p.Stop()
		return false
	}
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.done:
		return true
	case <-t.C:
		p.Stop()
		return false
	}
}

// Log returns everything the process wrote so far.
func (p *Process) Log() ([]byte, error) {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return nil, fmt.Errorf("%s log: %w", p.name, err)
	}
	return b, nil
}

// exited reports the premature exit of p, quoting the end of its output.
func (p *Process) exited() error {
	err := p.err
	if err == nil {
		err = errors.New("exit status 0")
	}
	return &StartError{
		msg:    fmt.Sprintf("%s exited before it was ready", p.name),
		err:    err,
		output: p.output(),
	}
}

// output returns the last lines p wrote.
func (p *Process) output() string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", p.logPath, err)
	}
	return Tail(b)
}

// Tail returns the last lines of b, at most 25 lines and 8 KiB.
func Tail(b []byte) string {
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

// StartError is a process that failed to become ready, with the tail of
// its output so that the test failure explains itself.
type StartError struct {
	msg    string
	err    error
	output string
}

func (e *StartError) Error() string {
	if e.output == "" {
		return fmt.Sprintf("%s: %v (no output)", e.msg, e.err)
	}
	return fmt.Sprintf("%s: %v; last output:\n%s", e.msg, e.err, e.output)
}

func (e *StartError) Unwrap() error { return e.err }

// AddrInUse reports whether err is a process that could not bind a port:
// another process took it between FreePorts and the bind. Callers retry
// those with fresh ports.
func AddrInUse(err error) bool {
	var se *StartError
	return errors.As(err, &se) && strings.Contains(se.output, "address already in use")
}

// giveUp, returned by a probe, makes WaitReady stop waiting at once.
type giveUp struct{ err error }

func (e *giveUp) Error() string { return e.err.Error() }
func (e *giveUp) Unwrap() error { return e.err }

// GiveUp wraps err so that WaitReady stops waiting at once: the process
// will never become ready, though it may keep running.
func GiveUp(err error) error { return &giveUp{err: err} }

// WaitReady polls probe every interval until it succeeds or gives up, p
// exits, ctx is done or timeout elapses, whichever comes first.
func WaitReady(ctx context.Context, p *Process, interval, timeout time.Duration, what string, probe func(context.Context) error) error {
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
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		lastErr := probe(probeCtx)
		if lastErr == nil {
			return nil
		}
		if g := (*giveUp)(nil); errors.As(lastErr, &g) {
			return &StartError{msg: fmt.Sprintf("%s failed to start", p.name), err: g.err, output: p.output()}
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
			return &StartError{
				msg:    fmt.Sprintf("%s: %s not ready after %s", p.name, what, timeout),
				err:    lastErr,
				output: p.output(),
			}
		case <-ticker.C:
		}
	}
}

// Probe GETs url and succeeds on 200 OK with a body containing want.
func Probe(ctx context.Context, client *http.Client, url, want string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("probe %s: %w", url, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), want) {
		return fmt.Errorf("GET %s: %s: %s", url, resp.Status, strings.TrimSpace(string(body)))
	}
	return nil
}

// FreePorts returns n distinct free TCP ports on 127.0.0.1. They are free
// when returned, not reserved: see AddrInUse.
func FreePorts(ctx context.Context, n int) ([]int, error) {
	ports := make([]int, 0, n)
	var lc net.ListenConfig
	for range n {
		l, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("pick a free port: %w", err)
		}
		defer func() { _ = l.Close() }()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
