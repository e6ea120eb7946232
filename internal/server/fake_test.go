package server_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/k3sync/k3sync/internal/config"
	"github.com/k3sync/k3sync/internal/plan"
	"github.com/k3sync/k3sync/internal/server"
	"github.com/k3sync/k3sync/internal/state"
	"github.com/k3sync/k3sync/internal/view"
)

// fakeBackend is the reconciler as the handlers see it. It stands in for
// the real one only in these handler tests.
type fakeBackend struct {
	mu sync.Mutex
	// busy: the sync queue is full.
	busy     bool
	overview view.Overview
	tenants  map[string]view.Tenant
	drift    []state.Drift
	runs     []state.Run
	// syncs are the successive states Sync returns for an ID; the last one
	// repeats.
	syncs map[string][]view.Sync
	polls map[string]int
	ready error
	fail  error

	triggered []view.TriggerRequest
	suspended []suspendCall
	history   []historyCall
}

type suspendCall struct {
	Tenant  string
	Suspend bool
	Who     string
}

type historyCall struct {
	Tenant string
	Limit  int
}

func (f *fakeBackend) Overview(context.Context) (view.Overview, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.overview, f.fail
}

func (f *fakeBackend) Tenant(_ context.Context, name string) (view.Tenant, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, ok := f.tenants[name]
	if !ok {
		return view.Tenant{}, fmt.Errorf("tenant %q: %w", name, server.ErrNotFound)
	}
	return t, nil
}

func (f *fakeBackend) Plans(context.Context) (map[string]*plan.Plan, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]*plan.Plan{}
	for name, t := range f.tenants {
		if t.Plan != nil {
			out[name] = t.Plan
		}
	}
	return out, nil
}

func (f *fakeBackend) Drift(context.Context) ([]state.Drift, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.drift, f.fail
}

func (f *fakeBackend) History(_ context.Context, tenant string, limit int) ([]state.Run, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.history = append(f.history, historyCall{tenant, limit})
	return f.runs, f.fail
}

func (f *fakeBackend) Trigger(_ context.Context, req view.TriggerRequest) (view.Sync, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.busy {
		return view.Sync{}, view.ErrBusy
	}
	if req.Tenant != "" {
		if _, ok := f.tenants[req.Tenant]; !ok {
			return view.Sync{}, fmt.Errorf("tenant %q: %w", req.Tenant, server.ErrNotFound)
		}
	}
	f.triggered = append(f.triggered, req)
	s := view.Sync{ID: fmt.Sprintf("sync-%d", len(f.triggered)), Request: req, Phase: view.Queued, Queued: t0}
	if states, ok := f.syncs[s.ID]; ok {
		for i := range states {
			states[i].ID, states[i].Request = s.ID, req
		}
		return states[0], nil
	}
	f.syncs[s.ID] = []view.Sync{s}
	return s, nil
}

func (f *fakeBackend) Sync(_ context.Context, id string) (view.Sync, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	states, ok := f.syncs[id]
	if !ok {
		return view.Sync{}, fmt.Errorf("sync %q: %w", id, server.ErrNotFound)
	}
	i := min(f.polls[id], len(states)-1)
	f.polls[id]++
	return states[i], nil
}

func (f *fakeBackend) Suspend(_ context.Context, tenant string, suspend bool, who string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.tenants[tenant]; !ok {
		return fmt.Errorf("tenant %q: %w", tenant, server.ErrNotFound)
	}
	f.suspended = append(f.suspended, suspendCall{tenant, suspend, who})
	return nil
}

func (f *fakeBackend) Ready() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ready
}

func (f *fakeBackend) setReady(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ready = err
}

// fakeHooks records webhook deliveries.
type fakeHooks struct {
	mu     sync.Mutex
	pushes []string
	prs    []prCall
}

type prCall struct {
	Number  int
	Action  string
	HeadSHA string
}

func (h *fakeHooks) Push(_ context.Context, branch string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.pushes = append(h.pushes, branch)
}

func (h *fakeHooks) PullRequest(_ context.Context, number int, action, headSHA string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.prs = append(h.prs, prCall{number, action, headSHA})
}

var t0 = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

// Secrets of the test server.
const (
	viewerToken   = "viewer-token-0123456789"
	operatorToken = "operator-token-9876543210"
	githubSecret  = "github-hook-secret"
	giteaSecret   = "gitea-hook-secret"
	// secretValue is a sensitive field's value; no response may show it.
	secretValue = "s3cret"
)

func secretFile(t *testing.T, name, value string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(value+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func testConfig(t *testing.T) config.Server {
	t.Helper()
	return config.Server{
		Listen: "127.0.0.1:0",
		Tokens: []config.Token{
			{Name: "ci-viewer", Role: "viewer", Secret: config.Secret{TokenFile: secretFile(t, "viewer", viewerToken)}},
			{Name: "alice", Role: "operator", Secret: config.Secret{TokenFile: secretFile(t, "operator", operatorToken)}},
		},
		Webhooks: config.Webhooks{
			GitHub: config.Secret{SecretFile: secretFile(t, "github", githubSecret)},
			Gitea:  config.Secret{SecretFile: secretFile(t, "gitea", giteaSecret)},
		},
	}
}

// sensitiveChange has a sensitive field with secretValue on both sides.
func sensitiveChange() plan.Change {
	return plan.Change{
		Key:    plan.Key{Tenant: "payments", System: plan.Kong, Target: "edge", Kind: "Credential", Name: "api-key"},
		Action: plan.Update,
		Fields: []plan.FieldChange{
			{Path: "key", Before: "old-" + secretValue, After: secretValue, Sensitive: true},
			{Path: "tags", Before: []any{"a"}, After: []any{"a", "b"}},
		},
	}
}

func newFakeBackend() *fakeBackend {
	summary := view.TenantSummary{
		Name: "payments", Owners: []string{"team-payments"}, State: view.OutOfSync,
		Systems: []view.SystemState{{System: plan.Kong, Target: "edge", State: view.OutOfSync, Changes: 1}},
		Synced:  view.Commit{Hash: "abc123"},
	}
	run := state.Run{
		ID: "run-1", Tenant: "payments", Revision: "abc123", Trigger: state.TriggerPoll,
		Started: t0, Finished: t0.Add(time.Second), Result: state.ResultFailed,
		Changes: []plan.Result{{Change: sensitiveChange(), Error: "boom"}},
	}
	drift := state.Drift{Tenant: "payments", Revision: "abc123", CheckedAt: t0, Items: []state.DriftItem{{Change: sensitiveChange(), FirstSeen: t0}}}
	return &fakeBackend{
		overview: view.Overview{
			Revision: view.Commit{Hash: "abc123", Subject: "add payments"},
			Counts:   map[view.State]int{view.OutOfSync: 1},
			Tenants:  []view.TenantSummary{summary},
		},
		tenants: map[string]view.Tenant{"payments": {
			TenantSummary: summary,
			Plan:          &plan.Plan{Revision: "abc123", Changes: []plan.Change{sensitiveChange()}},
			Drift:         drift,
			History:       []state.Run{run},
		}},
		drift: []state.Drift{drift},
		runs:  []state.Run{run},
		syncs: map[string][]view.Sync{
			"done-1": {{ID: "done-1", Phase: view.Done, Queued: t0, Runs: []state.Run{run}}},
		},
		polls: map[string]int{},
	}
}
