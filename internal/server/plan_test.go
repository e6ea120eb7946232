package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/k3sync/k3sync/internal/plan"
	"github.com/k3sync/k3sync/internal/server"
	"github.com/k3sync/k3sync/internal/view"
)

// planBackend has three tenants: payments with changes on two systems
// (its Kubernetes change levelled after its Kafka one would sort), search
// with none, and "evil\x1b[2J" whose name is a terminal escape; two of
// them share a target error.
func planBackend() *fakeBackend {
	b := newFakeBackend()
	shared := plan.TargetError{System: plan.Kafka, Target: "main", Message: "dial tcp: connection refused"}
	ns := plan.Change{Key: plan.Key{Tenant: "payments", System: plan.Kubernetes, Target: "eu-west", Kind: "Namespace", Name: "payments"}, Action: plan.Create}
	quota := plan.Change{Key: plan.Key{Tenant: "payments", System: plan.Kubernetes, Target: "eu-west", Kind: "ResourceQuota", Namespace: "payments", Name: "tenant-quota"},
		Action: plan.Create, Level: 1}
	evil := "evil\x1b[2J"
	b.overview.Tenants = []view.TenantSummary{{Name: evil}, {Name: "payments"}, {Name: "search"}}
	b.tenants = map[string]view.Tenant{
		"payments": {TenantSummary: view.TenantSummary{Name: "payments"},
			Plan: &plan.Plan{Revision: "abc123", Changes: []plan.Change{ns, quota, sensitiveChange()}, Errors: []plan.TargetError{shared}}},
		"search": {TenantSummary: view.TenantSummary{Name: "search"}, Plan: &plan.Plan{Revision: "abc123"}},
		evil: {TenantSummary: view.TenantSummary{Name: evil}, Plan: &plan.Plan{Revision: "abc123",
			Changes: []plan.Change{{Key: plan.Key{Tenant: evil, System: plan.Kong, Target: "edge", Kind: "Route", Name: "r\nforged line"}, Action: plan.Delete}},
			Errors:  []plan.TargetError{shared}}},
	}
	return b
}

func TestCurrentPlan(t *testing.T) {
	b := planBackend()
	h := newServer(t, b, nil).Handler()
	rec := serve(t, h, request{method: "GET", path: "/api/v1/plan", token: viewerToken})
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("status %d %s: %s", rec.Code, rec.Header().Get("Content-Type"), rec.Body)
	}
	// One plan, as a local plan of these tenants renders it: tenants in
	// order, levels kept, the shared error once, secrets redacted.
	want := &plan.Plan{Revision: "abc123", Errors: []plan.TargetError{{System: plan.Kafka, Target: "main", Message: "dial tcp: connection refused"}}}
	for _, name := range []string{"evil\x1b[2J", "payments"} {
		want.Changes = append(want.Changes, b.tenants[name].Plan.Changes...)
	}
	plan.Sort(want.Changes)
	var wantJSON bytes.Buffer
	if err := want.WriteJSON(&wantJSON); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(wantJSON.String(), rec.Body.String()); diff != "" {
		t.Errorf("body (-want +got):\n%s", diff)
	}
	if strings.Contains(rec.Body.String(), secretValue) {
		t.Errorf("the plan shows the secret")
	}

	rec = serve(t, h, request{method: "GET", path: "/api/v1/plan?format=text", token: viewerToken})
	var wantText bytes.Buffer
	if err := want.WriteText(&wantText, plan.TextOptions{}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(wantText.String(), rec.Body.String()); diff != "" {
		t.Errorf("text (-want +got):\n%s", diff)
	}
	if strings.ContainsAny(rec.Body.String(), "\x1b") || strings.Contains(rec.Body.String(), "\nforged line") {
		t.Errorf("a tenant string escaped the text plan:\n%q", rec.Body)
	}
}

func TestCurrentPlanOfTenants(t *testing.T) {
	h := newServer(t, planBackend(), nil).Handler()
	for _, tt := range []struct {
		query   string
		changes int
		errors  int
	}{
		{"tenant=search", 0, 0},
		{"tenant=payments", 3, 1},
		{"tenant=search&tenant=payments", 3, 1},
		{"tenant=search,payments", 3, 1},
		{"tenant=" + "evil%1B%5B2J" + ",payments", 4, 1},
	} {
		rec := serve(t, h, request{method: "GET", path: "/api/v1/plan?" + tt.query, token: viewerToken})
		if rec.Code != 200 {
			t.Fatalf("%s: status %d: %s", tt.query, rec.Code, rec.Body)
		}
		var p plan.Plan
		if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
			t.Fatal(err)
		}
		if len(p.Changes) != tt.changes || len(p.Errors) != tt.errors || p.Revision != "abc123" {
			t.Errorf("%s: %d changes, %d errors at %q; want %d, %d", tt.query, len(p.Changes), len(p.Errors), p.Revision, tt.changes, tt.errors)
		}
	}
}

func TestCurrentPlanRefusals(t *testing.T) {
	b := planBackend()
	h := newServer(t, b, nil).Handler()
	for _, tt := range []struct {
		path, token string
		code        int
		err         string
	}{
		{"/api/v1/plan", "", 401, "authentication required"},
		{"/api/v1/plan", "nope", 401, "invalid token"},
		{"/api/v1/plan?tenant=nobody", viewerToken, 404, `tenant "nobody": not found`},
		{"/api/v1/plan?format=yaml", viewerToken, 400, `format "yaml": want json, text or markdown`},
	} {
		rec := serve(t, h, request{method: "GET", path: tt.path, token: tt.token})
		if rec.Code != tt.code || !strings.Contains(errorOf(t, rec), tt.err) {
			t.Errorf("%s with %q: %d %s, want %d %q", tt.path, tt.token, rec.Code, rec.Body, tt.code, tt.err)
		}
	}
	b.setReady(errors.New("first sync not done"))
	rec := serve(t, h, request{method: "GET", path: "/api/v1/plan", token: viewerToken})
	if rec.Code != 503 || errorOf(t, rec) != "no current plan: first sync not done" {
		t.Errorf("before the first sync: %d %s", rec.Code, rec.Body)
	}
}

// TestCurrentPlanNameCount: repeated names count once; more names than
// the daemon knows tenants are refused with 400 at once, a query of
// 150,000 names (700 KB) included.
func TestCurrentPlanNameCount(t *testing.T) {
	h := newServer(t, planBackend(), nil).Handler()
	rec := serve(t, h, request{method: "GET", path: "/api/v1/plan?tenant=search,payments,search&tenant=payments,evil%1B%5B2J,payments", token: viewerToken})
	var p plan.Plan
	if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &p) != nil || len(p.Changes) != 4 || len(p.Errors) != 1 {
		t.Errorf("the three tenants, named twice: %d %s", rec.Code, rec.Body)
	}

	rec = serve(t, h, request{method: "GET", path: "/api/v1/plan?tenant=search,payments,evil%1B%5B2J,nobody", token: viewerToken})
	const want = "4 tenant names: the daemon knows 3 tenants; name at most that many, or none for every tenant"
	if rec.Code != 400 || errorOf(t, rec) != want {
		t.Errorf("four names of three tenants: %d %s, want 400 %q", rec.Code, rec.Body, want)
	}

	names := make([]string, 150_000)
	for i := range names {
		names[i] = strconv.FormatInt(int64(i), 36)
	}
	rec = serve(t, h, request{method: "GET", path: "/api/v1/plan?tenant=" + strings.Join(names, ","), token: viewerToken})
	if rec.Code != 400 || !strings.HasPrefix(errorOf(t, rec), "150000 tenant names: the daemon knows 3 tenants") {
		t.Errorf("150,000 names: %d %.300s", rec.Code, rec.Body)
	}
}

// TestCurrentPlanRevision: tenants planned at different revisions (a new
// revision re-plans only the tenants it changed) make a plan of the newest
// revision if it is valid; of none if it is not.
func TestCurrentPlanRevision(t *testing.T) {
	b := planBackend()
	b.overview.Revision = view.Commit{Hash: "def456"}
	p := b.tenants["search"]
	p.Plan = &plan.Plan{Revision: "def456"}
	b.tenants["search"] = p
	h := newServer(t, b, nil).Handler()
	revision := func() string {
		rec := serve(t, h, request{method: "GET", path: "/api/v1/plan", token: viewerToken})
		var got plan.Plan
		if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
			t.Fatal(err)
		}
		return got.Revision
	}
	if got := revision(); got != "def456" {
		t.Errorf("revision %q, want def456", got)
	}
	b.mu.Lock()
	b.overview.ValidationErrors = []string{"tenants/x: broken"}
	b.mu.Unlock()
	if got := revision(); got != "" {
		t.Errorf("revision %q with the newest revision invalid, want none", got)
	}
}

// TestClientPlan: the client decodes the plan the server renders, numbers
// as their JSON text, so it renders the same again.
func TestClientPlan(t *testing.T) {
	b := planBackend()
	pay := b.tenants["payments"]
	pay.Plan.Changes = append(pay.Plan.Changes, plan.Change{
		Key:    plan.Key{Tenant: "payments", System: plan.Kafka, Target: "main", Kind: "Topic", Name: "payments.orders"},
		Action: plan.Update, Fields: []plan.FieldChange{{Path: "configs.retention.ms", Before: int64(9007199254740993), After: 604800000}},
	})
	ts := httptest.NewServer(newServer(t, b, nil).Handler())
	t.Cleanup(ts.Close)
	c := &server.Client{URL: ts.URL, Token: viewerToken}
	got, err := c.Plan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	rec := serve(t, ts.Config.Handler, request{method: "GET", path: "/api/v1/plan?format=text", token: viewerToken})
	var text bytes.Buffer
	if err := got.WriteText(&text, plan.TextOptions{}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(rec.Body.String(), text.String()); diff != "" {
		t.Errorf("the client's plan renders differently (-server +client):\n%s", diff)
	}
	if !strings.Contains(text.String(), "9007199254740993") {
		t.Errorf("a large number lost precision:\n%s", text.String())
	}
	if _, err := c.Plan(context.Background(), "nobody"); !errors.Is(err, server.ErrNotFound) {
		t.Errorf("unknown tenant: %v", err)
	}
	c.Token = "nope"
	if _, err := c.Plan(context.Background()); !server.IsUnauthorized(err) || err.Error() != "plan: 401 Unauthorized: invalid token" {
		t.Errorf("wrong token: %v", err)
	}
}
