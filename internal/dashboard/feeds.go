package dashboard

import (
	"context"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Stream limits (WithStreamLimits overrides the first two,
// WithStreamRetryAfter the third).
const (
	// defaultMaxStreams bounds the open event streams of a dashboard.
	defaultMaxStreams = 256
	// defaultMaxSessionStreams bounds one session's: a tab is a stream.
	defaultMaxSessionStreams = 16
	// streamRetryAfter is what a refused stream is told to wait, seconds:
	// the 429's Retry-After and the page's data-retry.
	streamRetryAfter = 30
)

// WithStreamLimits bounds the open event streams: per session and in
// total (defaults 16 and 256). A stream beyond either is answered 429 with
// Retry-After; the page's script refreshes its live region once and tries
// again after the retry delay (WithStreamRetryAfter), doubling it on each
// further refusal up to 5 minutes. Values below 1 keep the default.
func WithStreamLimits(perSession, total int) Option {
	return func(h *handler) {
		if perSession > 0 {
			h.feeds.maxSession = perSession
		}
		if total > 0 {
			h.feeds.maxTotal = total
		}
	}
}

// WithStreamRetryAfter sets how long a refused event stream is told to
// wait before it tries again (default 30s), rounded up to whole seconds:
// the 429's Retry-After and the page's data-retry, where the script starts
// its back-off. Values below 1 keep the default.
func WithStreamRetryAfter(d time.Duration) Option {
	return func(h *handler) {
		if d > 0 {
			h.feeds.retryAfter = int(math.Ceil(d.Seconds()))
		}
	}
}

// feedKey names what a feed loads: the page, its live path (the path
// values and query parameters its load reads) and the role of the
// sessions that watch it. Pages load the same data for every role today;
// the role keeps a snapshot from ever passing between sessions allowed to
// see different data should that change.
type feedKey struct {
	page, path, role string
}

// feed is one page's snapshot, shared by every stream that watches the
// page: one loader asks the backend every poll interval, however many
// streams watch, and stops when the last one goes.
type feed struct {
	watchers int
	// version is the snapshot's version; "" until a load succeeds.
	version string
	// ready is closed, and replaced, after each load.
	ready  chan struct{}
	cancel context.CancelFunc
}

// feeds holds the feeds and counts the streams.
type feeds struct {
	maxSession, maxTotal int
	// retryAfter is what a refused stream is told to wait, seconds.
	retryAfter int

	mu        sync.Mutex
	by        map[feedKey]*feed
	bySession map[string]int // session ID → open streams
	total     int
}

// watch joins the stream of request r, from session s, to its page's
// feed, starting the feed's loader if it is the first watcher. ok is
// false when a limit is reached; otherwise release must be called when
// the stream ends.
func (h *handler) watch(p pageKind, r *http.Request, s *session) (f *feed, release func(), ok bool) {
	fs := &h.feeds
	key := feedKey{page: p.name, path: p.livePath(r), role: s.Role}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.total >= fs.maxTotal || fs.bySession[s.ID] >= fs.maxSession {
		return nil, nil, false
	}
	if fs.by == nil {
		fs.by, fs.bySession = map[feedKey]*feed{}, map[string]int{}
	}
	fs.total++
	fs.bySession[s.ID]++
	f = fs.by[key]
	if f == nil {
		// The loader outlives the request that started it, not the feed.
		ctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
		f = &feed{ready: make(chan struct{}), cancel: cancel}
		fs.by[key] = f
		go h.runFeed(ctx, f, p, r.Clone(ctx))
	}
	f.watchers++
	var once sync.Once
	return f, func() {
		once.Do(func() {
			fs.mu.Lock()
			defer fs.mu.Unlock()
			fs.total--
			if fs.bySession[s.ID]--; fs.bySession[s.ID] <= 0 {
				delete(fs.bySession, s.ID)
			}
			if f.watchers--; f.watchers == 0 {
				delete(fs.by, key)
				f.cancel()
			}
		})
	}, true
}

// runFeed loads the feed's page every poll interval until the feed ends.
func (h *handler) runFeed(ctx context.Context, f *feed, p pageKind, r *http.Request) {
	tick := time.NewTicker(h.poll)
	defer tick.Stop()
	for {
		l, err := p.load(h, r)
		v := ""
		if err != nil {
			h.log.DebugContext(ctx, "dashboard event stream: load", "path", r.URL.Path, "error", err)
		} else {
			v = h.version(l.Version)
		}
		h.feeds.mu.Lock()
		if v != "" {
			f.version = v
		}
		close(f.ready)
		f.ready = make(chan struct{})
		h.feeds.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// current is the feed's version ("" before its first load) and a channel
// closed after its next load.
func (h *handler) current(f *feed) (string, <-chan struct{}) {
	h.feeds.mu.Lock()
	defer h.feeds.mu.Unlock()
	return f.version, f.ready
}

// tooManyStreams refuses a stream over a limit.
func (h *handler) tooManyStreams(w http.ResponseWriter) {
	w.Header().Set("Retry-After", strconv.Itoa(h.feeds.retryAfter))
	http.Error(w, "too many live update streams: try again later", http.StatusTooManyRequests)
}
