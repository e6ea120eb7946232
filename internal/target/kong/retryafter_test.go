package kong

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/k3sync/k3sync/internal/kongemu"
	"github.com/k3sync/k3sync/internal/state"
)

// TestGatewayRetryAfter: a gateway (or the rate limiter in front of it)
// that answers 429 with Retry-After gets the same request again once the
// wait is over, not before, and the apply succeeds with nothing written
// twice. A Retry-After longer than k3sync waits fails the request with
// the gateway's answer.
func TestGatewayRetryAfter(t *testing.T) {
	emu := kongemu.New(kongemu.Options{})
	// Records when each request reached the gateway.
	type seen struct {
		at   time.Time
		what string
	}
	var mu sync.Mutex
	var log []seen
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		log = append(log, seen{time.Now(), r.Method + " " + r.URL.RequestURI()})
		mu.Unlock()
		emu.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	d := example(t)
	tg := newTarget(t, front.URL, state.NewMemory(), newSink())

	hits := emu.Inject(kongemu.Fault{Method: http.MethodPut, Count: 2, Status: http.StatusTooManyRequests, RetryAfter: time.Second})
	mustApply(t, tg, d.Request())
	if hits() != 2 {
		t.Fatalf("the 429s took %d requests, want 2", hits())
	}
	if again := mustPlan(t, tg, d.Request()); len(again) != 0 {
		t.Fatalf("plan after the apply:\n%s", planText(t, again))
	}
	for entity, want := range exampleCounts {
		if got := emu.Count(entity); got != want {
			t.Errorf("%d %s, want %d (nothing duplicated)", got, entity, want)
		}
	}
	mu.Lock()
	// The first two PUTs were answered 429; each was sent again no
	// sooner than a second later.
	var puts []seen
	for _, s := range log {
		if strings.HasPrefix(s.what, "PUT ") {
			puts = append(puts, s)
		}
	}
	mu.Unlock()
	for i := range min(2, len(puts)) {
		j := i + 1
		for j < len(puts) && puts[j].what != puts[i].what {
			j++
		}
		if j == len(puts) {
			t.Errorf("%s answered 429 was not sent again", puts[i].what)
		} else if gap := puts[j].at.Sub(puts[i].at); gap < time.Second {
			t.Errorf("%s sent again %s after a 429 with Retry-After: 1", puts[i].what, gap)
		}
	}

	// A wait longer than k3sync honours: the request fails at once, with
	// the gateway's answer.
	emu.Inject(kongemu.Fault{Method: http.MethodGet, Status: http.StatusTooManyRequests, RetryAfter: 10 * time.Minute})
	if _, err := tg.Plan(t.Context(), d.Request()); err == nil || !strings.Contains(err.Error(), "429") {
		t.Errorf("plan with a 10-minute Retry-After: %v, want the gateway's 429", err)
	}
}
