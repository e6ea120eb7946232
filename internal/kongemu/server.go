package kongemu

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// DefaultVersion is the Kong version reported by GET / unless
// Options.Version says otherwise.
const DefaultVersion = "3.9.1"

// Options configures a Server.
type Options struct {
	// AdminToken, when non-empty, is required in the Kong-Admin-Token
	// header of every request; requests without it get 401.
	AdminToken string
	// Version is reported by GET / (default DefaultVersion).
	Version string
	// Hostname is reported by GET / (default "kongemu").
	Hostname string
	// Now is the clock used for created_at/updated_at (default time.Now).
	Now func() time.Time
	// Logf, when set, receives one line per request.
	Logf func(format string, args ...any)
}

// Server is an in-memory Kong Admin API (DB mode, default workspace,
// open-source). It implements http.Handler and is safe for concurrent use.
type Server struct {
	opts    Options
	faults  faults
	nodeID  string
	reg     *registry
	plugins pluginCatalog

	mu sync.RWMutex
	db *memDB

	statsMu sync.Mutex
	stats   map[string]int
}

// New returns an empty emulator.
func New(opts Options) *Server {
	if opts.Version == "" {
		opts.Version = DefaultVersion
	}
	if opts.Hostname == "" {
		opts.Hostname = "kongemu"
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	cat := newPluginCatalog()
	reg := allEntities(cat)
	return &Server{
		opts:    opts,
		nodeID:  newUUID(),
		reg:     reg,
		plugins: cat,
		db:      newMemDB(reg),
		stats:   map[string]int{},
	}
}

func (s *Server) now() time.Time { return s.opts.Now() }

// Start serves the emulator on a random loopback port until ctx is done
// and returns its base URL (http://127.0.0.1:PORT).
func (s *Server) Start(ctx context.Context) (string, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("kongemu listen: %w", err)
	}
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdownCtx) // best effort on teardown
	}()
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) && s.opts.Logf != nil {
			s.opts.Logf("kongemu serve: %v", err)
		}
	}()
	return "http://" + ln.Addr().String(), nil
}

// Stats returns the number of requests served per "METHOD pattern", where
// pattern uses Kong's route names, e.g. "GET /services/:services/routes".
func (s *Server) Stats() map[string]int {
	s.statsMu.Lock()
	defer s.statsMu.Unlock()
	return maps.Clone(s.stats)
}

// Reads returns the number of GET/HEAD/OPTIONS requests served.
func (s *Server) Reads() int {
	n := 0
	for k, v := range s.Stats() {
		if isReadMethod(strings.SplitN(k, " ", 2)[0]) {
			n += v
		}
	}
	return n
}

// Writes returns the number of POST/PUT/PATCH/DELETE requests served.
func (s *Server) Writes() int {
	n := 0
	for k, v := range s.Stats() {
		if !isReadMethod(strings.SplitN(k, " ", 2)[0]) {
			n += v
		}
	}
	return n
}

// ResetStats zeroes the request counters.
func (s *Server) ResetStats() {
	s.statsMu.Lock()
	defer s.statsMu.Unlock()
	s.stats = map[string]int{}
}

// Count returns the number of stored entities of a kind, by DAO name
// ("services", "keyauth_credentials") or URL name ("key-auths").
func (s *Server) Count(entity string) int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if d, ok := s.reg.byPath[entity]; ok {
		entity = d.name
	}
	return s.db.count(entity)
}

// Reset deletes every entity.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.db = newMemDB(s.reg)
}

func isReadMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// request is a parsed Admin API call.
type request struct {
	method string
	segs   []string
	query  url.Values
	body   map[string]any
	path   string
}

// handlerFunc serves a routed request; it runs with the store locked.
type handlerFunc func(s *Server, req *request) (int, any, *apiError)

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if f, ok := s.faults.take(r); ok && misbehave(w, r, f) {
		return
	}
	req, perr := parseRequest(r)
	pattern, h := "unparsed", handlerFunc(nil)
	if perr == nil {
		pattern, h = s.route(req)
	}
	s.statsMu.Lock()
	s.stats[r.Method+" "+pattern]++
	s.statsMu.Unlock()
	if s.opts.Logf != nil {
		s.opts.Logf("kongemu %s %s", r.Method, r.URL.RequestURI())
	}
	if s.opts.AdminToken != "" && r.Header.Get("Kong-Admin-Token") != s.opts.AdminToken {
		writeJSON(w, http.StatusUnauthorized, map[string]any{
			"message": "Invalid credentials. Token or User credentials required",
		})
		return
	}
	if perr != nil {
		writeError(w, perr)
		return
	}
	if h == nil {
		writeError(w, notFound())
		return
	}
	if isReadMethod(req.method) {
		s.mu.RLock()
	} else {
		s.mu.Lock()
	}
	status, out, aerr := h(s, req)
	if isReadMethod(req.method) {
		s.mu.RUnlock()
	} else {
		s.mu.Unlock()
	}
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	if status == http.StatusNoContent {
		w.WriteHeader(status)
		return
	}
	writeJSON(w, status, out)
}

func parseRequest(r *http.Request) (*request, *apiError) {
	req := &request{method: r.Method, query: r.URL.Query(), path: r.URL.Path}
	for _, raw := range strings.Split(strings.Trim(r.URL.EscapedPath(), "/"), "/") {
		if raw == "" {
			continue
		}
		seg, err := unescape(raw)
		if err != nil {
			return nil, badRequest("invalid path")
		}
		req.segs = append(req.segs, seg)
	}
	if r.Method == http.MethodPost || r.Method == http.MethodPut || r.Method == http.MethodPatch {
		body, err := readBody(r)
		if err != nil {
			return nil, err
		}
		req.body = body
	}
	return req, nil
}

func readBody(r *http.Request) (map[string]any, *apiError) {
	data, err := io.ReadAll(io.LimitReader(r.Body, 32<<20))
	if err != nil {
		return nil, badRequest("failed to read request body")
	}
	body := map[string]any{}
	if len(strings.TrimSpace(string(data))) == 0 {
		return body, nil
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, params, err := mime.ParseMediaType(ct)
		if err == nil && (mt == "application/x-www-form-urlencoded" || mt == "multipart/form-data") {
			return readForm(data, mt, params)
		}
		if !strings.Contains(strings.ToLower(ct), "json") {
			return nil, &apiError{status: http.StatusUnsupportedMediaType, body: map[string]any{
				"message": "kongemu accepts application/json, application/x-www-form-urlencoded and multipart/form-data request bodies",
			}}
		}
	}
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.UseNumber()
	if err := dec.Decode(&body); err != nil {
		return nil, badRequest("Cannot parse JSON body")
	}
	return body, nil
}
