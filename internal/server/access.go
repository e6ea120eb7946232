package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"time"
)

// Body limits: API requests are small JSON; push webhooks list commits.
const (
	maxAPIBody  = 1 << 20
	maxHookBody = 5 << 20
)

// requestInfo is filled in as the request goes down the handlers and read
// by the access log at the end.
type requestInfo struct {
	id  string
	who string
	log *slog.Logger
}

type requestInfoKey struct{}

func infoFrom(ctx context.Context) *requestInfo {
	if ri, ok := ctx.Value(requestInfoKey{}).(*requestInfo); ok {
		return ri
	}
	return nil
}

// setWho records the token's name for the access log.
func setWho(ctx context.Context, who string) {
	if ri := infoFrom(ctx); ri != nil {
		ri.who = who
	}
}

// requestID keeps a caller's X-Request-Id when it is short and plain, so
// one ID follows a request through proxies; else it makes one.
func requestID(r *http.Request) string {
	if id := r.Header.Get("X-Request-Id"); id != "" && len(id) <= 64 && plain(id) {
		return id
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func plain(s string) bool {
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// quiet paths are polled by machines; they log at debug level.
var quiet = map[string]bool{"/healthz": true, "/readyz": true, "/metrics": true}

// accessLog gives each request an ID and logs one line when it ends.
func (s *Server) accessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ri := &requestInfo{id: requestID(r)}
		ri.log = s.log.With("request_id", ri.id)
		w.Header().Set("X-Request-Id", ri.id)
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r.WithContext(context.WithValue(r.Context(), requestInfoKey{}, ri)))
		level := slog.LevelInfo
		if quiet[r.URL.Path] {
			level = slog.LevelDebug
		}
		ri.log.Log(r.Context(), level, "http request",
			"method", r.Method,
			"path", r.URL.Path,
			"status", rec.status(),
			"duration", time.Since(start),
			"bytes", rec.bytes,
			"token", ri.who,
			"remote", r.RemoteAddr,
		)
	})
}

// statusRecorder remembers the status and size of a response. Unwrap lets
// http.ResponseController reach the connection (flushes for streams).
type statusRecorder struct {
	http.ResponseWriter
	code  int
	bytes int64
}

func (w *statusRecorder) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusRecorder) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err //nolint:wrapcheck // a ResponseWriter's error as is
}

// Flush lets streaming handlers that type-assert http.Flusher work.
func (w *statusRecorder) Flush() {
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

func (w *statusRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusRecorder) status() int {
	if w.code == 0 {
		return http.StatusOK
	}
	return w.code
}

func limitBody(n int64, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, n)
		next.ServeHTTP(w, r)
	})
}

// writeJSON renders v into a buffer first, so an encoding failure is a
// clean 500 rather than half a body.
func writeJSON(w http.ResponseWriter, r *http.Request, code int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	body := []byte(`{"error": "encode response"}` + "\n")
	if err := enc.Encode(v); err != nil {
		infoLogger(r).ErrorContext(r.Context(), "encode response", "error", err)
		code = http.StatusInternalServerError
	} else {
		body = buf.Bytes()
	}
	write(w, code, "application/json", body)
}

func write(w http.ResponseWriter, code int, contentType string, body []byte) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write(body)
}

type errorBody struct {
	Error string `json:"error"`
}

func writeError(w http.ResponseWriter, r *http.Request, code int, err error) {
	if code >= 500 && code != http.StatusServiceUnavailable {
		infoLogger(r).ErrorContext(r.Context(), "request failed", "path", r.URL.Path, "error", err)
	}
	writeJSON(w, r, code, errorBody{Error: err.Error()})
}

func infoLogger(r *http.Request) *slog.Logger {
	if ri := infoFrom(r.Context()); ri != nil {
		return ri.log
	}
	return slog.Default()
}

// bodyError is the status for a failed body read: 413 when over the limit.
func bodyError(err error) int {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return http.StatusRequestEntityTooLarge
	}
	return http.StatusBadRequest
}
