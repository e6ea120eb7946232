package dashboard

import (
	"bytes"
	"context"
	"crypto/rand"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"time"

	"github.com/k3sync/k3sync/internal/state"
	"github.com/k3sync/k3sync/internal/view"
)

// Backend is what the dashboard shows and drives: the reconciler.
type Backend interface {
	Overview(ctx context.Context) (view.Overview, error)
	// Tenant returns an error wrapping view.ErrNotFound for unknown tenants.
	Tenant(ctx context.Context, name string) (view.Tenant, error)
	Drift(ctx context.Context) ([]state.Drift, error)
	// History returns the latest runs, newest first, of a tenant ("" for
	// all), at most limit.
	History(ctx context.Context, tenant string, limit int) ([]state.Run, error)
	Trigger(ctx context.Context, req view.TriggerRequest) (view.Sync, error)
	Sync(ctx context.Context, id string) (view.Sync, error)
	Suspend(ctx context.Context, tenant string, suspend bool, who string) error
}

// Authenticator resolves a presented API token to its name and role
// ("viewer" or "operator"); *server.Tokens is one.
type Authenticator interface {
	Authenticate(token string) (name, role string, ok bool)
}

// Option tunes the dashboard.
type Option func(*handler)

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(h *handler) { h.log = l } }

// WithPollInterval sets how often an open event stream asks the backend
// whether its page changed (default 1s).
func WithPollInterval(d time.Duration) Option { return func(h *handler) { h.poll = d } }

// WithSessionTTL sets how long a login lasts (default 8h).
func WithSessionTTL(d time.Duration) Option { return func(h *handler) { h.ttl = d } }

// WithSessionKeys sets the secrets that seal session cookies (cookie.go):
// the first seals, all open, so a key rotates by putting the new one
// first. Replicas given the same keys share sessions, which also survive
// a restart. Without keys a random one is made at start: sessions then
// last as long as the process, on that process only. New panics on an
// empty key (config.Server.ReadSessionKeys refuses short ones).
func WithSessionKeys(keys ...[]byte) Option {
	return func(h *handler) { h.sessionKeys = keys }
}

// WithoutTokenLogin hides the API token form: with SSO, people sign in
// through the identity provider only. The API keeps its tokens.
func WithoutTokenLogin() Option { return func(h *handler) { h.noTokenLogin = true } }

// WithClock sets the clock for session expiry and relative times (default
// time.Now).
func WithClock(now func() time.Time) Option { return func(h *handler) { h.now = now } }

// Defaults.
const (
	defaultPoll = time.Second
	defaultTTL  = 8 * time.Hour
	// maxFormBody bounds login and button posts: a token and a CSRF token.
	maxFormBody = 64 << 10
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// handler is the dashboard.
type handler struct {
	backend Backend
	auth    Authenticator
	log     *slog.Logger
	now     func() time.Time
	poll    time.Duration
	ttl     time.Duration

	sessions    *sessions
	sessionKeys [][]byte
	// sso signs in with an OpenID Connect provider (sso.go); nil without.
	sso          *ssoClient
	noTokenLogin bool
	pages        map[string]*template.Template
	assets       map[string]string
	// versionKey keys the HMAC that versions a page's data, so a version
	// says nothing about the values behind it (see events.go).
	versionKey []byte
	shutdowns  shutdowns
	// feeds share each page's data among its event streams (feeds.go).
	feeds feeds

	mux http.Handler
}

// New returns the dashboard: HTML pages over backend, logins checked with
// auth. Mount it at "/" next to the API. It panics only if the embedded
// templates do not parse, which every test run would show.
func New(backend Backend, auth Authenticator, opts ...Option) http.Handler {
	h := &handler{
		backend: backend, auth: auth, log: slog.Default(), now: time.Now,
		poll: defaultPoll, ttl: defaultTTL,
		feeds:      feeds{maxSession: defaultMaxSessionStreams, maxTotal: defaultMaxStreams, retryAfter: streamRetryAfter},
		versionKey: make([]byte, 32),
	}
	for _, o := range opts {
		o(h)
	}
	_, _ = rand.Read(h.versionKey)
	if len(h.sessionKeys) == 0 {
		h.sessionKeys = [][]byte{make([]byte, 32)}
		_, _ = rand.Read(h.sessionKeys[0])
	}
	codec, err := newCookieCodec(h.sessionKeys)
	if err != nil {
		panic(err) // configuration checks keys first
	}
	h.sessions = newSessions(codec)
	if h.sso != nil {
		h.sso.codec = codec
	}
	if h.assets, err = assetVersions(); err != nil {
		panic(err) // embedded files: cannot fail once it compiles
	}
	if h.pages, err = h.parseTemplates(); err != nil {
		panic(err)
	}
	h.mux = h.routes()
	return h
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

func (h *handler) routes() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", cacheFor(time.Hour, http.FileServerFS(static))))
	mux.HandleFunc("GET /login", h.loginForm)
	mux.HandleFunc("POST /login", h.login)
	mux.HandleFunc("POST /logout", h.logout)
	if h.sso != nil {
		mux.HandleFunc("GET /login/sso", h.ssoStart)
		mux.HandleFunc("GET "+h.sso.callbackPath, h.ssoCallback)
	}
	for _, p := range pageKinds {
		mux.Handle("GET "+p.route, h.page(p))
		mux.Handle("GET /fragments"+p.liveRoute, h.fragment(p))
		mux.Handle("GET /events"+p.liveRoute, h.events(p))
	}
	mux.Handle("POST /tenants/{tenant}/sync", h.action(h.syncNow))
	mux.Handle("POST /tenants/{tenant}/suspend", h.action(h.suspend(true)))
	mux.Handle("POST /tenants/{tenant}/resume", h.action(h.suspend(false)))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		h.renderError(w, r, h.sessionOf(r), http.StatusNotFound, fmt.Sprintf("Nothing at %s.", r.URL.Path))
	})
	// Buttons post forms: a cross-origin post is refused before any
	// handler runs, the login form included (no session yet to hold a
	// CSRF token).
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.renderError(w, r, nil, http.StatusForbidden, "Cross-origin request refused: use the dashboard's own buttons.")
	}))
	return securityHeaders(cop.Handler(mux))
}

// securityHeaders keeps pages out of frames and scripts to the dashboard's
// own files.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "same-origin")
		next.ServeHTTP(w, r)
	})
}

func cacheFor(d time.Duration, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Asset URLs carry their content hash (see assetVersions).
		w.Header().Set("Cache-Control", fmt.Sprintf("public, max-age=%d", int(d.Seconds())))
		next.ServeHTTP(w, r)
	})
}

// parseTemplates makes one template set per page: the layout and its
// partials, and the page's "main" (the live region) and "above" blocks.
func (h *handler) parseTemplates() (map[string]*template.Template, error) {
	out := map[string]*template.Template{}
	for _, name := range []string{"overview", "tenant", "drift", "error", "login"} {
		t, err := template.New(name).Funcs(h.funcs()).ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("dashboard template %s: %w", name, err)
		}
		out[name] = t
	}
	return out, nil
}

// render executes a template into a buffer first, so a failure is a clean
// 500 rather than half a page.
func (h *handler) render(w http.ResponseWriter, r *http.Request, code int, page, tmpl string, data any) {
	var buf bytes.Buffer
	if err := h.pages[page].ExecuteTemplate(&buf, tmpl, data); err != nil {
		h.log.ErrorContext(r.Context(), "dashboard render", "page", page, "error", err)
		http.Error(w, "dashboard: render failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes())
}

// renderError shows an error page; with a session, inside the layout.
func (h *handler) renderError(w http.ResponseWriter, r *http.Request, s *session, code int, msg string) {
	p := &page{Title: http.StatusText(code), User: s, Now: h.now(), Data: errorData{Status: code, Text: http.StatusText(code), Message: msg}}
	h.render(w, r, code, "error", "layout", p)
}

// backendError answers a failed backend call: 404 for an unknown tenant,
// 500 for anything else.
func (h *handler) backendError(w http.ResponseWriter, r *http.Request, s *session, err error) {
	if errors.Is(err, view.ErrNotFound) {
		h.renderError(w, r, s, http.StatusNotFound, err.Error())
		return
	}
	h.log.ErrorContext(r.Context(), "dashboard backend", "path", r.URL.Path, "error", err)
	h.renderError(w, r, s, http.StatusInternalServerError, "The reconciler could not answer: "+err.Error())
}

type errorData struct {
	Status  int
	Text    string
	Message string
}
