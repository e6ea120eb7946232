package dashboard_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/k3sync/k3sync/internal/daemon"
	"github.com/k3sync/k3sync/internal/dashboard"
	"github.com/k3sync/k3sync/internal/server"
)

// chromiumPath is Debian's chromium; .ci/run installs it.
const chromiumPath = "/usr/bin/chromium"

// updateScreenshotEnv set to 1 writes the overview to docs/dashboard.png.
const updateScreenshotEnv = "K3SYNC_UPDATE_SCREENSHOT"

// browser drives one headless Chromium tab.
type browser struct {
	t   *testing.T
	ctx context.Context
	dir string // where screenshots go
}

func newBrowser(t *testing.T) (*browser, func()) {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		// Never skip: a skipped browser test stops covering the dashboard.
		t.Fatalf("chromium not found: install Debian package chromium (.ci/run does): %v", err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.Flag("disable-breakpad", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.WindowSize(1280, 900),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(t.Context(), opts...)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	// The first call starts the browser, which lives as long as ctx: no
	// timeout on it.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 900)); err != nil {
		cancelTab()
		cancelAlloc()
		t.Fatalf("start chromium: %v", err)
	}
	return &browser{t: t, ctx: ctx, dir: t.ArtifactDir()}, func() { cancelTab(); cancelAlloc() }
}

// do runs steps, failing the test if they take over a minute.
func (b *browser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, time.Minute)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatalf("browser: %s: %v\npage:\n%s", what, err, b.text())
	}
}

func run[T any](b *browser, what string, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, time.Minute)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.t.Fatalf("browser: %s: %v", what, err)
	}
	return v
}

// text is the page's text, for failure messages.
func (b *browser) text() string {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string]("document.location.href + '\\n' + document.body.innerText"))
	if err != nil {
		return err.Error()
	}
	return s
}

// wait waits for a CSS selector to be visible.
func (b *browser) wait(what, css string) {
	b.t.Helper()
	b.do(what, chromedp.WaitVisible(chromedp.CSS(css)))
}

// mark tags the loaded document; unmarked asks whether it was replaced
// (a reload or navigation) since.
func (b *browser) mark() {
	b.t.Helper()
	run(b, "mark the page", chromedp.Evaluate[bool]("window.k3syncMark = true"))
}

func (b *browser) reloaded() bool {
	b.t.Helper()
	return !run(b, "read the mark", chromedp.Evaluate[bool]("window.k3syncMark === true"))
}

func (b *browser) screenshot(name string) []byte {
	b.t.Helper()
	png := run(b, "screenshot "+name, chromedp.FullScreenshot(100))
	p := filepath.Join(b.dir, name)
	if err := os.WriteFile(p, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot %s", p)
	return png
}

func freeAddr(t *testing.T) string {
	t.Helper()
	var lc net.ListenConfig
	ln, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// TestBrowser runs the real daemon against real peers, serves the API and
// the dashboard as `k3sync serve` does, and uses the dashboard in headless
// Chromium: sign in, see the example synced, watch drift appear without
// a reload, suspend, resume and sync a drifted tenant back.
func TestBrowser(t *testing.T) {
	b, closeBrowser := newBrowser(t) // first: no chromium, no peers started
	defer closeBrowser()
	p := startPeers(t)
	ctx := t.Context()
	log := slog.New(slog.NewTextHandler(t.Output(), nil))

	d, err := daemon.New(p.cfg, daemon.Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	rec := d.Reconciler
	tokens, err := server.ReadTokens(p.cfg.Server)
	if err != nil {
		t.Fatal(err)
	}
	p.cfg.Server.Listen = freeAddr(t)
	srv, err := server.New(p.cfg.Server, rec, d.Hooks(), server.WithLogger(log), server.WithShutdownGrace(5*time.Second),
		server.WithHandler("/", dashboard.New(rec, tokens, dashboard.WithLogger(log))))
	if err != nil {
		t.Fatal(err)
	}
	daemonCtx, stopDaemon := context.WithCancel(ctx)
	daemonDone := make(chan error, 1)
	go func() { daemonDone <- d.Start(daemonCtx) }()
	defer func() {
		stopDaemon()
		if err := <-daemonDone; err != nil {
			t.Errorf("daemon: %v", err)
		}
	}()
	serverCtx, stopServer := context.WithCancel(ctx)
	serverDone := make(chan error, 1)
	go func() { serverDone <- srv.Start(serverCtx) }()
	defer func() {
		stopServer()
		if err := <-serverDone; err != nil {
			t.Logf("server: %v", err) // reported below when the test got that far
		}
	}()
	waitReady(t, d)
	base := "http://" + p.cfg.Server.Listen

	// Sign in: the overview sends the browser to the login form and back.
	b.do("open the overview", chromedp.Navigate(base+"/"))
	b.wait("login form", "#token")
	if loc := run(b, "location", chromedp.Location()); !strings.HasPrefix(loc, base+"/login") {
		t.Fatalf("without a session the overview went to %s", loc)
	}
	b.do("sign in", chromedp.SendKeys(chromedp.CSS("#token"), e2eOperator), chromedp.Click(chromedp.CSS("#sign-in")))
	for _, row := range []string{"checkout", "payments", "search"} {
		b.wait(row+" synced", `tr[data-tenant="`+row+`"][data-state="synced"]`)
	}
	b.wait("analytics suspended", `tr[data-tenant="analytics"][data-state="suspended"]`)
	b.wait("live updates connected", `#live-status[data-status="on"]`)
	b.screenshot("overview-synced.png")
	b.do("phone viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile))
	b.screenshot("overview-phone.png")
	b.do("laptop viewport", chromedp.EmulateViewport(1280, 900))

	// checkout (drift policy report) drifts; the drift check reports it and
	// the overview shows it without a reload.
	b.mark()
	p.editQuota(t, "eu-west", "checkout", "1")
	rec.CheckDrift(ctx, "")
	b.wait("checkout drifted, live", `tr[data-tenant="checkout"][data-state="drifted"] td[data-system="kubernetes"][data-target="eu-west"][data-state="drifted"]`)
	if b.reloaded() {
		t.Error("the overview reloaded to show the drift; live updates should swap it in")
	}
	b.wait("drift age", `tr[data-tenant="checkout"] .drift-age time`)
	b.screenshot("overview-drifted.png")

	// payments (drift policy revert) would revert at the check: suspend it
	// first, so the drift stays to be seen and synced by hand.
	b.do("open payments", chromedp.Click(chromedp.CSS(`tr[data-tenant="payments"] a[href="/tenants/payments"]`)))
	b.wait("payments page", `h1[data-tenant="payments"][data-state="synced"]`)
	b.do("suspend payments", chromedp.Click(chromedp.CSS("#suspend")))
	b.wait("payments suspended", `h1[data-tenant="payments"][data-state="suspended"]`)
	b.wait("suspend confirmed", "#flash")
	b.mark()
	p.editQuota(t, "eu-west", "payments", "1")
	p.patchKong(t, "/routes/payments-public", `{"paths":["/payments/hijacked"]}`)
	rec.CheckDrift(ctx, "")
	b.wait("payments drift report, live", `#drift-report li.drift-item[data-resource="kubernetes/eu-west/ResourceQuota/payments/tenant-quota"]`)
	b.wait("kong drift", `#drift-report li.drift-item[data-resource^="kong/edge/"]`)
	if b.reloaded() {
		t.Error("the tenant page reloaded to show the drift report")
	}
	report := run(b, "drift report", chromedp.Text(chromedp.CSS("#drift-report")))
	if !strings.Contains(report, "changed by kubectl-edit") {
		t.Errorf("the drift report does not name the field manager:\n%s", report)
	}
	if got := p.quota(t, "eu-west", "payments"); got != "1" {
		t.Fatalf("a suspended tenant's drift was reverted: requests.cpu %s", got)
	}
	b.do("resume payments", chromedp.Click(chromedp.CSS("#resume")))
	b.wait("payments drifted", `h1[data-tenant="payments"][data-state="drifted"]`)
	b.screenshot("tenant-drifted.png")

	// Sync now reverts it; the page follows the sync to synced.
	b.do("sync now", chromedp.Click(chromedp.CSS("#sync-now")))
	b.wait("sync status", "#sync-status")
	b.mark()
	b.wait("sync done", `#sync-status[data-phase="done"]`)
	b.wait("payments synced, live", `h1[data-tenant="payments"][data-state="synced"]`)
	if b.reloaded() {
		t.Error("the tenant page reloaded to follow the sync")
	}
	b.wait("manual run in the history", `#history tr[data-result="synced"]`)
	history := run(b, "history", chromedp.Text(chromedp.CSS("#history")))
	if !strings.Contains(history, "manual by e2e-operator") {
		t.Errorf("history does not show the manual sync by e2e-operator:\n%s", history)
	}
	if got := p.quota(t, "eu-west", "payments"); got != "8" {
		t.Errorf("payments requests.cpu after Sync now: %s, want 8", got)
	}
	b.screenshot("tenant-synced.png")

	// The drift page lists what is left: checkout's.
	b.do("open drift", chromedp.Click(chromedp.CSS(`.nav a[href="/drift"]`)))
	b.wait("checkout on the drift page", `tr[data-tenant="checkout"][data-resource="kubernetes/eu-west/ResourceQuota/checkout/tenant-quota"]:not(.reverted)`)
	b.wait("payments' drift reverted since the check", `tr.reverted[data-tenant="payments"][data-resource="kubernetes/eu-west/ResourceQuota/payments/tenant-quota"]`)
	b.screenshot("drift.png")

	b.do("open the overview", chromedp.Navigate(base+"/"))
	b.wait("payments synced", `tr[data-tenant="payments"][data-state="synced"]`)
	b.wait("checkout still drifted", `tr[data-tenant="checkout"][data-state="drifted"]`)
	b.wait("live updates connected", `#live-status[data-status="on"]`)
	png := b.screenshot("overview.png")
	if os.Getenv(updateScreenshotEnv) == "1" {
		if err := os.WriteFile(filepath.Join("..", "..", "docs", "dashboard.png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Log("wrote docs/dashboard.png")
	}

	// A shutdown with the page's event stream open finishes well within
	// the grace period.
	stopServer()
	start := time.Now()
	select {
	case err := <-serverDone:
		serverDone <- err // for the deferred wait
		if err != nil || time.Since(start) > 3*time.Second {
			t.Errorf("server shutdown with a dashboard open: %v after %s", err, time.Since(start))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("server did not stop with a dashboard open")
	}
}

func waitReady(t *testing.T, d *daemon.Daemon) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		err := d.Ready()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("daemon not ready: %v", err)
		}
		select {
		case <-t.Context().Done():
			t.Fatal(errors.New("test ended"))
		case <-tick.C:
		}
	}
}
