package forge

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"
)

func TestRateLimitWait(t *testing.T) {
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	unix := func(d time.Duration) string { return strconv.FormatInt(now.Add(d).Unix(), 10) }
	h := func(kv ...string) http.Header {
		out := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			out.Set(kv[i], kv[i+1])
		}
		return out
	}
	for _, tc := range []struct {
		name   string
		status int
		header http.Header
		want   time.Duration
		ok     bool
	}{
		{"429 Retry-After seconds", 429, h("Retry-After", "2"), 2 * time.Second, true},
		{"429 Retry-After date", 429, h("Retry-After", now.Add(90*time.Second).Format(http.TimeFormat)), 90 * time.Second, true},
		{"GitHub primary limit", 403, h("X-RateLimit-Remaining", "0", "X-RateLimit-Reset", unix(5*time.Minute)), 5 * time.Minute, true},
		{"GitHub secondary limit", 403, h("Retry-After", "30"), 30 * time.Second, true},
		{"GitHub 429 primary limit", 429, h("X-RateLimit-Remaining", "0", "X-RateLimit-Reset", unix(time.Minute)), time.Minute, true},
		{"GitLab RateLimit-Reset", 429, h("RateLimit-Reset", unix(40*time.Second)), 40 * time.Second, true},
		{"Retry-After wins over a reset", 429, h("Retry-After", "3", "RateLimit-Reset", unix(time.Hour)), 3 * time.Second, true},
		{"a 403 without rate limit headers is a permission error", 403, h(), 0, false},
		{"remaining not zero", 403, h("X-RateLimit-Remaining", "12", "X-RateLimit-Reset", unix(time.Minute)), 0, false},
		{"a 500 is not a rate limit", 500, h("Retry-After", "2"), 0, false},
		{"bare 429", 429, h(), DefaultRetryAfter, true},
		{"garbled Retry-After", 429, h("Retry-After", "soon"), DefaultRetryAfter, true},
		{"negative Retry-After", 429, h("Retry-After", "-5"), DefaultRetryAfter, true},
		{"Retry-After zero is not a busy retry", 429, h("Retry-After", "0"), time.Second, true},
		{"huge Retry-After is capped", 429, h("Retry-After", "86400"), MaxRetryAfter, true},
		{"overflowing Retry-After is capped", 429, h("Retry-After", "99999999999999999999999"), MaxRetryAfter, true},
		{"far Retry-After date is capped", 429, h("Retry-After", now.AddDate(10, 0, 0).Format(http.TimeFormat)), MaxRetryAfter, true},
		{"reset in the past", 403, h("X-RateLimit-Remaining", "0", "X-RateLimit-Reset", unix(-time.Hour)), time.Second, true},
		{"far reset is capped", 403, h("X-RateLimit-Remaining", "0", "X-RateLimit-Reset", "9223372036854775807"), MaxRetryAfter, true},
		{"overflowing reset is capped", 429, h("RateLimit-Reset", "99999999999999999999999"), MaxRetryAfter, true},
		{"garbled reset", 429, h("RateLimit-Reset", "tomorrow"), DefaultRetryAfter, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := rateLimitWait(tc.status, tc.header, now)
			if got != tc.want || ok != tc.ok {
				t.Errorf("rateLimitWait(%d, %v) = %v, %v; want %v, %v", tc.status, tc.header, got, ok, tc.want, tc.ok)
			}
		})
	}
}

// limiter answers a call with a rate limit n times, then with ok; it
// records when each call came and until when each rate limit answer
// asked to wait.
type limiter struct {
	mu sync.Mutex
	n  int
	// limit returns the headers of one rate limit answer and the time
	// before which the client must not call again.
	limit  func(now time.Time) (http.Header, time.Time)
	status int
	ok     func(r *http.Request, body []byte) (int, any, http.Header)

	calls []time.Time
	until []time.Time
}

func (l *limiter) answer(r *http.Request, body []byte) (int, any, http.Header) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	l.calls = append(l.calls, now)
	if len(l.until) < l.n {
		h, until := l.limit(now)
		l.until = append(l.until, until)
		return l.status, map[string]any{"message": "API rate limit exceeded"}, h
	}
	return l.ok(r, body)
}

func retryAfter2(now time.Time) (http.Header, time.Time) {
	return http.Header{"Retry-After": {"2"}}, now.Add(2 * time.Second)
}

// githubReset is GitHub's primary limit: a reset 2s ahead, in whole
// Unix seconds.
func githubReset(now time.Time) (http.Header, time.Time) {
	reset := now.Add(2 * time.Second).Unix()
	return http.Header{"X-Ratelimit-Remaining": {"0"}, "X-Ratelimit-Reset": {strconv.FormatInt(reset, 10)}}, time.Unix(reset, 0)
}

// giteaRecAPI is a recording Gitea: the token in the Authorization header.
var giteaRecAPI = forgeAPI{
	auth: func(r *http.Request) string {
		if got := r.Header.Get("Authorization"); got != "token "+testToken {
			return fmt.Sprintf("Authorization = %q, want the token", got)
		}
		return ""
	},
	notFound: `{"message":"The target couldn't be found."}`,
}

// TestRateLimitedStatus: each forge answers a status with a rate limit
// twice, then takes it. The client returns a RateLimitError carrying the
// wait; a call made before the wait elapsed fails at once without
// reaching the forge; a call after it goes through. The server's clock
// proves no call came early, and the status is posted exactly once.
func TestRateLimitedStatus(t *testing.T) {
	const sha = "0123456789abcdef0123456789abcdef01234567"
	created := reply(201, map[string]any{"id": 1})
	for _, tc := range []struct {
		name   string
		api    forgeAPI
		path   string
		status int
		limit  func(time.Time) (http.Header, time.Time)
		forge  func(t *testing.T, url string, hc *http.Client) Forge
	}{
		{"GitHub 429 Retry-After", githubAPI, "/api/v3/repos/o/r/statuses/" + sha, 429, retryAfter2, newGH},
		{"GitHub 403 secondary limit", githubAPI, "/api/v3/repos/o/r/statuses/" + sha, 403, retryAfter2, newGH},
		{"GitHub 403 primary limit", githubAPI, "/api/v3/repos/o/r/statuses/" + sha, 403, githubReset, newGH},
		{"GitLab 429 Retry-After", gitlabAPI, glAPI + "/statuses/" + sha, 429, retryAfter2, newGL},
		{"GitLab 429 RateLimit-Reset", gitlabAPI, glAPI + "/statuses/" + sha, 429, func(now time.Time) (http.Header, time.Time) {
			reset := now.Add(2 * time.Second).Unix()
			return http.Header{"Ratelimit-Reset": {strconv.FormatInt(reset, 10)}}, time.Unix(reset, 0)
		}, newGL},
		{"Gitea 429 Retry-After", giteaRecAPI, "/api/v1/repos/o/r/statuses/" + sha, 429, retryAfter2, newGT},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec, srv := newRecording(t, tc.api)
			lim := &limiter{n: 2, limit: tc.limit, status: tc.status, ok: created}
			rec.on("POST", tc.path, lim.answer)
			f := tc.forge(t, srv.URL, srv.Client())
			st := Status{Context: ContextApply, State: Success, Description: "Applied"}
			held := 0
			for attempt := 0; ; attempt++ {
				if attempt > 10 {
					t.Fatal("the status was never posted")
				}
				err := f.SetStatus(t.Context(), sha, st)
				if err == nil {
					break
				}
				t.Logf("attempt %d: %v", attempt+1, err)
				wait, ok := RetryAfter(err)
				if !ok || wait <= 0 || wait > 3*time.Second {
					t.Fatalf("SetStatus: %v; want a RateLimitError of about 2s", err)
				}
				// At once again: held back by the client, not sent.
				before := len(lim.snapshot())
				err = f.SetStatus(t.Context(), sha, st)
				if _, ok := RetryAfter(err); !ok {
					t.Fatalf("a call during the wait: %v; want a RateLimitError", err)
				}
				if after := len(lim.snapshot()); after != before {
					t.Fatal("a call during the wait reached the forge")
				}
				held++
				time.Sleep(wait)
			}
			calls, until := lim.snapshot(), lim.untils()
			if len(calls) != 3 || held != 2 {
				t.Fatalf("%d calls reached the forge (want 2 limited + 1 posted), %d held back (want 2)", len(calls), held)
			}
			for i, u := range until {
				if next := calls[i+1]; next.Before(u) {
					t.Errorf("call %d came %v before the wait of answer %d elapsed", i+2, u.Sub(next), i+1)
				}
			}
		})
	}
}

func (l *limiter) snapshot() []time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]time.Time(nil), l.calls...)
}

func (l *limiter) untils() []time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]time.Time(nil), l.until...)
}

func newGH(t *testing.T, url string, hc *http.Client) Forge {
	t.Helper()
	f, err := NewGitHub(url+"/api/v3", "o/r", testToken, hc)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func newGL(t *testing.T, url string, hc *http.Client) Forge {
	t.Helper()
	f, err := NewGitLab(url, glProject, glToken, hc)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func newGT(t *testing.T, url string, hc *http.Client) Forge {
	t.Helper()
	f, err := NewGitea(url, "o/r", testToken, hc)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestRateLimitCapped: a hostile or garbled header cannot park the
// forge: the wait is capped, or the default when it does not parse, and
// a 403 that is not a rate limit (a GitHub App reading /user) stays a
// plain API error.
func TestRateLimitCapped(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		header http.Header
		want   time.Duration
	}{
		{"huge Retry-After", 429, http.Header{"Retry-After": {"31536000"}}, MaxRetryAfter},
		{"far reset", 403, http.Header{"X-Ratelimit-Remaining": {"0"}, "X-Ratelimit-Reset": {"99999999999"}}, MaxRetryAfter},
		{"garbled", 429, http.Header{"Retry-After": {"Thursday-ish"}}, DefaultRetryAfter},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec, srv := newRecorder(t)
			rec.on("POST", "/api/v3/repos/o/r/statuses/abc", func(*http.Request, []byte) (int, any, http.Header) {
				return tc.status, map[string]any{"message": "slow down"}, tc.header
			})
			f := newGH(t, srv.URL, srv.Client())
			err := f.SetStatus(t.Context(), "abc", Status{Context: ContextPlan, State: Pending})
			wait, ok := RetryAfter(err)
			if !ok || wait > tc.want || wait < tc.want-5*time.Second {
				t.Fatalf("SetStatus: %v (wait %v); want a RateLimitError of %v", err, wait, tc.want)
			}
			if wait > MaxRetryAfter {
				t.Errorf("wait %v over the cap %v", wait, MaxRetryAfter)
			}
		})
	}

	rec, srv := newRecorder(t)
	rec.on("POST", "/api/v3/repos/o/r/statuses/abc", reply(403, map[string]any{"message": "Resource not accessible by integration"}))
	f := newGH(t, srv.URL, srv.Client())
	for range 2 {
		err := f.SetStatus(t.Context(), "abc", Status{Context: ContextPlan, State: Pending})
		var apiErr *APIError
		if _, limited := RetryAfter(err); limited || !errors.As(err, &apiErr) || apiErr.StatusCode != 403 {
			t.Fatalf("a permission 403: %v; want a plain APIError", err)
		}
	}
	if n := len(rec.take()); n != 2 {
		t.Errorf("%d calls: a permission error must not hold later calls back", n)
	}
}

// TestGitHubRateLimitIsNotAnApp: a rate limited /user (403 with
// Retry-After) is a wait, not the 403 of a GitHub App's token: the token
// is not taken for an app's, whose comments would be any Bot's.
func TestGitHubRateLimitIsNotAnApp(t *testing.T) {
	rec, srv := newRecorder(t)
	rec.on("GET", "/api/v3/user", func(*http.Request, []byte) (int, any, http.Header) {
		return 403, map[string]any{"message": "You have exceeded a secondary rate limit"}, http.Header{"Retry-After": {"1"}}
	})
	gh, err := NewGitHub(srv.URL+"/api/v3", "o/r", testToken, srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	err = gh.UpsertComment(t.Context(), 7, "<!-- m -->", "body")
	if _, ok := RetryAfter(err); !ok {
		t.Fatalf("UpsertComment: %v; want a RateLimitError", err)
	}
	if calls := rec.take(); len(calls) != 1 || calls[0].Path != "/api/v3/user" {
		t.Errorf("calls %+v; want only GET /user", calls)
	}
	if gh.app {
		t.Error("a rate limited /user made the token an app's")
	}
}
