package dashboard_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/k3sync/k3sync/internal/dashboard"
	"github.com/k3sync/k3sync/internal/view"
)

// countingBackend counts the backend reads the pages make.
type countingBackend struct {
	*fakeBackend
	overviews, tenants atomic.Int64
}

func (c *countingBackend) Overview(ctx context.Context) (view.Overview, error) {
	c.overviews.Add(1)
	return c.fakeBackend.Overview(ctx)
}

func (c *countingBackend) Tenant(ctx context.Context, name string) (view.Tenant, error) {
	c.tenants.Add(1)
	return c.fakeBackend.Tenant(ctx, name)
}

func newCountingEnv(t *testing.T, opts ...dashboard.Option) (*env, *countingBackend) {
	t.Helper()
	e := &env{t: t, fb: newFakeBackend(), clock: &clock{now: t0}}
	cb := &countingBackend{fakeBackend: e.fb}
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	e.h = dashboard.New(cb, testTokens, append([]dashboard.Option{dashboard.WithClock(e.clock.Now), dashboard.WithLogger(log)}, opts...)...)
	return e, cb
}

// sseRecorder is a ResponseWriter a stream can flush to while the test
// reads it.
type sseRecorder struct {
	mu   sync.Mutex
	hdr  http.Header
	code int
	buf  bytes.Buffer
}

func (w *sseRecorder) Header() http.Header { return w.hdr }

func (w *sseRecorder) WriteHeader(code int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.code == 0 {
		w.code = code
	}
}

func (w *sseRecorder) Write(b []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(b) //nolint:wrapcheck // a buffer
}

func (w *sseRecorder) Flush() {}

func (w *sseRecorder) status() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.code
}

// versions counts the version events sent so far.
func (w *sseRecorder) versions() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.Count(w.buf.String(), "event: version\n")
}

// openTab opens an event stream as a browser tab would; close ends it
// (the tab goes) and waits for the handler to return.
func openTab(t *testing.T, e *env, c *http.Cookie, path string) (w *sseRecorder, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	r := httptest.NewRequestWithContext(ctx, http.MethodGet, path, nil)
	r.AddCookie(c)
	w = &sseRecorder{hdr: http.Header{}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.h.ServeHTTP(w, r)
	}()
	return w, func() { cancel(); <-done }
}

// TestEventStreamsShareOneLoad: twenty tabs on the overview cost the
// backend one load per poll interval, not twenty, all of them still see
// each change, and once they close the loads stop.
func TestEventStreamsShareOneLoad(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const poll, tabs, intervals = time.Second, 20, 10
		e, cb := newCountingEnv(t, dashboard.WithPollInterval(poll))
		var closers []func()
		var ws []*sseRecorder
		for range tabs {
			// Two sessions of the same role: they share the snapshot.
			c, _ := e.login(viewerToken)
			w, stop := openTab(t, e, c, "/events/overview")
			ws, closers = append(ws, w), append(closers, stop)
		}
		synctest.Wait()
		for i, w := range ws {
			if w.status() != http.StatusOK || w.versions() != 1 {
				t.Fatalf("tab %d: status %d, %d version events, want 200 and 1", i, w.status(), w.versions())
			}
		}
		before := cb.overviews.Load()
		time.Sleep(intervals * poll)
		synctest.Wait()
		loads := cb.overviews.Load() - before
		t.Logf("%d tabs, %d intervals: %d overview loads", tabs, intervals, loads)
		if loads < intervals || loads > intervals+1 {
			t.Errorf("%d tabs over %d intervals loaded the overview %d times, want %d (one per interval; %d without sharing)", tabs, intervals, loads, intervals, tabs*intervals)
		}

		// A change reaches every tab once.
		e.fb.update(func(f *fakeBackend) { f.overview.Counts[view.Drifted]++ })
		time.Sleep(poll)
		synctest.Wait()
		for i, w := range ws {
			if w.versions() != 2 {
				t.Errorf("tab %d: %d version events after a change, want 2", i, w.versions())
			}
		}

		// The tabs go: nobody watches, nothing loads.
		for _, stop := range closers {
			stop()
		}
		synctest.Wait()
		before = cb.overviews.Load()
		time.Sleep(intervals * poll)
		synctest.Wait()
		if n := cb.overviews.Load() - before; n != 0 {
			t.Errorf("%d overview loads after every tab closed, want 0", n)
		}
	})
}

// TestEventStreamsPerPage: each page, and each tenant, has its own
// snapshot; two pages watched cost two loads per interval.
func TestEventStreamsPerPage(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const poll, intervals = time.Second, 5
		e, cb := newCountingEnv(t, dashboard.WithPollInterval(poll))
		c, _ := e.login(operatorToken)
		var closers []func()
		for range 3 {
			_, stop := openTab(t, e, c, "/events/tenants/checkout")
			closers = append(closers, stop)
			_, stop = openTab(t, e, c, "/events/tenants/payments")
			closers = append(closers, stop)
		}
		synctest.Wait()
		before := cb.tenants.Load()
		time.Sleep(intervals * poll)
		synctest.Wait()
		if n := cb.tenants.Load() - before; n < 2*intervals || n > 2*intervals+2 {
			t.Errorf("two tenant pages, three tabs each, %d intervals: %d tenant loads, want %d", intervals, n, 2*intervals)
		}
		for _, stop := range closers {
			stop()
		}
	})
}

// TestEventStreamsCapped: streams beyond the per-session or the total
// limit are refused with 429 and Retry-After, and a closed stream frees
// its place.
func TestEventStreamsCapped(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e, _ := newCountingEnv(t, dashboard.WithPollInterval(time.Second), dashboard.WithStreamLimits(2, 3))
		a, _ := e.login(viewerToken)
		b, _ := e.login(operatorToken)
		open := func(c *http.Cookie, path string) (*sseRecorder, func()) {
			w, stop := openTab(t, e, c, path)
			synctest.Wait()
			return w, stop
		}
		refused := func(what string, w *sseRecorder) {
			t.Helper()
			if w.status() != http.StatusTooManyRequests || w.Header().Get("Retry-After") == "" {
				t.Errorf("%s: %d, Retry-After %q; want 429 with Retry-After", what, w.status(), w.Header().Get("Retry-After"))
			}
		}
		a1, stopA1 := open(a, "/events/overview")
		_, stopA2 := open(a, "/events/drift")
		a3, stopA3 := open(a, "/events/overview")
		refused("a third stream of one session", a3)
		stopA3()
		b1, stopB1 := open(b, "/events/overview")
		b2, stopB2 := open(b, "/events/overview")
		refused("a fourth stream in all", b2)
		stopB2()
		for what, w := range map[string]*sseRecorder{"first": a1, "other session's": b1} {
			if w.status() != http.StatusOK || w.versions() != 1 {
				t.Errorf("%s stream: %d, %d versions", what, w.status(), w.versions())
			}
		}
		stopA1()
		b3, stopB3 := open(b, "/events/overview")
		if b3.status() != http.StatusOK || b3.versions() != 1 {
			t.Errorf("a stream after one closed: %d, %d versions; want 200 and a version", b3.status(), b3.versions())
		}
		stopA2()
		stopB1()
		stopB3()
	})
}

// TestStreamRetryAfter: a refused stream's Retry-After and the page's
// data-retry, where its script starts waiting, say the same delay: 30s
// by default, WithStreamRetryAfter's rounded up to whole seconds.
func TestStreamRetryAfter(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []dashboard.Option
		want string
	}{
		{"default", nil, "30"},
		{"1s", []dashboard.Option{dashboard.WithStreamRetryAfter(time.Second)}, "1"},
		{"rounded up", []dashboard.Option{dashboard.WithStreamRetryAfter(1500 * time.Millisecond)}, "2"},
		{"zero keeps the default", []dashboard.Option{dashboard.WithStreamRetryAfter(0)}, "30"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := newEnv(t, append([]dashboard.Option{dashboard.WithStreamLimits(1, 0)}, tc.opts...)...)
				c, _ := e.login(viewerToken)
				page := e.do(req{path: "/", cookie: c}).Body.String()
				if want := `data-retry="` + tc.want + `"`; !strings.Contains(page, want) {
					t.Errorf("the overview does not carry %s", want)
				}
				_, stop := openTab(t, e, c, "/events/overview")
				synctest.Wait()
				w, stop2 := openTab(t, e, c, "/events/overview")
				synctest.Wait()
				if w.status() != http.StatusTooManyRequests || w.Header().Get("Retry-After") != tc.want {
					t.Errorf("a second stream: %d, Retry-After %q; want 429 with Retry-After %s", w.status(), w.Header().Get("Retry-After"), tc.want)
				}
				stop2()
				stop()
			})
		})
	}
}
