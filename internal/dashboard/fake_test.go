package dashboard_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/k3sync/k3sync/internal/dashboard"
	"github.com/k3sync/k3sync/internal/plan"
	"github.com/k3sync/k3sync/internal/state"
	"github.com/k3sync/k3sync/internal/view"
)

// fakeBackend stands in for the reconciler in the handler tests only; the
// browser test drives the real daemon.
type fakeBackend struct {
	mu       sync.Mutex
	overview view.Overview
	tenants  map[string]view.Tenant
	drift    []state.Drift
	runs     []state.Run
	syncs    map[string]view.Sync

	triggered []view.TriggerRequest
	suspended []suspendCall
}

type suspendCall struct {
	Tenant  string
	Suspend bool
	Who     string
}

func (f *fakeBackend) Overview(context.Context) (view.Overview, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.overview, nil
}

func (f *fakeBackend) Tenant(_ context.Context, name string) (view.Tenant, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, ok := f.tenants[name]
	if !ok {
		return view.Tenant{}, fmt.Errorf("tenant %q: %w", name, view.ErrNotFound)
	}
	return t, nil
}

func (f *fakeBackend) Drift(context.Context) ([]state.Drift, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.drift, nil
}

func (f *fakeBackend) History(_ context.Context, _ string, limit int) ([]state.Run, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.runs[:min(limit, len(f.runs))], nil
}

func (f *fakeBackend) Trigger(_ context.Context, req view.TriggerRequest) (view.Sync, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.tenants[req.Tenant]; !ok {
		return view.Sync{}, fmt.Errorf("tenant %q: %w", req.Tenant, view.ErrNotFound)
	}
	f.triggered = append(f.triggered, req)
	s := view.Sync{ID: fmt.Sprintf("sync-%d", len(f.triggered)), Request: req, Phase: view.Queued, Queued: t0}
	f.syncs[s.ID] = s
	return s, nil
}

func (f *fakeBackend) Sync(_ context.Context, id string) (view.Sync, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.syncs[id]
	if !ok {
		return view.Sync{}, fmt.Errorf("sync %q: %w", id, view.ErrNotFound)
	}
	return s, nil
}

func (f *fakeBackend) Suspend(_ context.Context, tenant string, suspend bool, who string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.tenants[tenant]; !ok {
		return fmt.Errorf("tenant %q: %w", tenant, view.ErrNotFound)
	}
	f.suspended = append(f.suspended, suspendCall{tenant, suspend, who})
	return nil
}

// update changes the backend's data under its lock.
func (f *fakeBackend) update(fn func(f *fakeBackend)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func (f *fakeBackend) calls() ([]view.TriggerRequest, []suspendCall) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]view.TriggerRequest(nil), f.triggered...), append([]suspendCall(nil), f.suspended...)
}

var t0 = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

// Secrets: none may appear on any page.
const (
	viewerToken   = "viewer-token-0123456789"
	operatorToken = "operator-token-9876543210"
	secretValue   = "s3cret-api-key-value"
)

// tokens is the Authenticator of the handler tests.
type tokens map[string][2]string

func (ts tokens) Authenticate(tok string) (string, string, bool) {
	v, ok := ts[tok]
	return v[0], v[1], ok
}

var testTokens = tokens{viewerToken: {"ci-viewer", "viewer"}, operatorToken: {"alice", "operator"}}

func sensitiveChange() plan.Change {
	return plan.Change{
		Key:    plan.Key{Tenant: "payments", System: plan.Kong, Target: "edge", Kind: "KeyAuth", Name: "payments-mobile"},
		Action: plan.Update,
		Fields: []plan.FieldChange{
			{Path: "key", Before: "old-" + secretValue, After: secretValue, Sensitive: true, Drift: true, Manager: "admin-api"},
			{Path: "tags", Before: []any{"a"}, After: []any{"a", "b"}},
		},
	}
}

func quotaDrift(tenant string) plan.Change {
	return plan.Change{
		Key:    plan.Key{Tenant: tenant, System: plan.Kubernetes, Target: "eu-west", Kind: "ResourceQuota", Namespace: tenant, Name: "tenant-quota"},
		Action: plan.Update, Drift: true,
		Fields: []plan.FieldChange{{Path: "spec.hard.requests\\.cpu", Before: "1", After: "6", Drift: true, Manager: "kubectl-edit"}},
	}
}

var head = view.Commit{Hash: "0123456789abcdef0123456789abcdef01234567", Subject: "Raise checkout's quota", Author: "Jane Doe", Time: t0}

func newFakeBackend() *fakeBackend {
	sys := func(s plan.System, target string, st view.State) view.SystemState {
		return view.SystemState{System: s, Target: target, State: st}
	}
	checkoutK8s := sys(plan.Kubernetes, "eu-west", view.Drifted)
	checkoutK8s.Changes, checkoutK8s.DriftSince = 1, t0.Add(-3*time.Hour)
	paymentsKong := sys(plan.Kong, "edge", view.OutOfSync)
	paymentsKong.Changes = 1
	summaries := []view.TenantSummary{
		{Name: "analytics", Owners: []string{"team-analytics@example.com"}, State: view.Suspended, Suspended: true,
			Systems: []view.SystemState{sys(plan.Kubernetes, "us-east", view.Suspended), sys(plan.Kafka, "main", view.Suspended)}},
		{Name: "checkout", Owners: []string{"team-checkout@example.com"}, State: view.Drifted, Synced: head, SyncedAt: t0.Add(-time.Hour), DriftSince: t0.Add(-3 * time.Hour),
			Systems: []view.SystemState{checkoutK8s, sys(plan.Kafka, "main", view.Synced), sys(plan.Kong, "edge", view.Synced)}},
		{Name: "payments", Owners: []string{"team-payments@example.com"}, State: view.OutOfSync, Synced: view.Commit{Hash: "fedcba9876543210"}, SyncedAt: t0.Add(-2 * time.Hour),
			Systems: []view.SystemState{sys(plan.Kubernetes, "eu-west", view.Synced), sys(plan.Kubernetes, "us-east", view.Synced), sys(plan.Kafka, "main", view.Synced), paymentsKong}},
		{Name: "search", Owners: []string{"team-search@example.com"}, State: view.Synced, Synced: head, SyncedAt: t0.Add(-time.Minute),
			Systems: []view.SystemState{sys(plan.Kubernetes, "eu-west", view.Synced), sys(plan.Kubernetes, "us-east", view.Synced), sys(plan.Kong, "edge", view.Synced)}},
	}
	failedRun := state.Run{
		ID: "run-2", Tenant: "payments", Revision: "fedcba9876543210", Trigger: state.TriggerPoll,
		Started: t0.Add(-30 * time.Minute), Finished: t0.Add(-29 * time.Minute), Result: state.ResultFailed,
		Changes: []plan.Result{{Change: sensitiveChange(), Error: "kong: PATCH /key-auths/payments-mobile: 409 conflict"}},
		Summary: plan.Summary{Update: 1},
	}
	manualRun := state.Run{
		ID: "run-1", Tenant: "search", Revision: head.Hash, Trigger: state.TriggerManual, Who: "alice",
		Started: t0.Add(-time.Minute), Finished: t0.Add(-time.Minute), Result: state.ResultSynced, Summary: plan.Summary{Create: 2},
	}
	blockedRun := state.Run{
		ID: "run-0", Tenant: "analytics", Revision: head.Hash, Trigger: state.TriggerPoll,
		Started: t0.Add(-time.Hour), Finished: t0.Add(-time.Hour), Result: state.ResultBlocked,
		Message: "tenant is suspended: changes are planned, not applied", Summary: plan.Summary{Create: 2},
	}
	checkoutDrift := state.Drift{Tenant: "checkout", Revision: head.Hash, CheckedAt: t0.Add(-5 * time.Minute),
		Items: []state.DriftItem{{Change: quotaDrift("checkout"), FirstSeen: t0.Add(-3 * time.Hour)}}}
	paymentsDrift := state.Drift{Tenant: "payments", Revision: head.Hash, CheckedAt: t0.Add(-5 * time.Minute),
		Items: []state.DriftItem{{Change: sensitiveChange(), FirstSeen: t0.Add(-10 * time.Minute)}}}
	f := &fakeBackend{
		overview: view.Overview{
			Revision:  head,
			Counts:    map[view.State]int{view.Suspended: 1, view.Drifted: 1, view.OutOfSync: 1, view.Synced: 1},
			Tenants:   summaries,
			CheckedAt: t0.Add(-10 * time.Second),
		},
		tenants: map[string]view.Tenant{},
		drift:   []state.Drift{checkoutDrift, paymentsDrift},
		runs:    []state.Run{manualRun, failedRun, blockedRun},
		syncs:   map[string]view.Sync{},
	}
	for _, s := range summaries {
		f.tenants[s.Name] = view.Tenant{TenantSummary: s, Plan: &plan.Plan{Revision: head.Hash}}
	}
	f.tenants["payments"] = view.Tenant{
		TenantSummary: summaries[2],
		Plan:          &plan.Plan{Revision: head.Hash, Changes: []plan.Change{sensitiveChange()}},
		Drift:         paymentsDrift,
		History:       []state.Run{failedRun},
	}
	f.tenants["checkout"] = view.Tenant{
		TenantSummary: summaries[1],
		Plan:          &plan.Plan{Revision: head.Hash, Changes: []plan.Change{quotaDrift("checkout")}},
		Drift:         checkoutDrift,
	}
	return f
}

// clock is a settable time for session expiry.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// env is a dashboard over a fake backend.
type env struct {
	t     *testing.T
	h     http.Handler
	fb    *fakeBackend
	clock *clock
}

func newEnv(t *testing.T, opts ...dashboard.Option) *env {
	t.Helper()
	e := &env{t: t, fb: newFakeBackend(), clock: &clock{now: t0}}
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	e.h = dashboard.New(e.fb, testTokens, append([]dashboard.Option{dashboard.WithClock(e.clock.Now), dashboard.WithLogger(log)}, opts...)...)
	return e
}

// req is one request to the dashboard.
type req struct {
	method, path string
	form         url.Values
	cookie       *http.Cookie
	header       http.Header
	tls          bool
}

func (e *env) do(r req) *httptest.ResponseRecorder {
	e.t.Helper()
	var body *strings.Reader
	if r.form != nil {
		body = strings.NewReader(r.form.Encode())
	} else {
		body = strings.NewReader("")
	}
	hr := httptest.NewRequestWithContext(e.t.Context(), cmpOr(r.method, http.MethodGet), r.path, body)
	if r.form != nil {
		hr.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if r.cookie != nil {
		hr.AddCookie(r.cookie)
	}
	for k, v := range r.header {
		hr.Header[k] = v
	}
	if r.tls {
		hr.TLS = &tls.ConnectionState{}
	}
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, hr)
	return rec
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// login signs in and returns the session cookie and its CSRF token.
func (e *env) login(token string) (*http.Cookie, string) {
	e.t.Helper()
	rec := e.do(req{method: http.MethodPost, path: "/login", form: url.Values{"token": {token}}})
	if rec.Code != http.StatusSeeOther {
		e.t.Fatalf("login: %d %s", rec.Code, rec.Body)
	}
	c := sessionCookie(e.t, rec)
	page := e.do(req{path: "/", cookie: c})
	m := csrfRE.FindStringSubmatch(page.Body.String())
	if m == nil {
		e.t.Fatalf("no CSRF token on the overview:\n%s", page.Body)
	}
	return c, m[1]
}

func sessionCookie(t *testing.T, rec *httptest.ResponseRecorder) *http.Cookie {
	t.Helper()
	for _, c := range rec.Result().Cookies() {
		if c.Name == "k3sync_session" {
			return c
		}
	}
	t.Fatalf("no session cookie in %v", rec.Result().Header)
	return nil
}
