package kongemu

import (
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Fault makes the emulator misbehave as a real gateway or its load
// balancer can, for the next Count requests that match Method and Path:
// answer Status with Kong's error body (and Retry-After when set), or
// stall Latency first, or drop the connection without an answer. A fault
// with neither Status nor Drop only delays the request, which is then
// served. Faults are for tests of what k3sync does when the Admin API
// fails; they never change the emulator's data.
type Fault struct {
	// Method matches the request method; "" matches any.
	Method string
	// Path matches a request path that starts with it ("/services"
	// matches /services/x/routes); "" matches any.
	Path string
	// Count is how many matching requests the fault takes; 0 means every
	// one until ClearFaults.
	Count int
	// Status is the answer's status code (e.g. 500, 503, 429).
	Status int
	// RetryAfter, with Status, is sent as Retry-After (seconds).
	RetryAfter time.Duration
	// Latency delays the request (and its fault) this long, or until the
	// client gives up.
	Latency time.Duration
	// Drop closes the connection without answering.
	Drop bool
}

// faults are the armed faults, in the order they were injected.
type faults struct {
	mu  sync.Mutex
	all []*armedFault
}

type armedFault struct {
	Fault
	left int // requests left; -1 for every one
	hits int
}

// Inject arms a fault; the first armed fault that matches a request takes
// it. It returns a function reporting how many requests the fault took.
func (s *Server) Inject(f Fault) (hits func() int) {
	a := &armedFault{Fault: f, left: f.Count}
	if f.Count <= 0 {
		a.left = -1
	}
	s.faults.mu.Lock()
	s.faults.all = append(s.faults.all, a)
	s.faults.mu.Unlock()
	return func() int {
		s.faults.mu.Lock()
		defer s.faults.mu.Unlock()
		return a.hits
	}
}

// ClearFaults disarms every fault.
func (s *Server) ClearFaults() {
	s.faults.mu.Lock()
	s.faults.all = nil
	s.faults.mu.Unlock()
}

// take returns the fault that takes r, if any, and counts it.
func (fs *faults) take(r *http.Request) (Fault, bool) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for i, a := range fs.all {
		if a.Method != "" && a.Method != r.Method || !strings.HasPrefix(r.URL.Path, a.Path) {
			continue
		}
		a.hits++
		if a.left > 0 {
			a.left--
			if a.left == 0 {
				fs.all = append(fs.all[:i:i], fs.all[i+1:]...)
			}
		}
		return a.Fault, true
	}
	return Fault{}, false
}

// misbehave applies a fault that took the request; it reports whether
// the request was answered (or dropped) and must not be served.
func misbehave(w http.ResponseWriter, r *http.Request, f Fault) bool {
	if f.Latency > 0 {
		t := time.NewTimer(f.Latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return true
		}
	}
	switch {
	case f.Drop:
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				_ = conn.Close()
				return true
			}
		}
		panic(http.ErrAbortHandler) // closes the connection without an answer
	case f.Status != 0:
		if f.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int(f.RetryAfter/time.Second)))
		}
		writeJSON(w, f.Status, map[string]any{"message": http.StatusText(f.Status)})
		return true
	}
	return false
}
