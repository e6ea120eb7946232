package dashboard

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// Event stream timing.
const (
	// retryMillis is how long a browser waits before it reconnects.
	retryMillis = 2000
	// keepAlive is the longest a stream stays silent, so proxies keep it.
	keepAlive = 15 * time.Second
)

// version names a page's data: an HMAC, under a key made at start, of its
// JSON. Equal data, equal version; the version says nothing about the
// values behind it, sensitive ones included.
func (h *handler) version(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		// Unversionable data never matches, so the page refetches rather
		// than freezes.
		return "unversioned"
	}
	mac := hmac.New(sha256.New, h.versionKey)
	mac.Write(b)
	return hex.EncodeToString(mac.Sum(nil)[:12])
}

// events streams a page's version as Server-Sent Events: at once, then
// whenever the page's data changes. The data comes from the page's feed
// (feeds.go), loaded once per poll interval however many streams watch
// it, so a stream sends at most one version per interval, and a comment
// line when it has been silent for keepAlive. The page's script fetches
// the fragment when the version differs from its own. The stream ends when
// the client goes, the server shuts down, or the session ends (with a
// "logout" event). A stream over the limits (WithStreamLimits) is 429
// with Retry-After (WithStreamRetryAfter).
func (h *handler) events(p pageKind) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := h.sessionOf(r)
		if s == nil {
			http.Error(w, "sign in first", http.StatusUnauthorized)
			return
		}
		f, release, ok := h.watch(p, r, s)
		if !ok {
			h.log.WarnContext(r.Context(), "dashboard event stream refused: too many streams", "token", s.Name, "path", r.URL.Path)
			h.tooManyStreams(w)
			return
		}
		defer release()
		rc := http.NewResponseController(w)
		// A stream outlives any write timeout a server may set.
		_ = rc.SetWriteDeadline(time.Time{})
		hd := w.Header()
		hd.Set("Content-Type", "text/event-stream")
		hd.Set("Cache-Control", "no-store")
		hd.Set("X-Accel-Buffering", "no")
		w.WriteHeader(http.StatusOK)
		send := func(format string, args ...any) bool {
			if _, err := fmt.Fprintf(w, format, args...); err != nil {
				return false
			}
			return rc.Flush() == nil
		}
		if !send("retry: %d\n\n", retryMillis) {
			return
		}
		stop := h.shutdowns.done(r)
		tick := time.NewTicker(h.poll)
		defer tick.Stop()
		last, quiet := "", time.Duration(0)
		for {
			if !h.sessions.alive(s, h.now()) {
				send("event: logout\ndata: {}\n\n")
				return
			}
			v, ready := h.current(f)
			switch {
			case v != "" && v != last:
				if !send("event: version\ndata: {\"version\":%q}\n\n", v) {
					return
				}
				last, quiet = v, 0
			case quiet >= keepAlive:
				if !send(": keep-alive\n\n") {
					return
				}
				quiet = 0
			}
			select {
			case <-r.Context().Done():
				return
			case <-stop:
				return
			case <-ready:
			case <-tick.C:
				quiet += h.poll
			}
		}
	})
}

// shutdowns ends event streams when their server shuts down. Requests of
// `k3sync serve` are not cancelled by a shutdown (they finish within the
// grace period), but a stream would never finish: each server gets one
// RegisterOnShutdown hook that closes a channel its streams watch.
type shutdowns struct {
	mu sync.Mutex
	by map[*http.Server]chan struct{}
}

// done is closed when the request's server shuts down; nil (never closed)
// outside an http.Server.
func (s *shutdowns) done(r *http.Request) <-chan struct{} {
	srv, _ := r.Context().Value(http.ServerContextKey).(*http.Server)
	if srv == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.by == nil {
		s.by = map[*http.Server]chan struct{}{}
	}
	ch, ok := s.by[srv]
	if !ok {
		ch = make(chan struct{})
		s.by[srv] = ch
		srv.RegisterOnShutdown(func() { close(ch) })
	}
	return ch
}
