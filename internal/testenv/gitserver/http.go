package gitserver

import (
	"crypto/subtle"
	"encoding/pem"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// HTTP is a smart-HTTP Git server: git http-backend behind net/http/cgi,
// serving the bare repositories under Root at URL/<name>.
type HTTP struct {
	// URL is the server's base URL, without a trailing slash.
	URL string
	// Root holds the bare repositories served.
	Root string

	srv *httptest.Server

	mu       sync.Mutex
	status   int
	requests []Request
}

// Request is one request the server received.
type Request struct {
	Method string
	// Path is the URL path, e.g. /platform.git/info/refs.
	Path string
	// Status is the status answered by the server's auth or failure
	// injection, or 0 when git http-backend answered.
	Status int
}

// HTTPOption configures an HTTP server.
type HTTPOption func(*httpConfig)

type httpConfig struct {
	user, password string
	tls            bool
}

// WithTLS serves HTTPS with a certificate of its own CA (see CACert).
func WithTLS() HTTPOption {
	return func(c *httpConfig) { c.tls = true }
}

// WithBasicAuth requires HTTP basic auth with this user and password (or
// token); requests without it are answered 401 with a challenge, requests
// with other credentials 401 too, like hosting services do.
func WithBasicAuth(user, password string) HTTPOption {
	return func(c *httpConfig) { c.user, c.password = user, password }
}

// NewHTTP starts a server for the repositories under root; it stops when
// the test ends.
func NewHTTP(t testing.TB, root string, opts ...HTTPOption) *HTTP {
	t.Helper()
	RequireGit(t)
	backend, err := backendPath(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var cfg httpConfig
	for _, o := range opts {
		o(&cfg)
	}
	s := &HTTP{Root: root}
	git := &cgi.Handler{
		Path: backend,
		Env: append(gitEnv(t.TempDir()),
			"GIT_PROJECT_ROOT="+root,
			"GIT_HTTP_EXPORT_ALL=1",
		),
	}
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		status := s.answer(r, cfg)
		s.mu.Lock()
		s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.Path, Status: status})
		s.mu.Unlock()
		switch status {
		case 0:
			git.ServeHTTP(w, r)
		case http.StatusUnauthorized:
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			http.Error(w, "authentication required", status)
		default:
			http.Error(w, "injected failure", status)
		}
	}))
	if cfg.tls {
		s.srv.StartTLS()
	} else {
		s.srv.Start()
	}
	s.URL = s.srv.URL
	t.Cleanup(s.srv.Close)
	return s
}

// answer is the status to answer r with instead of serving it, or 0.
func (s *HTTP) answer(r *http.Request, cfg httpConfig) int {
	s.mu.Lock()
	status := s.status
	s.mu.Unlock()
	if status != 0 {
		return status
	}
	if cfg.user == "" && cfg.password == "" {
		return 0
	}
	user, password, ok := r.BasicAuth()
	if !ok ||
		subtle.ConstantTimeCompare([]byte(user), []byte(cfg.user)) != 1 ||
		subtle.ConstantTimeCompare([]byte(password), []byte(cfg.password)) != 1 {
		return http.StatusUnauthorized
	}
	return 0
}

// RepoURL is the URL of the repository name (e.g. "platform.git").
func (s *HTTP) RepoURL(name string) string {
	return s.URL + "/" + strings.TrimPrefix(name, "/")
}

// CACert is the PEM certificate that signed the server's, with WithTLS.
func (s *HTTP) CACert() []byte {
	if s.srv.Certificate() == nil {
		return nil
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.srv.Certificate().Raw})
}

// FailWith makes every request answer status until FailWith(0).
func (s *HTTP) FailWith(status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status = status
}

// Requests returns the requests received since the last call and forgets
// them.
func (s *HTTP) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.requests
	s.requests = nil
	return r
}

// Close stops the server (also done when the test ends), to test an
// unreachable URL.
func (s *HTTP) Close() { s.srv.Close() }
