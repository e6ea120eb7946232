package kong

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// sessionTransport is the transport of one plan, apply or rotation. It
// adds the admin token, answers repeated schema reads from memory and
// bounds the writes in flight on the gateway.
//
// Schemas are read once per session: go-database-reconciler asks for them
// per state it builds (one per tenant) and per plugin it compares, which
// would make the number of requests of a plan grow with the tenants.
type sessionTransport struct {
	base    http.RoundTripper
	token   string
	origin  string // scheme://host of the Admin API
	schemas string // path prefix of /schemas/
	writes  chan struct{}

	mu    sync.Mutex
	cache map[string]*cachedResponse
}

type cachedResponse struct {
	mu     sync.Mutex
	ok     bool
	status int
	header http.Header
	body   []byte
	// sum is the digest of status and body, what the plan memo compares.
	sum fingerprint
}

func (s *sessionTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if s.token != "" {
		r = r.Clone(r.Context())
		r.Header.Set(TokenHeader, s.token)
	}
	switch {
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, s.schemas):
		return s.cached(r)
	case r.Method == http.MethodGet || r.Method == http.MethodHead:
		return s.send(r)
	}
	select {
	case s.writes <- struct{}{}:
	case <-r.Context().Done():
		return nil, fmt.Errorf("kong %s %s: %w", r.Method, r.URL.Path, r.Context().Err())
	}
	defer func() { <-s.writes }()
	return s.send(r)
}

// Retry-After bounds: how often a request refused with one is sent again,
// and the longest wait honoured (a longer one fails the request, and the
// run's retry comes later).
const (
	retryAfterAttempts = 3
	maxRetryAfter      = 30 * time.Second
)

// send sends r, and sends it again once the wait is over when the
// gateway (or a rate limiter in front of it) answers 429 or 503 with a
// Retry-After in seconds: such an answer says the request was not acted
// on. Other answers, and errors, are the caller's.
func (s *sessionTransport) send(r *http.Request) (*http.Response, error) {
	for attempt := 1; ; attempt++ {
		resp, err := s.base.RoundTrip(r)
		if err != nil {
			return nil, err //nolint:wrapcheck // a transport passes errors through
		}
		wait, ok := retryAfter(resp)
		if !ok || attempt > retryAfterAttempts {
			return resp, nil
		}
		next := r.Clone(r.Context())
		if r.Body != nil && r.Body != http.NoBody {
			if r.GetBody == nil {
				return resp, nil
			}
			if next.Body, err = r.GetBody(); err != nil {
				return resp, nil //nolint:nilerr // the answer stands
			}
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		_ = resp.Body.Close()
		timer := time.NewTimer(wait)
		select {
		case <-timer.C:
		case <-r.Context().Done():
			timer.Stop()
			return nil, fmt.Errorf("kong %s %s: waiting %s as the gateway's Retry-After asked: %w", r.Method, r.URL.Path, wait, r.Context().Err())
		}
		r = next
	}
}

// retryAfter is the wait a 429 or 503 answer asks for, if it asks for one
// of at most maxRetryAfter in seconds.
func retryAfter(resp *http.Response) (time.Duration, bool) {
	if resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusServiceUnavailable {
		return 0, false
	}
	secs, err := strconv.Atoi(strings.TrimSpace(resp.Header.Get("Retry-After")))
	if err != nil || secs < 0 || time.Duration(secs)*time.Second > maxRetryAfter {
		return 0, false
	}
	return time.Duration(secs) * time.Second, true
}

// cached serves a GET from the session's cache, sending it once. Answers
// that cannot change within a session are kept: schemas, and 404 for the
// Enterprise schemas an open-source gateway does not have (which
// go-database-reconciler asks for every time it builds a state).
func (s *sessionTransport) cached(r *http.Request) (*http.Response, error) {
	key := r.URL.RequestURI()
	s.mu.Lock()
	c, ok := s.cache[key]
	if !ok {
		c = &cachedResponse{}
		s.cache[key] = c
	}
	s.mu.Unlock()

	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.ok {
		resp, err := s.send(r)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNotFound {
			return resp, nil
		}
		body, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close() // fully read
		if err != nil {
			return nil, fmt.Errorf("kong GET %s: %w", r.URL.Path, err)
		}
		c.ok, c.status, c.header, c.body = true, resp.StatusCode, resp.Header.Clone(), body
		c.sum = answerSum(c.status, body)
	}
	return &http.Response{
		Status:        fmt.Sprintf("%d %s", c.status, http.StatusText(c.status)),
		StatusCode:    c.status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        c.header.Clone(),
		Body:          io.NopCloser(bytes.NewReader(c.body)),
		ContentLength: int64(len(c.body)),
		Request:       r,
	}, nil
}

// answerSum is the digest of a schema answer: a 404 that becomes a
// schema is a change too.
func answerSum(status int, body []byte) fingerprint {
	h := sha256.New()
	h.Write([]byte(strconv.Itoa(status) + "\n"))
	h.Write(body)
	return fingerprint(h.Sum(nil))
}

// schemaSum is the digest of the gateway's answer to GET uri (a request
// URI under /schemas/), read through the session's cache.
func (s *sessionTransport) schemaSum(ctx context.Context, uri string) (fingerprint, error) {
	r, err := http.NewRequestWithContext(ctx, http.MethodGet, s.origin+uri, nil)
	if err != nil {
		return fingerprint{}, fmt.Errorf("kong GET %s: %w", uri, err)
	}
	resp, err := s.RoundTrip(r)
	if err != nil {
		return fingerprint{}, fmt.Errorf("kong GET %s: %w", uri, err)
	}
	_ = resp.Body.Close() // the cache has the body
	s.mu.Lock()
	c := s.cache[uri]
	s.mu.Unlock()
	if c == nil {
		return fingerprint{}, fmt.Errorf("kong GET %s: not a schema", uri)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.ok {
		return fingerprint{}, fmt.Errorf("kong GET %s: %s", uri, resp.Status)
	}
	return c.sum, nil
}

// schemaSums are the digests of the schema answers the session read.
func (s *sessionTransport) schemaSums() map[string]fingerprint {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]fingerprint, len(s.cache))
	for uri, c := range s.cache {
		c.mu.Lock()
		if c.ok {
			out[uri] = c.sum
		}
		c.mu.Unlock()
	}
	return out
}
