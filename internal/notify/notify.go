package notify

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Type is an event type; its CloudEvents type is "io.k3sync." + Type.
type Type string

// Event types (config.NotifyEvents).
const (
	// SyncFailed: a run failed (some change or target failed).
	SyncFailed Type = "sync.failed"
	// SyncBlocked: a guard or a sync window blocked the apply.
	SyncBlocked Type = "sync.blocked"
	// DriftDetected: drifted resources were found for the first time.
	DriftDetected Type = "drift.detected"
	// RevisionInvalid: a new revision does not validate.
	RevisionInvalid Type = "revision.invalid"
	// TenantRemoved: a tenant folder disappeared; its offboarding is planned.
	TenantRemoved Type = "tenant.removed"
	// Suppressed sums up what a sink's rate limit held back; it is the
	// sink's own and never routed.
	Suppressed Type = "notifications.suppressed"
)

// Types are the routable event types.
var Types = []Type{SyncFailed, SyncBlocked, DriftDetected, RevisionInvalid, TenantRemoved}

// Event is something to tell. Tenant, Owners, Message and Resources come
// from tenant folders: they are data, made inert by each sink's format.
type Event struct {
	Type Type
	// Tenant the event concerns ("" for none).
	Tenant string
	// Owners of the tenant, for routing.
	Owners   []string
	Revision string
	Trigger  string
	// Message: the error, the guard's reason, the first validation error.
	Message string
	// Count: failed changes, changes blocked, drifted resources first
	// seen, validation errors, changes planned for the removed tenant.
	Count int
	// Resources names some of the resources concerned (drift).
	Resources []string
	Time      time.Time
}

// key is what makes two events the same for dedupe.
func (e Event) key() string {
	return fmt.Sprintf("%s\x00%s\x00%s\x00%s", e.Type, e.Tenant, e.Revision, e.Message)
}

// Sink is one receiver, with its secrets resolved. Its LogValue shows
// only its name and kind.
type Sink struct {
	Name string
	// Kind is "webhook", "slack" or "teams".
	Kind string
	// URL is where to post; for Slack and Teams it is a credential.
	URL string
	// HMACKey signs webhook bodies.
	HMACKey []byte
	// RatePerMinute bounds the events sent per rate window.
	RatePerMinute int
	Timeout       time.Duration
	MaxAttempts   int
}

// LogValue never shows the URL nor the key.
func (s Sink) LogValue() slog.Value {
	return slog.GroupValue(slog.String("name", s.Name), slog.String("kind", s.Kind))
}

// String never shows the URL nor the key.
func (s Sink) String() string { return s.Kind + " sink " + s.Name }

// Route sends events of some types (nil or "*": all) to sinks, optionally
// only those of some tenants or owners.
type Route struct {
	Events  []Type
	Sinks   []string
	Tenants []string
	Owners  []string
}

// matches reports whether the route takes ev.
func (r Route) matches(ev Event) bool {
	if len(r.Events) > 0 && !slices.Contains(r.Events, ev.Type) && !slices.Contains(r.Events, "*") {
		return false
	}
	if len(r.Tenants) == 0 && len(r.Owners) == 0 {
		return true
	}
	if ev.Tenant == "" {
		return false
	}
	if slices.Contains(r.Tenants, ev.Tenant) {
		return true
	}
	return slices.ContainsFunc(ev.Owners, func(o string) bool { return slices.Contains(r.Owners, o) })
}

// Options tune a Notifier; zero values take the defaults.
type Options struct {
	// Instance: the CloudEvents source is "k3sync/<instance>".
	Instance     string
	DedupeWindow time.Duration // default 10m; negative: no dedupe
	QueueSize    int           // per sink, default 256
	Logger       *slog.Logger
	// Client posts (default: a client that follows no redirect).
	Client *http.Client
	// BackoffBase is the first retry's delay (default 1s), doubling up
	// to BackoffMax (default 1m); MaxRetryAfter caps a receiver's
	// Retry-After (default 5m).
	BackoffBase, BackoffMax, MaxRetryAfter time.Duration
	// RateWindow is the rate limit's window (default 1m).
	RateWindow time.Duration
	// NewID makes CloudEvents ids (default: random UUIDs).
	NewID func() string
}

// Stats counts what became of events.
type Stats struct {
	// Accepted by Notify (after dedupe), per sink queued.
	Queued    int64
	Deduped   int64
	Dropped   int64 // queue full
	Delivered int64
	Failed    int64 // given up after retries, or refused
	// Suppressed by a rate limit.
	Suppressed int64
}

// Notifier routes events to sinks. Its methods are safe for concurrent
// use; a nil *Notifier notifies no one.
type Notifier struct {
	opts    Options
	log     *slog.Logger
	routes  []Route
	workers map[string]*worker

	mu   sync.Mutex
	seen map[string]time.Time

	deduped atomic.Int64

	cancel context.CancelFunc
	wg     sync.WaitGroup
	closed atomic.Bool
}

// New starts one sender per sink; Close stops them.
func New(sinks []Sink, routes []Route, opts Options) (*Notifier, error) {
	if opts.Instance == "" {
		opts.Instance = "default"
	}
	if opts.DedupeWindow == 0 {
		opts.DedupeWindow = 10 * time.Minute
	}
	if opts.QueueSize <= 0 {
		opts.QueueSize = 256
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Client == nil {
		opts.Client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	if opts.BackoffBase <= 0 {
		opts.BackoffBase = time.Second
	}
	if opts.BackoffMax <= 0 {
		opts.BackoffMax = time.Minute
	}
	if opts.MaxRetryAfter <= 0 {
		opts.MaxRetryAfter = 5 * time.Minute
	}
	if opts.RateWindow <= 0 {
		opts.RateWindow = time.Minute
	}
	if opts.NewID == nil {
		opts.NewID = newUUID
	}
	n := &Notifier{opts: opts, log: opts.Logger, routes: routes, workers: map[string]*worker{}, seen: map[string]time.Time{}}
	for _, s := range sinks {
		if _, dup := n.workers[s.Name]; dup {
			return nil, fmt.Errorf("notifications: sink %q is defined twice", s.Name)
		}
		f, ok := formats[s.Kind]
		if !ok {
			return nil, fmt.Errorf("notifications: sink %s: kind %q is not webhook, slack or teams", s.Name, s.Kind)
		}
		if s.RatePerMinute <= 0 {
			s.RatePerMinute = 20
		}
		if s.Timeout <= 0 {
			s.Timeout = 10 * time.Second
		}
		if s.MaxAttempts <= 0 {
			s.MaxAttempts = 4
		}
		n.workers[s.Name] = &worker{n: n, sink: s, format: f, queue: make(chan Event, opts.QueueSize)}
	}
	for i, r := range routes {
		for _, name := range r.Sinks {
			if _, ok := n.workers[name]; !ok {
				return nil, fmt.Errorf("notifications: route %d: no sink %q", i, name)
			}
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	for _, w := range n.workers {
		n.wg.Add(1)
		go w.run(ctx)
	}
	return n, nil
}

// Notify routes ev to the sinks of every route that takes it, without
// blocking: an event identical to one accepted within the dedupe window
// is dropped, and so is an event whose sink's queue is full.
func (n *Notifier) Notify(ev Event) {
	if n == nil || n.closed.Load() {
		return
	}
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	var targets []*worker
	for _, r := range n.routes {
		if !r.matches(ev) {
			continue
		}
		for _, name := range r.Sinks {
			if w := n.workers[name]; !slices.Contains(targets, w) {
				targets = append(targets, w)
			}
		}
	}
	if len(targets) == 0 {
		return
	}
	if !n.firstWithinWindow(ev) {
		n.deduped.Add(1)
		n.log.Debug("notification deduplicated", "event", ev.Type)
		return
	}
	for _, w := range targets {
		select {
		case w.queue <- ev:
			w.stats.queued.Add(1)
		default:
			d := w.stats.dropped.Add(1)
			// At most one line per sink every 10s, with the running count:
			// a flood of drops is not a flood of log lines.
			now, last := time.Now().UnixNano(), w.droppedLogged.Load()
			if now-last >= int64(10*time.Second) && w.droppedLogged.CompareAndSwap(last, now) {
				n.log.Warn("notification queue full, event dropped", "sink", w.sink.Name, "event", ev.Type, "dropped", d)
			}
		}
	}
}

// firstWithinWindow records ev and reports whether no identical event
// was accepted within the dedupe window.
func (n *Notifier) firstWithinWindow(ev Event) bool {
	if n.opts.DedupeWindow < 0 {
		return true
	}
	now := time.Now()
	k := ev.key()
	n.mu.Lock()
	defer n.mu.Unlock()
	if at, ok := n.seen[k]; ok && now.Sub(at) < n.opts.DedupeWindow {
		return false
	}
	if len(n.seen) >= 1024 {
		for k, at := range n.seen {
			if now.Sub(at) >= n.opts.DedupeWindow {
				delete(n.seen, k)
			}
		}
	}
	n.seen[k] = now
	return true
}

// Stats returns the counts so far.
func (n *Notifier) Stats() Stats {
	if n == nil {
		return Stats{}
	}
	st := Stats{Deduped: n.deduped.Load()}
	for _, w := range n.workers {
		st.Queued += w.stats.queued.Load()
		st.Dropped += w.stats.dropped.Load()
		st.Delivered += w.stats.delivered.Load()
		st.Failed += w.stats.failed.Load()
		st.Suppressed += w.stats.suppressed.Load()
	}
	return st
}

// Close stops the senders: what is still queued or being retried is not
// sent (it is logged as a count).
func (n *Notifier) Close() {
	if n == nil || !n.closed.CompareAndSwap(false, true) {
		return
	}
	n.cancel()
	n.wg.Wait()
}
