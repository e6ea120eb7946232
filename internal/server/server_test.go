package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/k3sync/k3sync/internal/config"
	"github.com/k3sync/k3sync/internal/metrics"
	"github.com/k3sync/k3sync/internal/server"
	"github.com/k3sync/k3sync/internal/state"
	"github.com/k3sync/k3sync/internal/view"
)

func newServer(t *testing.T, b server.Backend, h server.Hooks, opts ...server.Option) *server.Server {
	t.Helper()
	s, err := server.New(testConfig(t), b, h, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

type request struct {
	method, path, token, body string
	header                    http.Header
}

func serve(t *testing.T, h http.Handler, r request) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequestWithContext(t.Context(), r.method, r.path, strings.NewReader(r.body))
	if r.token != "" {
		req.Header.Set("Authorization", "Bearer "+r.token)
	}
	for k, v := range r.header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func errorOf(t *testing.T, rec *httptest.ResponseRecorder) string {
	t.Helper()
	var e struct{ Error string }
	if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil {
		t.Fatalf("error body %q: %v", rec.Body, err)
	}
	return e.Error
}

func TestAuth(t *testing.T) {
	tests := []struct {
		name       string
		req        request
		wantStatus int
		wantError  string
	}{
		{"no token", request{method: "GET", path: "/api/v1/overview"}, 401, "authentication required: send Authorization: Bearer TOKEN"},
		{"wrong token", request{method: "GET", path: "/api/v1/overview", token: "nope"}, 401, "invalid token"},
		{"token prefix", request{method: "GET", path: "/api/v1/overview", token: viewerToken[:10]}, 401, "invalid token"},
		{"basic scheme", request{method: "GET", path: "/api/v1/overview", header: http.Header{"Authorization": {"Basic " + viewerToken}}}, 401, "authentication required: send Authorization: Bearer TOKEN"},
		{"lower-case bearer", request{method: "GET", path: "/api/v1/overview", header: http.Header{"Authorization": {"bearer " + viewerToken}}}, 200, ""},
		{"viewer reads", request{method: "GET", path: "/api/v1/overview", token: viewerToken}, 200, ""},
		{"operator reads", request{method: "GET", path: "/api/v1/overview", token: operatorToken}, 200, ""},
		{"viewer sync", request{method: "POST", path: "/api/v1/sync", token: viewerToken}, 403, "token ci-viewer has role viewer; POST /api/v1/sync needs operator"},
		{"viewer tenant sync", request{method: "POST", path: "/api/v1/tenants/payments/sync", token: viewerToken}, 403, "token ci-viewer has role viewer; POST /api/v1/tenants/payments/sync needs operator"},
		{"viewer suspend", request{method: "POST", path: "/api/v1/tenants/payments/suspend", token: viewerToken}, 403, "token ci-viewer has role viewer; POST /api/v1/tenants/payments/suspend needs operator"},
		{"viewer resume", request{method: "POST", path: "/api/v1/tenants/payments/resume", token: viewerToken}, 403, "token ci-viewer has role viewer; POST /api/v1/tenants/payments/resume needs operator"},
		{"no token sync", request{method: "POST", path: "/api/v1/sync"}, 401, "authentication required: send Authorization: Bearer TOKEN"},
		{"unknown api path needs a token", request{method: "GET", path: "/api/v2/nothing"}, 401, "authentication required: send Authorization: Bearer TOKEN"},
		{"unknown api path", request{method: "GET", path: "/api/v2/nothing", token: viewerToken}, 404, "GET /api/v2/nothing: no such endpoint"},
		{"wrong method", request{method: "GET", path: "/api/v1/sync", token: viewerToken}, 405, "GET /api/v1/sync: method not allowed"},
		{"healthz open", request{method: "GET", path: "/healthz"}, 200, ""},
		{"readyz open", request{method: "GET", path: "/readyz"}, 200, ""},
	}
	h := newServer(t, newFakeBackend(), &fakeHooks{}).Handler()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := serve(t, h, tt.req)
			if rec.Code != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.wantStatus, rec.Body)
			}
			if tt.wantError != "" {
				if diff := cmp.Diff(tt.wantError, errorOf(t, rec)); diff != "" {
					t.Errorf("error (-want +got):\n%s", diff)
				}
			}
			if rec.Code == 401 && rec.Header().Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
			if rec.Header().Get("X-Request-Id") == "" {
				t.Error("no X-Request-Id")
			}
		})
	}
}

func TestReadEndpoints(t *testing.T) {
	b := newFakeBackend()
	h := newServer(t, b, nil).Handler()
	tests := []struct {
		path       string
		wantStatus int
		into       any
		want       any
	}{
		{"/api/v1/overview", 200, &view.Overview{}, &b.overview},
		{"/api/v1/tenants", 200, &[]view.TenantSummary{}, &b.overview.Tenants},
		{"/api/v1/tenants/payments", 200, &view.Tenant{}, nil},
		{"/api/v1/tenants/nobody", 404, nil, nil},
		{"/api/v1/tenants/nobody/plan", 404, nil, nil},
		{"/api/v1/drift", 200, &[]state.Drift{}, nil},
		{"/api/v1/history?tenant=payments&limit=5", 200, &[]state.Run{}, nil},
		{"/api/v1/history?limit=0", 400, nil, nil},
		{"/api/v1/history?limit=x", 400, nil, nil},
		{"/api/v1/syncs/done-1", 200, &view.Sync{}, nil},
		{"/api/v1/syncs/unknown", 404, nil, nil},
		{"/api/v1/tenants/payments/plan?format=yaml", 400, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			rec := serve(t, h, request{method: "GET", path: tt.path, token: viewerToken})
			if rec.Code != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.wantStatus, rec.Body)
			}
			if rec.Code >= 400 {
				if errorOf(t, rec) == "" {
					t.Error("no error message")
				}
				return
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			if err := json.Unmarshal(rec.Body.Bytes(), tt.into); err != nil {
				t.Fatal(err)
			}
			if tt.want != nil {
				if diff := cmp.Diff(tt.want, tt.into); diff != "" {
					t.Errorf("body (-want +got):\n%s", diff)
				}
			}
		})
	}
	if diff := cmp.Diff([]historyCall{{"payments", 5}}, b.history); diff != "" {
		t.Errorf("history calls (-want +got):\n%s", diff)
	}
	serve(t, h, request{method: "GET", path: "/api/v1/history", token: viewerToken})
	if got := b.history[1]; got != (historyCall{"", 20}) {
		t.Errorf("default history call %+v", got)
	}
}

func TestEmptyLists(t *testing.T) {
	b := newFakeBackend()
	b.overview.Tenants, b.drift, b.runs = nil, nil, nil
	h := newServer(t, b, nil).Handler()
	for _, path := range []string{"/api/v1/tenants", "/api/v1/drift", "/api/v1/history"} {
		rec := serve(t, h, request{method: "GET", path: path, token: viewerToken})
		if got := strings.TrimSpace(rec.Body.String()); got != "[]" {
			t.Errorf("%s: %q, want []", path, got)
		}
	}
}

func TestBackendFailure(t *testing.T) {
	b := newFakeBackend()
	b.fail = errors.New("journal: disk on fire")
	h := newServer(t, b, nil).Handler()
	rec := serve(t, h, request{method: "GET", path: "/api/v1/overview", token: viewerToken})
	if rec.Code != 500 || errorOf(t, rec) != "journal: disk on fire" {
		t.Errorf("%d %s", rec.Code, rec.Body)
	}
}

func TestPlanFormats(t *testing.T) {
	h := newServer(t, newFakeBackend(), nil).Handler()
	tests := []struct {
		format, contentType string
		contains            []string
	}{
		{"", "application/json", []string{`"summary"`, `"after": "(sensitive)"`, `"path": "tags"`}},
		{"json", "application/json", []string{`"summary"`, `"after": "(sensitive)"`}},
		{"text", "text/plain; charset=utf-8", []string{"Tenant payments", "key: (sensitive) → (sensitive)", "Plan: 0 to create, 1 to update"}},
		{"markdown", "text/markdown; charset=utf-8", []string{"**Plan** for `abc123`", "```diff", "key: (sensitive) → (sensitive)"}},
	}
	for _, tt := range tests {
		t.Run(tt.format, func(t *testing.T) {
			rec := serve(t, h, request{method: "GET", path: "/api/v1/tenants/payments/plan?format=" + tt.format, token: viewerToken})
			if rec.Code != 200 {
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			if ct := rec.Header().Get("Content-Type"); ct != tt.contentType {
				t.Errorf("Content-Type %q, want %q", ct, tt.contentType)
			}
			for _, want := range tt.contains {
				if !strings.Contains(rec.Body.String(), want) {
					t.Errorf("body lacks %q:\n%s", want, rec.Body)
				}
			}
		})
	}
}

// TestNoSecretInResponses reads every response that carries field values
// and looks for the sensitive value.
func TestNoSecretInResponses(t *testing.T) {
	b := newFakeBackend()
	b.syncs["sync-1"] = []view.Sync{{Phase: view.Done, Runs: b.runs}}
	h := newServer(t, b, nil).Handler()
	reqs := []request{
		{method: "GET", path: "/api/v1/tenants/payments", token: viewerToken},
		{method: "GET", path: "/api/v1/tenants/payments/plan?format=json", token: viewerToken},
		{method: "GET", path: "/api/v1/tenants/payments/plan?format=text", token: viewerToken},
		{method: "GET", path: "/api/v1/tenants/payments/plan?format=markdown", token: viewerToken},
		{method: "GET", path: "/api/v1/drift", token: viewerToken},
		{method: "GET", path: "/api/v1/history", token: viewerToken},
		{method: "GET", path: "/api/v1/syncs/done-1", token: viewerToken},
		{method: "POST", path: "/api/v1/sync", token: operatorToken},
	}
	for _, r := range reqs {
		rec := serve(t, h, r)
		if rec.Code >= 300 {
			t.Fatalf("%s %s: %d %s", r.method, r.path, rec.Code, rec.Body)
		}
		if strings.Contains(rec.Body.String(), secretValue) {
			t.Errorf("%s %s shows the secret:\n%s", r.method, r.path, rec.Body)
		}
		if !strings.Contains(rec.Body.String(), "(sensitive)") {
			t.Errorf("%s %s: no redaction marker:\n%s", r.method, r.path, rec.Body)
		}
	}
	// Redaction copies: the backend's values are untouched.
	if got := b.tenants["payments"].Plan.Changes[0].Fields[0].After; got != secretValue {
		t.Errorf("backend plan modified: %v", got)
	}
	if got := b.drift[0].Items[0].Fields[0].After; got != secretValue {
		t.Errorf("backend drift modified: %v", got)
	}
	if got := b.runs[0].Changes[0].Fields[0].After; got != secretValue {
		t.Errorf("backend run modified: %v", got)
	}
}

func TestTriggerAndSuspend(t *testing.T) {
	b := newFakeBackend()
	h := newServer(t, b, nil).Handler()

	rec := serve(t, h, request{method: "POST", path: "/api/v1/sync", token: operatorToken})
	if rec.Code != 202 || rec.Header().Get("Location") != "/api/v1/syncs/sync-1" {
		t.Fatalf("POST /api/v1/sync: %d Location %q: %s", rec.Code, rec.Header().Get("Location"), rec.Body)
	}
	var s view.Sync
	if err := json.Unmarshal(rec.Body.Bytes(), &s); err != nil {
		t.Fatal(err)
	}
	if s.ID != "sync-1" || s.Phase != view.Queued {
		t.Errorf("sync %+v", s)
	}
	rec = serve(t, h, request{method: "POST", path: "/api/v1/tenants/payments/sync", token: operatorToken, body: `{"allowMassDeletion": true, "who": "mallory"}`})
	if rec.Code != 202 || rec.Header().Get("Location") != "/api/v1/syncs/sync-2" {
		t.Fatalf("POST tenant sync: %d %s", rec.Code, rec.Body)
	}
	bad := []struct {
		req  request
		code int
	}{
		{request{method: "POST", path: "/api/v1/tenants/nobody/sync", token: operatorToken}, 404},
		{request{method: "POST", path: "/api/v1/sync", token: operatorToken, body: `{"allowMassDeletions": true}`}, 400},
		{request{method: "POST", path: "/api/v1/sync", token: operatorToken, body: `{} {}`}, 400},
		{request{method: "POST", path: "/api/v1/sync", token: operatorToken, body: `{`}, 400},
		{request{method: "POST", path: "/api/v1/tenants/payments/sync", token: operatorToken, body: `{"tenant": "checkout"}`}, 400},
		{request{method: "POST", path: "/api/v1/sync", token: operatorToken, body: `{"tenant": "` + strings.Repeat("x", 2<<20) + `"}`}, 413},
	}
	for _, tt := range bad {
		if rec := serve(t, h, tt.req); rec.Code != tt.code {
			t.Errorf("%s %s %.40q: %d, want %d: %s", tt.req.method, tt.req.path, tt.req.body, rec.Code, tt.code, rec.Body)
		}
	}
	want := []view.TriggerRequest{{Who: "alice"}, {Tenant: "payments", Who: "alice", AllowMassDeletion: true}}
	if diff := cmp.Diff(want, b.triggered); diff != "" {
		t.Errorf("triggers (-want +got):\n%s", diff)
	}
	// A full sync queue is the client's to retry later: 429, not 500.
	b.mu.Lock()
	b.busy = true
	b.mu.Unlock()
	if rec := serve(t, h, request{method: "POST", path: "/api/v1/sync", token: operatorToken}); rec.Code != 429 || rec.Header().Get("Retry-After") != "10" {
		t.Errorf("POST /api/v1/sync on a full queue: %d Retry-After %q: %s", rec.Code, rec.Header().Get("Retry-After"), rec.Body)
	}
	b.mu.Lock()
	b.busy = false
	b.mu.Unlock()

	for _, p := range []string{"/api/v1/tenants/payments/suspend", "/api/v1/tenants/payments/resume"} {
		if rec := serve(t, h, request{method: "POST", path: p, token: operatorToken}); rec.Code != 204 || rec.Body.Len() != 0 {
			t.Errorf("%s: %d %s", p, rec.Code, rec.Body)
		}
	}
	if rec := serve(t, h, request{method: "POST", path: "/api/v1/tenants/nobody/suspend", token: operatorToken}); rec.Code != 404 {
		t.Errorf("suspend unknown tenant: %d", rec.Code)
	}
	if diff := cmp.Diff([]suspendCall{{"payments", true, "alice"}, {"payments", false, "alice"}}, b.suspended); diff != "" {
		t.Errorf("suspends (-want +got):\n%s", diff)
	}
}

func TestReadyz(t *testing.T) {
	b := newFakeBackend()
	b.setReady(errors.New("first sync not finished"))
	h := newServer(t, b, nil).Handler()
	rec := serve(t, h, request{method: "GET", path: "/readyz"})
	if rec.Code != 503 || errorOf(t, rec) != "not ready: first sync not finished" {
		t.Errorf("before ready: %d %s", rec.Code, rec.Body)
	}
	b.setReady(nil)
	if rec := serve(t, h, request{method: "GET", path: "/readyz"}); rec.Code != 200 {
		t.Errorf("ready: %d %s", rec.Code, rec.Body)
	}
	if rec := serve(t, h, request{method: "GET", path: "/healthz"}); rec.Code != 200 || rec.Body.String() != "ok\n" {
		t.Errorf("healthz: %d %q", rec.Code, rec.Body)
	}
}

func TestMetricsEndpoint(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := metrics.New(reg)
	m.ObserveRun(state.Run{Tenant: "payments", Trigger: state.TriggerManual, Result: state.ResultSynced, Started: t0, Finished: t0.Add(time.Second)})
	m.SetRevision("abc123")

	open := newServer(t, newFakeBackend(), nil, server.WithMetrics(reg)).Handler()
	rec := serve(t, open, request{method: "GET", path: "/metrics"})
	if rec.Code != 200 {
		t.Fatalf("status %d", rec.Code)
	}
	for _, want := range []string{
		`k3sync_sync_runs_total{result="synced",tenant="payments",trigger="manual"} 1`,
		`k3sync_sync_duration_seconds_count{result="synced",tenant="payments"} 1`,
		`k3sync_last_revision_info{revision="abc123"} 1`,
	} {
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("metrics lack %q", want)
		}
	}

	closed := newServer(t, newFakeBackend(), nil, server.WithMetrics(reg), server.WithAuthenticatedMetrics()).Handler()
	if rec := serve(t, closed, request{method: "GET", path: "/metrics"}); rec.Code != 401 {
		t.Errorf("authenticated metrics without token: %d", rec.Code)
	}
	if rec := serve(t, closed, request{method: "GET", path: "/metrics", token: viewerToken}); rec.Code != 200 {
		t.Errorf("authenticated metrics with token: %d", rec.Code)
	}
	if rec := serve(t, newServer(t, newFakeBackend(), nil).Handler(), request{method: "GET", path: "/metrics"}); rec.Code != 404 {
		t.Errorf("metrics without WithMetrics: %d", rec.Code)
	}
}

func TestWithHandler(t *testing.T) {
	dash := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "dashboard") })
	h := newServer(t, newFakeBackend(), nil, server.WithHandler("/", dash)).Handler()
	if rec := serve(t, h, request{method: "GET", path: "/tenants/payments"}); rec.Body.String() != "dashboard" {
		t.Errorf("/ handler: %d %q", rec.Code, rec.Body)
	}
	// The API keeps its paths and its JSON 404s.
	if rec := serve(t, h, request{method: "GET", path: "/api/v1/typo", token: viewerToken}); rec.Code != 404 || !strings.Contains(rec.Body.String(), "no such endpoint") {
		t.Errorf("/api/v1/typo: %d %q", rec.Code, rec.Body)
	}
	if rec := serve(t, h, request{method: "GET", path: "/healthz"}); rec.Body.String() != "ok\n" {
		t.Errorf("/healthz: %q", rec.Body)
	}
	_, err := server.New(testConfig(t), newFakeBackend(), nil, server.WithHandler("GET /api/v1/overview", dash))
	if err == nil || !strings.Contains(err.Error(), "server: routes: pattern \"GET /api/v1/overview\"") {
		t.Errorf("conflicting pattern: %v", err)
	}
}

func TestAccessLog(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	h := newServer(t, newFakeBackend(), nil, server.WithLogger(log)).Handler()
	rec := serve(t, h, request{method: "POST", path: "/api/v1/sync", token: operatorToken, header: http.Header{"X-Request-Id": {"req-42"}}})
	if rec.Header().Get("X-Request-Id") != "req-42" {
		t.Errorf("X-Request-Id %q", rec.Header().Get("X-Request-Id"))
	}
	serve(t, h, request{method: "GET", path: "/api/v1/overview", token: "wrong-" + viewerToken})
	serve(t, h, request{method: "GET", path: "/healthz"}) // debug level: not logged
	serve(t, h, request{method: "GET", path: "/api/v1/overview", header: http.Header{"X-Request-Id": {"bad id\n"}}})

	type line struct {
		Msg       string
		RequestID string `json:"request_id"`
		Method    string
		Path      string
		Status    int
		Token     string
	}
	var got []line
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var ln line
		if err := json.Unmarshal([]byte(l), &ln); err != nil {
			t.Fatal(err)
		}
		if ln.Msg == "http request" {
			if ln.RequestID == "" || ln.RequestID == "bad id\n" {
				t.Errorf("request id %q", ln.RequestID)
			}
			ln.RequestID = ""
			got = append(got, ln)
		}
	}
	want := []line{
		{Msg: "http request", Method: "POST", Path: "/api/v1/sync", Status: 202, Token: "alice"},
		{Msg: "http request", Method: "GET", Path: "/api/v1/overview", Status: 401},
		{Msg: "http request", Method: "GET", Path: "/api/v1/overview", Status: 401},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("access log (-want +got):\n%s", diff)
	}
	for _, secret := range []string{operatorToken, viewerToken} {
		if strings.Contains(buf.String(), secret) {
			t.Errorf("log shows a token:\n%s", buf.String())
		}
	}
	if !strings.Contains(buf.String(), `"msg":"sync triggered"`) || !strings.Contains(buf.String(), `"request_id":"req-42"`) {
		t.Errorf("no sync triggered line with the request id:\n%s", buf.String())
	}
}

func TestNewErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		cfg  config.Server
		want string
	}{
		{"bad role", config.Server{Tokens: []config.Token{{Name: "x", Role: "admin", Secret: config.Secret{TokenFile: secretFile(t, "x", "t")}}}}, `server tokens[0] (x): role "admin" is not viewer or operator`},
		{"missing env", config.Server{Tokens: []config.Token{{Name: "x", Role: "viewer", Secret: config.Secret{TokenEnv: "K3SYNC_TEST_UNSET_TOKEN"}}}}, "server tokens[0] (x): secret environment variable K3SYNC_TEST_UNSET_TOKEN is not set"},
		{"empty token", config.Server{Tokens: []config.Token{{Name: "x", Role: "viewer"}}}, "server tokens[0] (x): the token is empty"},
		{"duplicate", config.Server{Tokens: []config.Token{
			{Name: "a", Role: "viewer", Secret: config.Secret{TokenFile: secretFile(t, "a", "same")}},
			{Name: "b", Role: "operator", Secret: config.Secret{TokenFile: secretFile(t, "b", "same")}},
		}}, "server tokens[1] (b): same secret as token a"},
		{"missing hook secret file", config.Server{Webhooks: config.Webhooks{GitHub: config.Secret{SecretFile: dir + "/none"}}}, "server webhooks.github: read secret file: open " + dir + "/none: no such file or directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := server.New(tt.cfg, newFakeBackend(), nil)
			if err == nil {
				t.Fatal("no error")
			}
			if diff := cmp.Diff(tt.want, err.Error()); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
		})
	}
}

func TestStart(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cfg := testConfig(t)
	cfg.Listen = addr
	s, err := server.New(cfg, newFakeBackend(), nil, server.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Start(ctx) }()

	var resp *http.Response
	for range 100 {
		if resp, err = http.Get("http://" + addr + "/healthz"); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("healthz %d", resp.StatusCode)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Start: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Start did not return after its context ended")
	}

	// A second server on the same address fails to listen and says so.
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	cfg.Listen = busy.Addr().String()
	s2, err := server.New(cfg, newFakeBackend(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s2.Start(t.Context()); err == nil || !strings.Contains(err.Error(), "server: listen:") {
		t.Errorf("Start on a busy address: %v", err)
	}
}

// TestPprof: runtime profiles are off unless configured, and then only
// for operators.
func TestPprof(t *testing.T) {
	if rec := serve(t, newServer(t, newFakeBackend(), nil).Handler(), request{method: "GET", path: "/debug/pprof/heap", token: operatorToken}); rec.Code != 404 {
		t.Errorf("pprof without server.pprof: %d, want 404", rec.Code)
	}
	cfg := testConfig(t)
	cfg.Pprof = true
	s, err := server.New(cfg, newFakeBackend(), nil)
	if err != nil {
		t.Fatal(err)
	}
	h := s.Handler()
	if rec := serve(t, h, request{method: "GET", path: "/debug/pprof/heap"}); rec.Code != 401 {
		t.Errorf("pprof without a token: %d, want 401", rec.Code)
	}
	if rec := serve(t, h, request{method: "GET", path: "/debug/pprof/heap", token: viewerToken}); rec.Code != 403 {
		t.Errorf("pprof for a viewer: %d, want 403", rec.Code)
	}
	rec := serve(t, h, request{method: "GET", path: "/debug/pprof/heap?debug=1", token: operatorToken})
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "heap profile:") {
		t.Errorf("heap profile for an operator: %d %.80q", rec.Code, rec.Body)
	}
}
