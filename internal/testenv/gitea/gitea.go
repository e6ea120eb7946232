package gitea

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/k3sync/k3sync/internal/testenv/proc"
)

const (
	// defaultStartTimeout bounds the readiness wait when
	// Options.StartTimeout is zero. Gitea is normally ready in under 2 s;
	// the margin is for loaded CI machines.
	defaultStartTimeout = 60 * time.Second

	// portAttempts is how often gitea is started with a fresh port when
	// the one picked was taken in the meantime.
	portAttempts = 3

	// AdminUser is the login of the site administrator every server has.
	// ("admin" itself is a name Gitea reserves.)
	AdminUser = "k3sync-admin"

	// adminEmail is AdminUser's address; nothing is ever mailed.
	adminEmail = "k3sync-admin@example.com"

	// tokenLine prefixes the access token in the output of
	// `gitea admin user create --access-token`.
	tokenLine = "Access token was successfully created... "

	// listenFailure starts the line gitea logs when it cannot bind its
	// port, e.g. "Failed to start server: listen tcp 127.0.0.1:3000: bind:
	// address already in use".
	listenFailure = "Failed to start server: "
)

// Options configures Start. The zero value is a server with the default
// settings, the binary found as described in the package documentation.
type Options struct {
	// BinDir is the directory holding gitea and its templates/, options/
	// and public/. Empty means $GITEA_BIN_DIR, then
	// <repo root>/bin/gitea-<Version>.
	BinDir string

	// StartTimeout bounds the wait for gitea to become ready. Zero means
	// 60 s.
	StartTimeout time.Duration

	// Output, if not nil, also receives gitea's log (it is always written
	// to <Dir>/gitea.log). It is no longer written to once Stop has
	// returned.
	Output io.Writer

	// Settings are app.ini keys by section ("" for the keys before the
	// first section), set over the defaults, e.g.
	// {"webhook": {"DELIVER_TIMEOUT": "2"}}. Paths and ports are the
	// harness's business: changing them breaks the server.
	Settings map[string]map[string]string
}

// Server is one running Gitea. Its methods are safe for concurrent use.
type Server struct {
	// URL is the base address, http://127.0.0.1:<port>, without a
	// trailing slash. The REST API is under URL + "/api/v1".
	URL string
	// Dir is the server's temporary directory: app.ini, the SQLite
	// database and repositories under data/, gitea.log. Stop removes it.
	Dir string
	// AdminUser is the site administrator's login (the constant
	// AdminUser), AdminPassword its password.
	AdminUser, AdminPassword string
	// AdminToken is an access token of AdminUser with all scopes. The
	// helper methods authenticate with it.
	AdminToken string

	bin    string
	client *http.Client

	mu       sync.Mutex
	proc     *proc.Process
	stopOnce sync.Once
	stopErr  error
}

// Start starts a Gitea, waits until it serves, and creates the site
// administrator and its token. ctx bounds the start-up only; the server
// runs until Stop. On error nothing is left running and the directory is
// removed.
func Start(ctx context.Context, opts Options) (_ *Server, err error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("start gitea: %w", err)
	}
	bin, staticRoot, err := findBinary(opts.BinDir)
	if err != nil {
		return nil, err
	}
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = defaultStartTimeout
	}
	tmp, err := os.MkdirTemp("", "k3sync-gitea-")
	if err != nil {
		return nil, fmt.Errorf("gitea directory: %w", err)
	}
	// Gitea compares paths it derives with the ones in app.ini: give it
	// symlink-free ones (macOS's temporary directory is a symlink).
	dir, err := filepath.EvalSymlinks(tmp)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("gitea directory: %w", err), os.RemoveAll(tmp))
	}
	s := &Server{
		Dir:           dir,
		AdminUser:     AdminUser,
		AdminPassword: fmt.Sprintf("k3s-%x", randomBytes(12)),
		bin:           bin,
		client:        &http.Client{Timeout: time.Minute, Transport: &http.Transport{}},
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, s.Stop())
		}
	}()

	sec := newSecrets()
	for range portAttempts {
		var ports []int
		if ports, err = proc.FreePorts(ctx, 1); err != nil {
			return nil, err //nolint:wrapcheck // proc's error says what failed
		}
		if err = s.tryStart(ctx, staticRoot, ports[0], sec, opts); err == nil || !proc.AddrInUse(err) {
			break
		}
		s.proc.Stop()
	}
	if err != nil {
		return nil, fmt.Errorf("start gitea: %w", err)
	}
	if s.AdminToken, err = s.createAdmin(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// tryStart writes app.ini for port and runs `gitea web` until it reports
// healthy.
func (s *Server) tryStart(ctx context.Context, staticRoot string, port int, sec secrets, opts Options) error {
	cfg := defaultSettings(s.Dir, staticRoot, port, sec)
	cfg.merge(opts.Settings)
	if err := os.WriteFile(s.ConfigPath(), cfg.render(), 0o600); err != nil {
		return fmt.Errorf("write app.ini: %w", err)
	}
	p, err := startProcess(ctx, "gitea", s.bin, s.Dir, []string{"web", "--config", s.ConfigPath()}, opts.Output)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.proc = p
	s.mu.Unlock()
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	probeClient := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{}}
	defer probeClient.CloseIdleConnections()
	err = proc.WaitReady(ctx, p, pollInterval, opts.StartTimeout, url+"/api/healthz", func(ctx context.Context) error {
		err := proc.Probe(ctx, probeClient, url+"/api/healthz", `"pass"`)
		if err != nil && listenFailed(p) {
			return proc.GiveUp(errors.New("cannot listen"))
		}
		return err
	})
	if err != nil {
		return err
	}
	s.URL = url
	return nil
}

// listenFailed reports whether gitea logged that it cannot listen. It
// then waits forever for a shutdown instead of exiting.
func listenFailed(p *proc.Process) bool {
	b, err := p.Log()
	return err == nil && bytes.Contains(b, []byte(listenFailure))
}

// createAdmin creates AdminUser with the gitea CLI, which writes to the
// database directly (the API cannot create the first administrator), and
// returns the access token the CLI created along with it.
func (s *Server) createAdmin(ctx context.Context) (string, error) {
	out, err := s.Command(ctx, "admin", "user", "create",
		"--admin",
		"--username", s.AdminUser,
		"--password", s.AdminPassword,
		"--email", adminEmail,
		"--must-change-password=false",
		"--access-token",
		"--access-token-name", "k3sync-test",
		"--access-token-scopes", "all",
	)
	if err != nil {
		return "", fmt.Errorf("gitea admin user %s: %w", s.AdminUser, err)
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if token, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), tokenLine); ok && token != "" {
			return strings.TrimSpace(token), nil
		}
	}
	return "", fmt.Errorf("gitea admin user %s: no access token in the output:\n%s", s.AdminUser, proc.Tail(out))
}

// Command runs the gitea CLI against this server's app.ini, e.g.
// Command(ctx, "admin", "user", "list"), and returns its combined output.
// The CLI works on the database and repositories directly, next to the
// running server.
func (s *Server) Command(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, s.bin, append(args, "--config", s.ConfigPath())...)
	cmd.Dir = s.Dir
	cmd.Env = processEnv()
	cmd.WaitDelay = 2 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("gitea %s: %w; output:\n%s", strings.Join(args, " "), err, proc.Tail(out))
	}
	return out, nil
}

// ConfigPath returns the path of the server's app.ini, in Dir.
func (s *Server) ConfigPath() string {
	return filepath.Join(s.Dir, "app.ini")
}

// LogPath returns the path of the file gitea logs to, in Dir.
func (s *Server) LogPath() string {
	return filepath.Join(s.Dir, "gitea.log")
}

// Stop kills gitea and its process group, waits for it to exit and removes
// Dir. It may be called more than once; later calls return the first
// result.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() {
		s.mu.Lock()
		p := s.proc
		s.mu.Unlock()
		if p != nil {
			p.Stop()
		}
		s.client.CloseIdleConnections()
		if err := os.RemoveAll(s.Dir); err != nil {
			s.stopErr = fmt.Errorf("remove gitea directory: %w", err)
		}
	})
	return s.stopErr
}
