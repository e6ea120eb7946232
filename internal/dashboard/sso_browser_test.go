package dashboard_test

import (
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/google/go-cmp/cmp"

	"github.com/k3sync/k3sync/internal/dashboard"
	"github.com/k3sync/k3sync/internal/testenv/gitea"
	"github.com/k3sync/k3sync/internal/view"
)

// swapHandler serves whichever dashboard is current: a "restart" is a new
// dashboard.New behind the same address.
type swapHandler struct{ h atomic.Pointer[http.Handler] }

func (s *swapHandler) set(h http.Handler) { s.h.Store(&h) }
func (s *swapHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	(*s.h.Load()).ServeHTTP(w, r)
}

// cookies returns the browser's cookies for url.
func (b *browser) cookies(url string) []*network.Cookie {
	b.t.Helper()
	return run(b, "cookies", func(ctx context.Context, t *chromedp.Target) ([]*network.Cookie, error) {
		res, err := cdp.Call(ctx, t, network.GetCookies, network.GetCookiesParams{URLs: []string{url}})
		return res.Cookies, err
	})
}

// forget clears every cookie: the next sign-in on Gitea asks again.
func (b *browser) forget() {
	b.t.Helper()
	b.do("clear cookies", chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, network.ClearBrowserCookies, cdp.Empty{})
		return err //nolint:wrapcheck // the test says what failed
	}))
}

// TestBrowserSSO signs in to the dashboard in headless Chromium through a
// real Gitea as the OpenID Connect provider: Gitea's login form, its grant
// page, back to the dashboard with the role Gitea's team membership maps
// to, Sync now accepted; the session survives a restart of the dashboard
// (same session key) and not a change of key; a viewer sees no buttons; a
// user in no mapped group is refused with no session.
func TestBrowserSSO(t *testing.T) {
	b, closeBrowser := newBrowser(t) // first: no chromium, no Gitea started
	defer closeBrowser()
	ctx := t.Context()
	log := slog.New(slog.NewTextHandler(t.Output(), nil))

	g := gitea.StartTWith(t, gitea.Options{Settings: map[string]map[string]string{"oauth2": {"ENABLED": "true"}}})
	if err := g.StubFrontend(); err != nil {
		t.Fatal(err)
	}
	pass := "pw-" + rand.Text()
	for _, u := range []string{"olivia", "victor", "mallory"} {
		if _, err := g.CreateUser(ctx, u, pass); err != nil {
			t.Fatal(err)
		}
	}
	// Gitea's groups claim: "platform", "platform:ops" for olivia;
	// "platform", "platform:readers" for victor; nothing for mallory.
	if err := g.CreateTeam(ctx, "platform", "ops", "olivia"); err != nil {
		t.Fatal(err)
	}
	if err := g.CreateTeam(ctx, "platform", "readers", "victor"); err != nil {
		t.Fatal(err)
	}

	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	app, err := g.CreateOAuth2App(ctx, "k3sync dashboard", base+"/login/sso/callback")
	if err != nil {
		t.Fatal(err)
	}
	fb := newFakeBackend()
	key := []byte("session-key-" + rand.Text() + rand.Text())
	newDashboard := func(keys ...[]byte) http.Handler {
		return dashboard.New(fb, testTokens, dashboard.WithLogger(log), dashboard.WithSessionKeys(keys...),
			dashboard.WithSSO(dashboard.SSO{
				Issuer: g.Issuer(), ClientID: app.ClientID, ClientSecret: app.ClientSecret,
				RedirectURL: base + "/login/sso/callback", Scopes: []string{"openid", "profile", "groups"},
				OperatorGroups: []string{"platform:ops"}, ViewerGroups: []string{"platform"},
			}))
	}
	var sw swapHandler
	sw.set(newDashboard(key))
	defer serveOn(t, ln, &sw)()

	giteaSignIn := func(user string) {
		t.Helper()
		b.do("open a tenant", chromedp.Navigate(base+"/tenants/payments"))
		b.wait("login form", "#sign-in-sso")
		b.screenshot("sso-login.png")
		b.do("sign in with SSO", chromedp.Click(chromedp.CSS("#sign-in-sso")))
		b.wait("Gitea's login form", "#user_name")
		if loc := run(b, "location", chromedp.Location()); !strings.HasPrefix(loc, g.URL+"/") {
			t.Fatalf("SSO went to %s, not to Gitea", loc)
		}
		b.do("sign in on Gitea", chromedp.SendKeys(chromedp.CSS("#user_name"), user), chromedp.SendKeys(chromedp.CSS("#password"), pass),
			chromedp.Submit(chromedp.CSS("#password")))
		b.wait("Gitea's grant page", "#authorize-app")
		b.screenshot("sso-grant-" + user + ".png")
		b.do("grant", chromedp.Click(chromedp.CSS("#authorize-app")))
	}

	// An operator: Gitea team platform/ops.
	start := time.Now()
	giteaSignIn("olivia")
	b.wait("payments page", `h1[data-tenant="payments"]`)
	t.Logf("SSO sign-in through Gitea in %s", time.Since(start).Round(time.Millisecond))
	who := strings.ToLower(run(b, "who", chromedp.Text(chromedp.CSS(".who .user"))))
	if !strings.Contains(who, "olivia") || !strings.Contains(who, "operator") {
		t.Errorf("signed in as %q, want olivia operator", who)
	}
	for _, c := range b.cookies(base + "/") {
		if strings.Contains(c.Value, "olivia") || strings.Contains(c.Value, "eyJ") {
			t.Errorf("cookie %s holds the user or a JWT in clear: %s", c.Name, c.Value)
		}
		if c.Name == "k3sync_session" && (!c.HTTPOnly || c.SameSite != network.CookieSameSiteStrict) {
			t.Errorf("session cookie %+v", c)
		}
		if c.Name == "k3sync_sso" {
			t.Errorf("the sign-in's flow cookie outlived it: %+v", c)
		}
	}
	b.do("sync now", chromedp.Click(chromedp.CSS("#sync-now")))
	b.wait("sync accepted", `#sync-status[data-phase="queued"]`)
	if trig, _ := fb.calls(); !cmp.Equal(trig, []view.TriggerRequest{{Tenant: "payments", Who: "olivia"}}) {
		t.Errorf("triggered %v, want payments by olivia", trig)
	}
	b.screenshot("sso-synced.png")

	// A restart (a new dashboard with the same key) keeps the session;
	// another key does not know it.
	sw.set(newDashboard(key))
	b.do("overview after a restart", chromedp.Navigate(base+"/"))
	b.wait("still signed in", `.who .role-operator`)
	b.wait("live updates connected", `#live-status[data-status="on"]`)
	sw.set(newDashboard([]byte("another-key-" + rand.Text() + rand.Text())))
	b.do("overview with another key", chromedp.Navigate(base+"/"))
	b.wait("signed out", "#sign-in-sso")
	// A rotation (new key first, old kept) keeps it.
	sw.set(newDashboard([]byte("new-key-"+rand.Text()+rand.Text()), key))
	b.do("overview after a key rotation", chromedp.Navigate(base+"/"))
	b.wait("still signed in after rotation", `.who .role-operator`)

	b.do("sign out", chromedp.Click(chromedp.CSS("#sign-out")))
	b.wait("login form after sign-out", "#sign-in-sso")

	// A viewer: in the organization, not in platform/ops.
	b.forget()
	giteaSignIn("victor")
	b.wait("payments page", `h1[data-tenant="payments"]`)
	if who := strings.ToLower(run(b, "who", chromedp.Text(chromedp.CSS(".who .user")))); !strings.Contains(who, "victor") || !strings.Contains(who, "viewer") {
		t.Errorf("signed in as %q, want victor viewer", who)
	}
	b.do("no sync button for a viewer", chromedp.WaitNotPresent(chromedp.CSS("#sync-now")))

	// In no mapped group: refused, no session.
	b.forget()
	giteaSignIn("mallory")
	b.wait("refused", "main")
	page := b.text()
	if !strings.Contains(page, "none of your groups may use this dashboard") || !strings.Contains(page, "mallory") {
		t.Errorf("refusal page:\n%s", page)
	}
	b.screenshot("sso-refused.png")
	for _, c := range b.cookies(base + "/") {
		if c.Name == "k3sync_session" {
			t.Errorf("a refused user got a session cookie")
		}
	}
	b.do("overview without a session", chromedp.Navigate(base+"/"))
	b.wait("login form", "#sign-in-sso")
	if trig, _ := fb.calls(); len(trig) != 1 {
		t.Errorf("triggered %v, want olivia's sync only", trig)
	}
}

// serveOn serves h on ln until the returned stop, which reports a serve
// error other than the close.
func serveOn(t *testing.T, ln net.Listener, h http.Handler) (stop func()) {
	t.Helper()
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	return func() {
		_ = srv.Close()
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("serve: %v", err)
		}
	}
}
