package forge

import (
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// MaxRetryAfter caps how long a forge's rate limit answer makes k3sync
// wait: a garbled or hostile Retry-After or reset header cannot park the
// forge calls for longer.
const MaxRetryAfter = 15 * time.Minute

// DefaultRetryAfter is the wait after a rate limit answer whose headers
// say nothing usable (GitHub's advice for secondary limits).
const DefaultRetryAfter = time.Minute

// minRetryAfter is the shortest wait: a reset in the past (clock skew)
// or "Retry-After: 0" must not become a busy retry.
const minRetryAfter = time.Second

// RateLimitError is a forge's "slow down": HTTP 429, or GitHub's 403 with
// Retry-After or X-RateLimit-Remaining: 0. RetryAfter is how long the
// forge asked k3sync to wait, between one second and MaxRetryAfter. Until
// then every call to that forge fails with a RateLimitError without
// reaching it.
type RateLimitError struct {
	RetryAfter time.Duration
	err        error
}

func (e *RateLimitError) Error() string {
	msg := "rate limited: retry after " + e.RetryAfter.Round(100*time.Millisecond).String()
	if e.err != nil {
		msg += ": " + e.err.Error()
	}
	return msg
}

// Unwrap returns the forge's answer, if any.
func (e *RateLimitError) Unwrap() error { return e.err }

// RetryAfter returns the wait of the RateLimitError in err's chain.
func RetryAfter(err error) (time.Duration, bool) {
	var rl *RateLimitError
	if errors.As(err, &rl) {
		return rl.RetryAfter, true
	}
	return 0, false
}

// heldError: a call was not sent because the forge asked to wait; Answer
// is the status of the answer that asked ("429 Too Many Requests").
type heldError struct{ Answer string }

func (e *heldError) Error() string { return "not sent: the forge answered " + e.Answer + " before" }

// rateLimitWait reads how long an answer asks to wait. ok is false when
// the answer is not a rate limit: a 403 without rate limit headers is a
// permission error (a GitHub App's token reading /user).
//
// Retry-After (seconds or an HTTP date) comes first, then the reset time
// of GitHub's X-RateLimit-Reset (with X-RateLimit-Remaining: 0) or
// GitLab's RateLimit-Reset, both Unix seconds; without either the wait is
// DefaultRetryAfter. The wait is clamped to [1s, MaxRetryAfter].
func rateLimitWait(status int, h http.Header, now time.Time) (time.Duration, bool) {
	retryAfter := strings.TrimSpace(h.Get("Retry-After"))
	exhausted := strings.TrimSpace(h.Get("X-RateLimit-Remaining")) == "0"
	switch status {
	case http.StatusTooManyRequests:
	case http.StatusForbidden:
		if retryAfter == "" && !exhausted {
			return 0, false
		}
	default:
		return 0, false
	}
	wait, ok := parseRetryAfter(retryAfter, now)
	if !ok && exhausted {
		wait, ok = parseReset(h.Get("X-RateLimit-Reset"), now)
	}
	if !ok {
		wait, ok = parseReset(h.Get("RateLimit-Reset"), now)
	}
	if !ok {
		wait = DefaultRetryAfter
	}
	return min(max(wait, minRetryAfter), MaxRetryAfter), true
}

// parseRetryAfter reads Retry-After: delay seconds or an HTTP date. A
// number too large for an int64 is a long wait, which the caller caps.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	if n, err := strconv.ParseUint(v, 10, 64); err == nil || errors.Is(err, strconv.ErrRange) {
		if err != nil || n > uint64(MaxRetryAfter/time.Second) {
			return MaxRetryAfter, true
		}
		return time.Duration(n) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return t.Sub(now), true
	}
	return 0, false
}

// parseReset reads a reset time in Unix seconds.
func parseReset(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	n, err := strconv.ParseInt(v, 10, 64)
	switch {
	case errors.Is(err, strconv.ErrRange) && !strings.HasPrefix(v, "-"):
		return MaxRetryAfter, true
	case err != nil:
		return 0, false
	case n > math.MaxInt64/int64(time.Second) || n > now.Unix()+int64(MaxRetryAfter/time.Second):
		return MaxRetryAfter, true
	}
	return time.Unix(n, 0).Sub(now), true
}

// gate is the transport under a forge client. It remembers until when
// the forge asked to wait, from any answer, and until then fails every
// request without sending it: no client library's retry, no concurrent
// caller (the review loop, an apply status) reaches the forge early.
type gate struct {
	base http.RoundTripper
	now  func() time.Time

	mu    sync.Mutex
	until time.Time
	// answer is the status of the answer that set until.
	answer string
}

// gated returns a copy of hc whose transport is gated.
func gated(hc *http.Client) *http.Client {
	base := hc.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	g := &gate{base: base, now: time.Now}
	c := *hc
	c.Transport = g
	return &c
}

// RoundTrip sends req unless the forge asked to wait.
func (g *gate) RoundTrip(req *http.Request) (*http.Response, error) {
	if wait, answer := g.wait(); wait > 0 {
		if req.Body != nil {
			_ = req.Body.Close()
		}
		return nil, &RateLimitError{RetryAfter: wait, err: &heldError{Answer: answer}}
	}
	resp, err := g.base.RoundTrip(req)
	if err != nil {
		return nil, err //nolint:wrapcheck // the transport's own error
	}
	if wait, ok := rateLimitWait(resp.StatusCode, resp.Header, g.now()); ok {
		g.hold(wait, resp.Status)
	}
	return resp, nil
}

// wait is how long calls are still held back, and by which answer.
func (g *gate) wait() (time.Duration, string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.until.Sub(g.now()), g.answer
}

func (g *gate) hold(d time.Duration, answer string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if t := g.now().Add(d); t.After(g.until) {
		g.until, g.answer = t, answer
	}
}

// rateLimited makes err a RateLimitError when resp asked to wait.
func rateLimited(resp *http.Response, err error) error {
	if resp == nil || err == nil {
		return err
	}
	if _, ok := RetryAfter(err); ok {
		return err
	}
	if wait, ok := rateLimitWait(resp.StatusCode, resp.Header, time.Now()); ok {
		return &RateLimitError{RetryAfter: wait, err: err}
	}
	return err
}
