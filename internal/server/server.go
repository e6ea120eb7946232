package server

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/k3sync/k3sync/internal/config"
	"github.com/k3sync/k3sync/internal/metrics"
	"github.com/k3sync/k3sync/internal/plan"
	"github.com/k3sync/k3sync/internal/state"
	"github.com/k3sync/k3sync/internal/view"
)

// DefaultListen is the address Start listens on when the config has none:
// loopback only, so an unconfigured daemon is not exposed.
const DefaultListen = "127.0.0.1:8080"

// ErrNotFound is what Backend returns, wrapped, for an unknown tenant or
// sync; the API answers 404.
var ErrNotFound = view.ErrNotFound

// Backend is what the API shows and drives: the reconciler.
type Backend interface {
	Overview(ctx context.Context) (view.Overview, error)
	// Tenant returns an error wrapping ErrNotFound for unknown tenants.
	Tenant(ctx context.Context, name string) (view.Tenant, error)
	// Plans returns the latest plan of every tenant that has one, by
	// name, in one call; the plans are shared, read only.
	Plans(ctx context.Context) (map[string]*plan.Plan, error)
	Drift(ctx context.Context) ([]state.Drift, error)
	// History returns the latest runs, newest first, of a tenant ("" for
	// all), at most limit.
	History(ctx context.Context, tenant string, limit int) ([]state.Run, error)
	// Trigger queues a sync; ErrNotFound for an unknown tenant.
	Trigger(ctx context.Context, req view.TriggerRequest) (view.Sync, error)
	// Sync returns a triggered sync; ErrNotFound if unknown.
	Sync(ctx context.Context, id string) (view.Sync, error)
	// Suspend suspends (or resumes) a tenant; ErrNotFound if unknown.
	Suspend(ctx context.Context, tenant string, suspend bool, who string) error
	// Ready is nil when the first sync finished and, with leader
	// election, this replica leads.
	Ready() error
}

// Hooks receives verified webhook deliveries. ctx is the request's: an
// implementation hands the work off and returns.
type Hooks interface {
	Push(ctx context.Context, branch string)
	PullRequest(ctx context.Context, number int, action string, headSHA string)
}

// Server is the daemon's HTTP server.
type Server struct {
	listen  string
	backend Backend
	hooks   Hooks
	log     *slog.Logger

	tokens        []token
	githubSecret  []byte
	giteaSecret   []byte
	gitlabSecret  []byte
	metrics       prometheus.Gatherer
	metricsAuth   bool
	pprof         bool
	extra         []mount
	shutdownGrace time.Duration
	// ln, when set, is served instead of listening on listen.
	ln net.Listener

	handler http.Handler
}

type mount struct {
	pattern string
	h       http.Handler
}

// Option tunes a Server.
type Option func(*Server)

// WithHandler mounts h at a ServeMux pattern next to the API, for example
// the dashboard at "/". The API, probe, metrics and hook patterns are more
// specific and keep their paths.
func WithHandler(pattern string, h http.Handler) Option {
	return func(s *Server) { s.extra = append(s.extra, mount{pattern, h}) }
}

// WithMetrics serves g (a *prometheus.Registry) at GET /metrics.
func WithMetrics(g prometheus.Gatherer) Option {
	return func(s *Server) { s.metrics = g }
}

// WithAuthenticatedMetrics makes /metrics require an API token, of any
// role.
func WithAuthenticatedMetrics() Option {
	return func(s *Server) { s.metricsAuth = true }
}

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option {
	return func(s *Server) { s.log = l }
}

// WithShutdownGrace bounds how long Start waits for requests in flight
// once its context ends (default 10s).
func WithShutdownGrace(d time.Duration) Option {
	return func(s *Server) { s.shutdownGrace = d }
}

// WithListener makes Start serve ln, which the caller bound already,
// instead of listening on the configured address: `k3sync dev` binds it
// before it starts the peers, so that a taken address fails at once and
// stays its own meanwhile.
func WithListener(ln net.Listener) Option {
	return func(s *Server) { s.ln = ln }
}

// New reads the API tokens and webhook secrets and builds the server. A
// nil hooks disables the webhooks.
func New(cfg config.Server, backend Backend, hooks Hooks, opts ...Option) (*Server, error) {
	s := &Server{listen: cmp.Or(cfg.Listen, DefaultListen), backend: backend, hooks: hooks, log: slog.Default(), shutdownGrace: 10 * time.Second, pprof: cfg.Pprof}
	for _, o := range opts {
		o(s)
	}
	var err error
	if s.tokens, err = readTokens(cfg.Tokens); err != nil {
		return nil, err
	}
	if s.githubSecret, err = readSecret("github", cfg.Webhooks.GitHub); err != nil {
		return nil, err
	}
	if s.giteaSecret, err = readSecret("gitea", cfg.Webhooks.Gitea); err != nil {
		return nil, err
	}
	if s.gitlabSecret, err = readSecret("gitlab", cfg.Webhooks.GitLab); err != nil {
		return nil, err
	}
	if s.handler, err = s.routes(); err != nil {
		return nil, err
	}
	return s, nil
}

func readSecret(forge string, sec config.Secret) ([]byte, error) {
	v, err := sec.Value()
	if err != nil {
		return nil, fmt.Errorf("server webhooks.%s: %w", forge, err)
	}
	if v == "" && sec.IsSet() {
		return nil, fmt.Errorf("server webhooks.%s: the secret is empty", forge)
	}
	return []byte(v), nil
}

// Handler is the server's handler, for tests and for mounting elsewhere.
func (s *Server) Handler() http.Handler { return s.handler }

// routes builds the mux. A pattern given to WithHandler that conflicts
// with the API's makes ServeMux panic; that comes back as an error.
func (s *Server) routes() (h http.Handler, err error) {
	defer func() {
		if p := recover(); p != nil {
			h, err = nil, fmt.Errorf("server: routes: %v", p)
		}
	}()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	if s.metrics != nil {
		mh := metrics.Handler(s.metrics)
		if s.metricsAuth {
			mh = s.authenticated(roleViewer, mh)
		}
		mux.Handle("GET /metrics", mh)
	}

	api := func(pattern string, need role, h http.HandlerFunc) {
		mux.Handle(pattern, limitBody(maxAPIBody, s.authenticated(need, h)))
	}
	api("GET /api/v1/overview", roleViewer, s.overview)
	api("GET /api/v1/tenants", roleViewer, s.tenants)
	api("GET /api/v1/tenants/{tenant}", roleViewer, s.tenant)
	api("GET /api/v1/tenants/{tenant}/plan", roleViewer, s.plan)
	api("GET /api/v1/plan", roleViewer, s.currentPlan)
	api("GET /api/v1/drift", roleViewer, s.drift)
	api("GET /api/v1/history", roleViewer, s.history)
	api("GET /api/v1/syncs/{id}", roleViewer, s.sync)
	api("POST /api/v1/sync", roleOperator, s.trigger)
	api("POST /api/v1/tenants/{tenant}/sync", roleOperator, s.trigger)
	api("POST /api/v1/tenants/{tenant}/suspend", roleOperator, s.suspend(true))
	api("POST /api/v1/tenants/{tenant}/resume", roleOperator, s.suspend(false))
	// Unknown API paths answer in JSON, not with whatever is mounted at "/".
	api("/api/", roleViewer, func(w http.ResponseWriter, r *http.Request) { apiNotFound(mux, w, r) })

	if s.pprof {
		// Runtime profiles (heap, goroutines, CPU) for operators: they
		// show function names and sizes, never data.
		mux.Handle("GET /debug/pprof/", s.authenticated(roleOperator, http.HandlerFunc(pprof.Index)))
		mux.Handle("GET /debug/pprof/cmdline", s.authenticated(roleOperator, http.HandlerFunc(pprof.Cmdline)))
		mux.Handle("GET /debug/pprof/profile", s.authenticated(roleOperator, http.HandlerFunc(pprof.Profile)))
		mux.Handle("GET /debug/pprof/symbol", s.authenticated(roleOperator, http.HandlerFunc(pprof.Symbol)))
		mux.Handle("GET /debug/pprof/trace", s.authenticated(roleOperator, http.HandlerFunc(pprof.Trace)))
	}

	mux.Handle("POST /hooks/github", limitBody(maxHookBody, http.HandlerFunc(s.github)))
	mux.Handle("POST /hooks/gitea", limitBody(maxHookBody, http.HandlerFunc(s.gitea)))
	mux.Handle("POST /hooks/gitlab", limitBody(maxHookBody, http.HandlerFunc(s.gitlab)))

	for _, m := range s.extra {
		mux.Handle(m.pattern, m.h)
	}
	return s.accessLog(mux), nil
}

// apiNotFound answers a request no API pattern took: 405 if the path
// exists with another method, 404 otherwise.
func apiNotFound(mux *http.ServeMux, w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost} {
		if m == r.Method {
			continue
		}
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := mux.Handler(probe); pattern != "/api/" {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		writeError(w, r, http.StatusMethodNotAllowed, fmt.Errorf("%s %s: method not allowed", r.Method, r.URL.Path))
		return
	}
	writeError(w, r, http.StatusNotFound, fmt.Errorf("%s %s: no such endpoint", r.Method, r.URL.Path))
}

// Start serves on the configured address until ctx ends, then stops
// accepting connections and waits for the requests in flight.
func (s *Server) Start(ctx context.Context) error {
	if s.ln != nil {
		return s.serve(ctx, s.ln)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.listen)
	if err != nil {
		return fmt.Errorf("server: listen: %w", err)
	}
	return s.serve(ctx, ln)
}

func (s *Server) serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		// No WriteTimeout: the dashboard may stream events.
		IdleTimeout: 2 * time.Minute,
		// Requests outlive ctx by the shutdown grace; their context keeps
		// ctx's values (the logger) but not its cancellation.
		BaseContext: func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
		ErrorLog:    slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	s.log.InfoContext(ctx, "http server listening", "addr", ln.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("server: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.shutdownGrace)
	defer cancel()
	err := srv.Shutdown(sctx)
	<-errc // http.ErrServerClosed once Shutdown began
	if err != nil {
		_ = srv.Close()
		return fmt.Errorf("server: shutdown: %w", err)
	}
	return nil
}
