package dashboard_test

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/k3sync/k3sync/internal/dashboard"
	"github.com/k3sync/k3sync/internal/view"
)

// refusals records when the dashboard refused an event stream (429).
type refusals struct {
	next http.Handler
	mu   sync.Mutex
	at   []time.Time
	more chan struct{} // a token per refusal
}

func (rf *refusals) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	sw := &statusWriter{ResponseWriter: w}
	rf.next.ServeHTTP(sw, r)
	if sw.code == http.StatusTooManyRequests && strings.HasPrefix(r.URL.Path, "/events/") {
		rf.mu.Lock()
		rf.at = append(rf.at, time.Now())
		rf.mu.Unlock()
		select {
		case rf.more <- struct{}{}:
		default:
		}
	}
}

// since returns the refusals from the n-th on.
func (rf *refusals) since(n int) []time.Time {
	rf.mu.Lock()
	defer rf.mu.Unlock()
	return append([]time.Time(nil), rf.at[min(n, len(rf.at)):]...)
}

func (rf *refusals) count() int {
	rf.mu.Lock()
	defer rf.mu.Unlock()
	return len(rf.at)
}

// statusWriter notes the status code; Unwrap keeps Flush for streams.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// tab opens another tab in b's browser, with b's cookies; close closes it.
func (b *browser) tab() (tab *browser, close func()) {
	b.t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx)
	// The first call makes the tab, which lives as long as ctx: no timeout.
	if err := chromedp.Do(ctx); err != nil {
		cancel()
		b.t.Fatalf("open a tab: %v", err)
	}
	return &browser{t: b.t, ctx: ctx, dir: b.dir}, cancel
}

// TestBrowserStreamComesBack: with one live stream allowed per session, a
// second tab's stream is refused and the tab says live updates are off;
// while the first tab stays open the second tries again after the retry
// delay, doubled each time; once the first tab closes, the second
// reconnects by itself, without a reload, and follows the next change.
// A session ended elsewhere still sends it to the login form.
func TestBrowserStreamComesBack(t *testing.T) {
	b, closeBrowser := newBrowser(t) // first: no chromium, no server started
	defer closeBrowser()
	ctx := t.Context()
	log := slog.New(slog.NewTextHandler(t.Output(), nil))

	const retry = time.Second
	fb := newFakeBackend()
	rf := &refusals{more: make(chan struct{}, 16), next: dashboard.New(fb, testTokens, dashboard.WithLogger(log),
		dashboard.WithPollInterval(200*time.Millisecond), dashboard.WithStreamLimits(1, 0), dashboard.WithStreamRetryAfter(retry))}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	defer serveOn(t, ln, rf)()

	// Sign in in the browser's first tab, then leave the page: its stream
	// goes, the session stays.
	b.do("open the login form", chromedp.Navigate(base+"/login"))
	b.wait("login form", "#token")
	b.do("sign in", chromedp.SendKeys(chromedp.CSS("#token"), operatorToken), chromedp.Click(chromedp.CSS("#sign-in")))
	b.wait("overview", `tr[data-tenant="search"]`)
	b.do("leave the overview", chromedp.Navigate("about:blank"))

	a, closeA := b.tab()
	defer closeA()
	a.do("open the overview in tab A", chromedp.Navigate(base+"/"))
	a.wait("tab A live", `#live-status[data-status="on"]`)
	before := rf.count() // refusals so far are tab A's, if the first tab's stream was slow to go

	tb, closeB := b.tab()
	defer closeB()
	tb.do("open the overview in tab B", chromedp.Navigate(base+"/"))
	tb.wait("tab B's stream refused", `#live-status[data-status="off"]`)
	tb.mark()
	tb.wait("tab B still shows the overview", `tr[data-tenant="search"][data-state="synced"]`)

	// Tab B tries again, after the retry delay, then twice that.
	for len(rf.since(before)) < 3 {
		select {
		case <-rf.more:
		case <-time.After(time.Minute):
			t.Fatalf("tab B tried %d times in a minute while tab A was open, want 3", len(rf.since(before)))
		}
	}
	closeA()
	closed := time.Now()
	at := rf.since(before)
	for i, want := range []time.Duration{retry, 2 * retry} {
		// A timer never fires early; 50ms for the two clocks' rounding.
		if gap := at[i+1].Sub(at[i]); gap < want-50*time.Millisecond {
			t.Errorf("tab B tried again %s after refusal %d, want at least %s", gap, i+1, want)
		}
	}
	t.Logf("tab B refused at +%s, +%s, +%s", 0*time.Second, at[1].Sub(at[0]).Round(time.Millisecond), at[2].Sub(at[0]).Round(time.Millisecond))

	// Tab A closed: tab B comes back by itself, at its next try (4s later
	// at most), and follows a change.
	tb.do("tab B live again", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		_, err := chromedp.WaitVisible(chromedp.CSS(`#live-status[data-status="on"]`))(ctx, tg)
		return err
	}))
	t.Logf("tab B live again %s after tab A closed", time.Since(closed).Round(time.Millisecond))
	fb.update(func(f *fakeBackend) {
		f.overview.Tenants[3].State = view.Drifted
		f.overview.Counts[view.Synced]--
		f.overview.Counts[view.Drifted]++
	})
	tb.wait("search drifted in tab B, live", `tr[data-tenant="search"][data-state="drifted"]`)
	if tb.reloaded() {
		t.Error("tab B reloaded; its stream should have reconnected and swapped the change in")
	}
	if n := len(rf.since(before)); n > 5 {
		t.Errorf("tab B was refused %d times, want at most 5 (3 with tab A open, up to 2 racing its close on a busy machine)", n)
	}

	// Signing out in another tab ends the session: tab B's stream says
	// "logout" and tab B goes to the login form.
	b.do("open the drift page", chromedp.Navigate(base+"/drift"))
	b.do("sign out", chromedp.Click(chromedp.CSS("#sign-out")))
	b.wait("login form after sign-out", "#token")
	tb.wait("tab B at the login form", "#token")
	if loc := run(tb, "location", chromedp.Location()); !strings.HasPrefix(loc, base+"/login?next=%2F") {
		t.Errorf("tab B went to %s after the session ended, want the login form", loc)
	}
}
