package kongemu

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestFaults: an injected fault answers the requests it matches, as many
// as its count, with the status and Retry-After a failing gateway sends,
// then the emulator serves again; nothing a fault answered was written.
func TestFaults(t *testing.T) {
	c, emu := newAPI(t, Options{})
	hits := emu.Inject(Fault{Method: http.MethodPost, Path: "/services", Count: 2, Status: http.StatusServiceUnavailable, RetryAfter: 7 * time.Second})
	for i := range 2 {
		code, body := c.call(http.MethodPost, "/services", map[string]any{"name": "a", "host": "a.internal"})
		if code != http.StatusServiceUnavailable || body["message"] != "Service Unavailable" {
			t.Fatalf("faulted POST %d: %d %v", i, code, body)
		}
	}
	if code, _ := c.call(http.MethodGet, "/services", nil); code != http.StatusOK {
		t.Errorf("GET /services, which the fault does not match: %d", code)
	}
	if got := emu.Count("services"); got != 0 {
		t.Errorf("%d services after two faulted creates, want 0", got)
	}
	if code, body := c.call(http.MethodPost, "/services", map[string]any{"name": "a", "host": "a.internal"}); code != http.StatusCreated {
		t.Fatalf("POST after the fault's count: %d %v", code, body)
	}
	if hits() != 2 {
		t.Errorf("the fault took %d requests, want 2", hits())
	}

	// Retry-After is sent as the gateway's load balancer sends it.
	emu.Inject(Fault{Path: "/routes", Count: 1, Status: http.StatusTooManyRequests, RetryAfter: 3 * time.Second})
	resp, err := c.http.Get(c.base + "/routes")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "3" {
		t.Errorf("429 fault: %d Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}

	// A dropped connection: the client sees no answer at all.
	emu.Inject(Fault{Path: "/consumers", Count: 1, Drop: true})
	if resp, err := c.http.Get(c.base + "/consumers"); err == nil {
		_ = resp.Body.Close()
		t.Errorf("dropped request answered %d", resp.StatusCode)
	}
	if code, _ := c.call(http.MethodGet, "/consumers", nil); code != http.StatusOK {
		t.Errorf("GET /consumers after the drop: %d", code)
	}

	// A stall outlasts the client's patience.
	emu.Inject(Fault{Path: "/upstreams", Latency: time.Minute})
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/upstreams", nil)
	if resp, err := c.http.Do(req); err == nil || !strings.Contains(err.Error(), "deadline") {
		if resp != nil {
			_ = resp.Body.Close()
		}
		t.Errorf("stalled request: %v, want the client's deadline", err)
	}
	emu.ClearFaults()
	if code, _ := c.call(http.MethodGet, "/upstreams", nil); code != http.StatusOK {
		t.Errorf("GET /upstreams after ClearFaults: %d", code)
	}
}

// TestFaultUntilCleared: a fault without a count takes every matching
// request until it is cleared.
func TestFaultUntilCleared(t *testing.T) {
	emu := New(Options{})
	emu.Inject(Fault{Status: http.StatusInternalServerError})
	for range 3 {
		rec := httptest.NewRecorder()
		emu.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
		if rec.Code != http.StatusInternalServerError {
			t.Fatalf("GET / under a standing fault: %d", rec.Code)
		}
	}
	emu.ClearFaults()
	rec := httptest.NewRecorder()
	emu.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if rec.Code != http.StatusOK {
		t.Errorf("GET / after ClearFaults: %d", rec.Code)
	}
}
