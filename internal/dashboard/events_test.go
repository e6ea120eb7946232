package dashboard_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/k3sync/k3sync/internal/dashboard"
	"github.com/k3sync/k3sync/internal/plan"
	"github.com/k3sync/k3sync/internal/view"
)

// stream reads Server-Sent Events.
type stream struct {
	t    *testing.T
	r    *bufio.Reader
	body io.Closer
}

func openStream(t *testing.T, ctx context.Context, url string, c *http.Cookie) *stream {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.AddCookie(c)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = resp.Body.Close() })
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("GET %s: %s %q", url, resp.Status, resp.Header.Get("Content-Type"))
	}
	return &stream{t: t, r: bufio.NewReader(resp.Body), body: resp.Body}
}

// next returns the next event's name and data; io.EOF when the server
// ended the stream.
func (s *stream) next() (string, string, error) {
	var event, data string
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			return "", "", err //nolint:wrapcheck // EOF is the answer
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "" && (event != "" || data != ""):
			return event, data, nil
		case strings.HasPrefix(line, "event: "):
			event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			data = strings.TrimPrefix(line, "data: ")
		}
	}
}

func (s *stream) version() string {
	s.t.Helper()
	ev, data, err := s.next()
	if err != nil || ev != "version" {
		s.t.Fatalf("want a version event, got %q %q %v", ev, data, err)
	}
	var v struct{ Version string }
	if err := json.Unmarshal([]byte(data), &v); err != nil {
		s.t.Fatal(err)
	}
	return v.Version
}

func TestEventsFollowTheBackend(t *testing.T) {
	e := newEnv(t, dashboard.WithPollInterval(10*time.Millisecond))
	srv := httptest.NewServer(e.h)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	c, csrf := e.login(viewerToken)

	page := e.do(req{path: "/tenants/checkout", cookie: c}).Body.String()
	s := openStream(t, ctx, srv.URL+"/events/tenants/checkout", c)
	v0 := s.version()
	if !strings.Contains(page, `data-version="`+v0+`"`) {
		t.Fatalf("first event %s is not the page's version", v0)
	}

	// checkout's drift is reverted: one new version, the fragment's.
	e.fb.update(func(f *fakeBackend) {
		tn := f.tenants["checkout"]
		tn.State, tn.Plan = view.Synced, &plan.Plan{Revision: head.Hash}
		f.tenants["checkout"] = tn
	})
	v1 := s.version()
	frag := e.do(req{path: "/fragments/tenants/checkout", cookie: c})
	if v1 == v0 || frag.Header().Get("X-Dashboard-Version") != v1 {
		t.Errorf("after the change: event %s (was %s), fragment %s", v1, v0, frag.Header().Get("X-Dashboard-Version"))
	}
	if !strings.Contains(frag.Body.String(), `<h1 data-tenant="checkout" data-state="synced">`) {
		t.Error("the fragment does not show the new state")
	}

	// Signing out ends the stream with "logout".
	if rec := e.do(req{method: "POST", path: "/logout", cookie: c, form: url.Values{"csrf": {csrf}}}); rec.Code != http.StatusSeeOther {
		t.Fatalf("logout: %d", rec.Code)
	}
	if ev, _, err := s.next(); ev != "logout" || err != nil {
		t.Errorf("after logout: %q %v", ev, err)
	}
	if _, _, err := s.next(); !errors.Is(err, io.EOF) {
		t.Errorf("stream not closed after logout: %v", err)
	}
}

// TestEventsEndOnShutdown: a server shutting down does not wait for open
// streams until its grace period runs out.
func TestEventsEndOnShutdown(t *testing.T) {
	e := newEnv(t, dashboard.WithPollInterval(10*time.Millisecond))
	srv := httptest.NewServer(e.h)
	defer srv.Close()
	c, _ := e.login(viewerToken)
	s := openStream(t, t.Context(), srv.URL+"/events/overview", c)
	s.version()

	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	start := time.Now()
	if err := srv.Config.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown with a stream open: %v after %s", err, time.Since(start))
	}
	if _, _, err := s.next(); !errors.Is(err, io.EOF) {
		t.Errorf("stream after shutdown: %v", err)
	}
}
