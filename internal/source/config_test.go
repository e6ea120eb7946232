package source

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/k3sync/k3sync/internal/testenv/gitserver"
)

// TestNewRejectsBadConfig: mistakes in the configuration are reported by
// New, naming the problem and never a secret.
func TestNewRejectsBadConfig(t *testing.T) {
	key, _ := gitserver.NewClientKey(t, "")
	known := []byte("example.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n")
	const secret = "s3cr3t-value"
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{name: "no URL", cfg: Config{}, wantErr: "URL is required"},
		{name: "no scheme", cfg: Config{URL: "github.com/acme/platform"}, wantErr: "want https://"},
		{name: "local path", cfg: Config{URL: "/srv/git/platform.git"}, wantErr: "want https://"},
		{name: "unsupported scheme", cfg: Config{URL: "ftp://example.com/platform.git"}, wantErr: "scheme ftp not supported"},
		{name: "bad branch", cfg: Config{URL: "https://example.com/p.git", Branch: "a..b"}, wantErr: `branch "a..b"`},
		{
			name:    "credentials twice",
			cfg:     Config{URL: "https://bot:" + secret + "@example.com/p.git", Auth: Auth{Password: secret}},
			wantErr: "both in the URL and in Auth",
		},
		{
			name:    "SSH key for https",
			cfg:     Config{URL: "https://example.com/p.git", Auth: Auth{SSHKey: key, KnownHosts: known}},
			wantErr: "SSH key or known hosts set for an https URL",
		},
		{name: "SSH without key", cfg: Config{URL: "ssh://git@example.com/p.git", Auth: Auth{KnownHosts: known}}, wantErr: "without Auth.SSHKey"},
		{name: "SSH without known hosts", cfg: Config{URL: "git@example.com:acme/p.git", Auth: Auth{SSHKey: key}}, wantErr: "without Auth.KnownHosts"},
		{
			name:    "SSH with password",
			cfg:     Config{URL: "ssh://git@example.com/p.git", Auth: Auth{Password: secret, SSHKey: key, KnownHosts: known}},
			wantErr: "SSH uses Auth.SSHKey",
		},
		{
			name:    "SSH password in URL",
			cfg:     Config{URL: "ssh://git:" + secret + "@example.com/p.git", Auth: Auth{SSHKey: key, KnownHosts: known}},
			wantErr: "password in an SSH URL",
		},
		{
			name:    "bad SSH key",
			cfg:     Config{URL: "ssh://git@example.com/p.git", Auth: Auth{SSHKey: []byte("not a key"), SSHKeyPassphrase: secret, KnownHosts: known}},
			wantErr: "SSH key",
		},
		{
			name:    "bad known hosts",
			cfg:     Config{URL: "ssh://git@example.com/p.git", Auth: Auth{SSHKey: key, KnownHosts: []byte("example.com ssh-ed25519 not-base64!\n")}},
			wantErr: "known hosts",
		},
		{name: "credentials for file", cfg: Config{URL: "file:///srv/p.git", Auth: Auth{Password: secret}}, wantErr: "credentials set for a file:// URL"},
		{name: "no Dir", cfg: Config{URL: "https://example.com/p.git"}, wantErr: "Dir is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.cfg.Dir == "" && tt.name != "no Dir" {
				tt.cfg.Dir = t.TempDir()
			}
			_, err := New(tt.cfg, quiet)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("New: %v, want an error with %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error contains the secret: %v", err)
			}
		})
	}
}

// TestNewDir: New creates the bare clone in a missing or empty folder,
// reopens its own, and refuses folders holding something else.
func TestNewDir(t *testing.T) {
	const url = "https://example.com/platform.git"
	t.Run("missing", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "a", "b")
		if _, err := New(Config{URL: url, Dir: dir}, quiet); err != nil {
			t.Fatal(err)
		}
		if got := gitIn(t, dir, "rev-parse", "--is-bare-repository"); got != "true" {
			t.Errorf("bare: %s", got)
		}
		if got := gitIn(t, dir, "symbolic-ref", "HEAD"); got != "refs/heads/main" {
			t.Errorf("HEAD: %s", got)
		}
		// Reopened with another branch: HEAD follows.
		if _, err := New(Config{URL: url, Dir: dir, Branch: "release"}, quiet); err != nil {
			t.Fatal(err)
		}
		if got := gitIn(t, dir, "symbolic-ref", "HEAD"); got != "refs/heads/release" {
			t.Errorf("HEAD after reopening: %s", got)
		}
	})
	t.Run("empty", func(t *testing.T) {
		if _, err := New(Config{URL: url, Dir: t.TempDir()}, quiet); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("other files", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "notes.txt"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := New(Config{URL: url, Dir: dir}, quiet)
		if err == nil || !strings.Contains(err.Error(), "not a git repository") {
			t.Fatalf("New: %v, want a refusal", err)
		}
	})
	t.Run("work tree", func(t *testing.T) {
		up, _ := upstream(t)
		_, err := New(Config{URL: url, Dir: up.Work}, quiet)
		if err == nil || !strings.Contains(err.Error(), "want a bare clone") {
			t.Fatalf("New: %v, want a refusal", err)
		}
	})
}

// TestNewDefaults: the defaults of Config.
func TestNewDefaults(t *testing.T) {
	p, err := New(Config{URL: "https://example.com/platform.git", Dir: t.TempDir()}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	got := struct {
		Branch   string
		Interval time.Duration
		Timeout  time.Duration
		Backoff  time.Duration
	}{p.cfg.Branch, p.cfg.Interval, p.timeout, p.minBackoff}
	want := got
	want.Branch, want.Interval, want.Timeout, want.Backoff = "main", 30*time.Second, 2*time.Minute, time.Second
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}
}

// TestURLForms: the URL forms accepted, and what is shown of them.
func TestURLForms(t *testing.T) {
	key, _ := gitserver.NewClientKey(t, "")
	known := []byte("github.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n")
	sshAuth := Auth{SSHKey: key, KnownHosts: known}
	tests := []struct {
		url  string
		auth Auth
		want string
	}{
		{url: "https://github.com/acme/platform.git", want: "https://github.com/acme/platform.git"},
		{url: "https://bot:tok@github.com/acme/platform.git", want: "https://github.com/acme/platform.git"},
		{url: "https://tok@github.com:8443/acme/platform.git", want: "https://github.com:8443/acme/platform.git"},
		{url: "http://git.internal/platform.git", want: "http://git.internal/platform.git"},
		{url: "ssh://git@github.com/acme/platform.git", auth: sshAuth, want: "ssh://git@github.com/acme/platform.git"},
		{url: "ssh://git@github.com:2222/acme/platform.git", auth: sshAuth, want: "ssh://git@github.com:2222/acme/platform.git"},
		{url: "git@github.com:acme/platform.git", auth: sshAuth, want: "ssh://git@github.com/acme/platform.git"},
		{url: "file:///srv/git/platform.git", want: "file:///srv/git/platform.git"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			dir := t.TempDir()
			p, err := New(Config{URL: tt.url, Dir: dir, Auth: tt.auth}, quiet)
			if err != nil {
				t.Fatal(err)
			}
			if got := p.URL(); got != tt.want {
				t.Errorf("URL() = %q, want %q", got, tt.want)
			}
			// The known hosts went through a file in the clone's folder.
			if left, _ := filepath.Glob(filepath.Join(dir, "k3sync-known-hosts-*")); len(left) > 0 {
				t.Errorf("files left behind: %v", left)
			}
		})
	}
}

// TestRedact: what error messages lose.
func TestRedact(t *testing.T) {
	r := remote{secrets: secretsOf("p@ss/word", "tok-123456")}
	tests := []struct{ in, want string }{
		{in: `Get "https://bot:p%40ss%2Fword@host/x": EOF`, want: `Get "https://host/x": EOF`},
		{in: "https://tok-123456@host/x and http://a:b@other/", want: "https://host/x and http://other/"},
		{in: "password p@ss/word rejected", want: "password [REDACTED] rejected"},
		{in: "escaped p%40ss%2Fword", want: "escaped [REDACTED]"},
		{in: "token tok-123456.", want: "token [REDACTED]."},
		{in: "nothing secret here: git@github.com:acme/p.git", want: "nothing secret here: git@github.com:acme/p.git"},
	}
	for _, tt := range tests {
		if got := r.redact(tt.in); got != tt.want {
			t.Errorf("redact(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	inner := errors.New("unauthorized for https://bot:tok-123456@host/x")
	err := r.redactErr(inner)
	if err.Error() != "unauthorized for https://host/x" || !errors.Is(err, inner) {
		t.Errorf("redactErr: %q, unwraps to the original: %v", err, errors.Is(err, inner))
	}
}

// TestNewRepairsInterruptedFetch: a clone left by a process killed in the
// middle of a fetch (a ref file truncated, a pack half received) works
// again once reopened.
func TestNewRepairsInterruptedFetch(t *testing.T) {
	up, _ := upstream(t)
	up.CopyDir(exampleRepo)
	up.Commit("Add the platform repo")
	dir := filepath.Join(t.TempDir(), "clone")
	p, err := New(Config{URL: up.FileURL(), Dir: dir}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Poll(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := p.FetchRef(t.Context(), "refs/heads/main"); err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{
		"refs/heads/main":         "",
		"refs/k3sync/heads/main":  "0123456789abc",
		"objects/pack/tmp_pack_1": "PACK",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	up.WriteFile("tenants/search/notes.md", "x\n")
	h := up.Commit("Notes")

	p, err = New(Config{URL: up.FileURL(), Dir: dir}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	if rev, err := p.Poll(t.Context()); err != nil || rev.Hash != h {
		t.Fatalf("poll after repair: %s, %v; want %s", rev.Hash, err, h)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "objects/pack/tmp_*")); len(left) > 0 {
		t.Errorf("temporary packs left: %v", left)
	}
	gitIn(t, dir, "fsck", "--no-progress")
}
