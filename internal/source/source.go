package source

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-git/go-billy/v5/osfs"
	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

// Defaults of Config and options.
const (
	DefaultBranch   = "main"
	DefaultInterval = 30 * time.Second
	// DefaultTimeout bounds one fetch.
	DefaultTimeout = 2 * time.Minute
	// DefaultMinBackoff is the wait after the first failed fetch; it
	// doubles with each further failure up to the interval.
	DefaultMinBackoff = time.Second
)

// Sentinel errors.
var (
	// ErrUnknownRevision: the commit is not in the clone.
	ErrUnknownRevision = errors.New("unknown revision")
	// ErrRefNotFound: the remote has no such branch or ref.
	ErrRefNotFound = errors.New("ref not found")
)

// Config says which repository and branch to follow.
type Config struct {
	// URL of the repository: https://, http://, ssh://, git@host:path or
	// file://. Credentials in an http(s) URL are moved to Auth.
	URL string
	// Branch to follow (default "main").
	Branch string
	// Dir is where the bare clone lives; created when missing.
	Dir string
	// Interval between polls (default 30s).
	Interval time.Duration
	// Auth are the credentials.
	Auth Auth
	// MaxObjectBytes bounds one object a fetch brings, inflated: a file,
	// or what a delta rebuilds (default DefaultMaxObjectBytes).
	MaxObjectBytes int64
}

// Auth are the credentials for the remote. They are values: the caller
// reads them from files or the environment. They never appear in logs,
// errors or Status.
type Auth struct {
	// Username and Password are HTTP basic auth. For a token, set
	// Password to the token; an empty Username then becomes
	// "x-access-token", which GitHub, GitLab and Gitea accept.
	Username string
	Password string
	// SSHKey is a PEM private key (OpenSSH or PKCS#1/#8) for ssh URLs,
	// decrypted with SSHKeyPassphrase when it is encrypted.
	SSHKey           []byte
	SSHKeyPassphrase string
	// KnownHosts is the known_hosts content the server's host key is
	// checked against; required with SSHKey.
	KnownHosts []byte
}

// Revision is a commit: the branch head, or the head of a fetched ref.
type Revision struct {
	// Hash is the full hex commit hash.
	Hash string
	// Subject is the first line of the message.
	Subject     string
	Author      string
	AuthorEmail string
	// Time is the committer time: when the commit was made, which for a
	// merged pull request is the merge.
	Time time.Time
}

// Status is what the poller knows about the remote.
type Status struct {
	// Last is the last revision fetched successfully; it stays when later
	// fetches fail.
	Last Revision
	// LastFetch is when the last successful fetch ended.
	LastFetch time.Time
	// LastAttempt is when the last fetch ended, successful or not.
	LastAttempt time.Time
	// LastError is the error of the last fetch, redacted, or "" when it
	// succeeded.
	LastError string
	// ConsecutiveFailures counts failed fetches since the last success.
	ConsecutiveFailures int
}

// Option tunes a Poller.
type Option func(*Poller)

// OnRevision calls fn when the branch head moves, including the first
// successful fetch, never when it stays. Calls are made one at a time, in
// order, from the goroutine that fetched, and the next poll waits for
// them: fn must not call Poll or FetchRef, and should hand long work to
// another goroutine (or read Updates instead).
func OnRevision(fn func(Revision)) Option {
	return func(p *Poller) { p.callbacks = append(p.callbacks, fn) }
}

// WithLogger logs fetch outcomes to l (default slog.Default()).
func WithLogger(l *slog.Logger) Option {
	return func(p *Poller) {
		if l != nil {
			p.log = l
		}
	}
}

// OnReclone calls fn each time the clone was found corrupt and is cloned
// again (e.g. to count it in a metric). It is called with the fetch lock
// held: fn must not call the Poller.
func OnReclone(fn func()) Option {
	return func(p *Poller) { p.onReclone = append(p.onReclone, fn) }
}

// WithTimeout bounds each fetch (default DefaultTimeout; d <= 0 keeps
// it).
func WithTimeout(d time.Duration) Option {
	return func(p *Poller) {
		if d > 0 {
			p.timeout = d
		}
	}
}

// WithCABundle trusts the PEM certificates of caBundle, besides the
// system's, for https URLs: for a Git server with a private CA.
func WithCABundle(caBundle []byte) Option {
	return func(p *Poller) { p.caBundle = caBundle }
}

// WithMinBackoff sets the wait after the first failed fetch (default
// DefaultMinBackoff; d <= 0 keeps it).
func WithMinBackoff(d time.Duration) Option {
	return func(p *Poller) {
		if d > 0 {
			p.minBackoff = d
		}
	}
}

// Poller keeps a bare clone of one branch up to date. Its methods are safe
// for concurrent use; one Poller at a time may use a Dir.
type Poller struct {
	cfg     Config
	remote  remote
	log     *slog.Logger
	timeout time.Duration
	// caBundle is trusted besides the system's CAs.
	caBundle []byte
	// maxPacks triggers compaction (defaultMaxPacks; tests lower it).
	maxPacks int

	callbacks  []func(Revision)
	updates    chan Revision
	trigger    chan struct{}
	started    atomic.Bool
	minBackoff time.Duration

	// fetchMu serializes fetches; repo is the clone they write to.
	fetchMu sync.Mutex
	repo    *git.Repository
	// fetchHead does one fetch of the branch; tests of the loop replace it.
	fetchHead func(ctx context.Context) (Revision, error)
	// recloneAt is when a corrupt clone may be cloned again, recloneGap
	// the wait after the last re-clone (repair.go); fetchMu guards both.
	recloneAt  time.Time
	recloneGap time.Duration
	onReclone  []func()
	// verified is the last head whose objects were all read; fetchMu.
	verified string
	// damaged is the first read that found the clone corrupt since it was
	// (re-)cloned, or nil.
	damaged atomic.Pointer[error]

	// readMu guards objects, a second view of the clone that FS and
	// Changed read from: go-git storages are not safe for concurrent use,
	// and a fetch must not block readers while it waits on the network.
	readMu  sync.Mutex
	objects *filesystem.Storage

	// notifyMu orders status updates and callbacks.
	notifyMu sync.Mutex

	mu     sync.Mutex
	status Status
}

// New checks cfg, opens the bare clone in cfg.Dir (creating it when
// missing) and returns a Poller. Nothing is fetched until Poll or Start.
func New(cfg Config, opts ...Option) (*Poller, error) {
	if cfg.Branch == "" {
		cfg.Branch = DefaultBranch
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.URL == "" {
		return nil, errors.New("git source: URL is required")
	}
	if cfg.Dir == "" {
		return nil, errors.New("git source: Dir is required")
	}
	branch := plumbing.NewBranchReferenceName(cfg.Branch)
	if err := branch.Validate(); err != nil {
		return nil, fmt.Errorf("git source: branch %q: %w", cfg.Branch, err)
	}
	p := &Poller{
		cfg:        cfg,
		log:        slog.Default(),
		timeout:    DefaultTimeout,
		minBackoff: DefaultMinBackoff,
		maxPacks:   defaultMaxPacks,
		updates:    make(chan Revision, 1),
		trigger:    make(chan struct{}, 1),
	}
	p.fetchHead = p.fetchBranch
	for _, o := range opts {
		o(p)
	}
	var err error
	if p.repo, err = openBare(cfg.Dir, branch); err != nil {
		return nil, fmt.Errorf("git source %s: %w", cfg.Dir, err)
	}
	removed, err := repair(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("git source %s: %w", cfg.Dir, err)
	}
	if len(removed) > 0 {
		p.log.Warn("git clone repaired after an interrupted fetch", "dir", cfg.Dir, "removed", removed)
	}
	if p.remote, err = newRemote(cfg.URL, cfg.Auth, cfg.Dir); err != nil {
		return nil, err
	}
	p.objects = newStorage(cfg.Dir)
	return p, nil
}

// openBare opens the bare repository in dir, or creates it when dir is
// missing or empty. HEAD names branch, so that git commands run in dir
// (git log, git show) show the followed branch.
func openBare(dir string, branch plumbing.ReferenceName) (*git.Repository, error) {
	repo, err := git.PlainOpen(dir)
	switch {
	case errors.Is(err, git.ErrRepositoryNotExists):
		entries, rerr := os.ReadDir(dir)
		if rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
			return nil, fmt.Errorf("read: %w", rerr)
		}
		if len(entries) > 0 {
			return nil, errors.New("not empty and not a git repository; refusing to create a clone in it")
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("create: %w", err)
		}
		repo, err = git.PlainInitWithOptions(dir, &git.PlainInitOptions{
			Bare:        true,
			InitOptions: git.InitOptions{DefaultBranch: branch},
		})
		if err != nil {
			return nil, fmt.Errorf("init bare clone: %w", err)
		}
	case err != nil:
		return nil, fmt.Errorf("open: %w", err)
	}
	cfg, err := repo.Config()
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	if !cfg.Core.IsBare {
		return nil, fmt.Errorf("is a repository with a work tree (%s); want a bare clone", filepath.Join(dir, ".git"))
	}
	if err := repo.Storer.SetReference(plumbing.NewSymbolicReference(plumbing.HEAD, branch)); err != nil {
		return nil, fmt.Errorf("set HEAD: %w", err)
	}
	// Opened again on a bounded storage: git.PlainOpen's holds up to 96
	// MiB of objects and reads any object whole.
	if repo, err = git.Open(newStorage(dir), nil); err != nil {
		return nil, fmt.Errorf("open: %w", err)
	}
	return repo, nil
}

// objectCacheBytes bounds the decoded objects each storage of the clone
// keeps (go-git's default: 96 MiB). A revision is read once, and the
// loader keeps what it evaluated, so the cache serves little more than
// the delta bases of one read: reading 1,000 tenants' files with 1 MiB
// instead of 96 costs 2 ms more, and holds 4 MiB less.
const objectCacheBytes = 1 * cache.MiByte

// largeObjectBytes: a larger object is streamed from its pack when read,
// never held whole in memory. Every file of a new revision is read
// through before it is handed out, a 100 MB file a tenant committed
// included (the loader then rejects it by its size, without reading it):
// read whole, it cost 600 MB of allocations and its size in heap.
const largeObjectBytes = 1 << 20

// newStorage opens the clone's objects and references in dir.
func newStorage(dir string) *filesystem.Storage {
	return filesystem.NewStorageWithOptions(osfs.New(dir), cache.NewObjectLRU(objectCacheBytes),
		filesystem.Options{LargeObjectThreshold: largeObjectBytes})
}

// URL is the repository URL without credentials.
func (p *Poller) URL() string { return p.remote.url }

// Branch is the branch followed.
func (p *Poller) Branch() string { return p.cfg.Branch }

// Status returns what the poller knows about the remote.
func (p *Poller) Status() Status {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.status
}

// Updates delivers the branch head each time it moves. The channel holds
// only the newest revision: a slow reader skips revisions it missed, never
// the latest one.
func (p *Poller) Updates() <-chan Revision { return p.updates }
