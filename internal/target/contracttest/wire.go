package contracttest

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
)

// Wire watches an HTTP target's requests to its peer: it counts the writes
// (every request but GET, HEAD and OPTIONS) and, once armed with
// FailNextCreate, answers the next create IsCreate picks out with a 500
// and FailBody, without forwarding it. One Wire may sit in several
// clients' transports (Transport).
type Wire struct {
	// IsCreate picks out the requests that create (a POST, a
	// server-side apply PATCH).
	IsCreate func(*http.Request) bool
	// FailBody is the peer's answer to a failed create, as JSON.
	FailBody string

	writes   atomic.Int64
	mu       sync.Mutex
	failNext bool
}

// Writes is how many writes went through the wire.
func (w *Wire) Writes() int { return int(w.writes.Load()) }

// FailNextCreate arms the wire: the next create fails with a 500.
func (w *Wire) FailNextCreate() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.failNext = true
}

// Transport is next behind the wire.
func (w *Wire) Transport(next http.RoundTripper) http.RoundTripper {
	return wireRT{w: w, next: next}
}

type wireRT struct {
	w    *Wire
	next http.RoundTripper
}

func (rt wireRT) RoundTrip(r *http.Request) (*http.Response, error) {
	w := rt.w
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return rt.next.RoundTrip(r) //nolint:wrapcheck // a transport
	}
	w.writes.Add(1)
	if w.IsCreate(r) {
		w.mu.Lock()
		fail := w.failNext
		w.failNext = false
		w.mu.Unlock()
		if fail {
			if r.Body != nil {
				_ = r.Body.Close()
			}
			return &http.Response{
				StatusCode: http.StatusInternalServerError, Status: "500 Internal Server Error",
				Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
				Header:        http.Header{"Content-Type": {"application/json"}},
				Body:          io.NopCloser(strings.NewReader(w.FailBody)),
				ContentLength: int64(len(w.FailBody)),
				Request:       r,
			}, nil
		}
	}
	return rt.next.RoundTrip(r) //nolint:wrapcheck // a transport
}
