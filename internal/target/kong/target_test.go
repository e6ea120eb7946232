package kong

import (
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	gokong "github.com/kong/go-kong/kong"

	"github.com/k3sync/k3sync/internal/config"
	"github.com/k3sync/k3sync/internal/kongemu"
	"github.com/k3sync/k3sync/internal/plan"
	"github.com/k3sync/k3sync/internal/state"
)

// TestAdminTokenAndTLS reaches an emulator behind TLS that requires an
// admin token, with the token and CA from the gateway's config.
func TestAdminTokenAndTLS(t *testing.T) {
	emu := kongemu.New(kongemu.Options{AdminToken: "s3cret"})
	srv := httptest.NewUnstartedServer(emu)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the unknown-CA case's handshake error
	srv.StartTLS()
	t.Cleanup(srv.Close)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("K3SYNC_TEST_KONG_TOKEN", "s3cret")
	good := config.Gateway{
		AdminURL: srv.URL,
		Secret:   config.Secret{TokenEnv: "K3SYNC_TEST_KONG_TOKEN"},
		TLS:      &config.TLS{CAFile: ca},
	}
	tests := []struct {
		name    string
		edit    func(*config.Gateway)
		wantErr string
	}{
		{name: "token and CA"},
		{name: "no token", edit: func(g *config.Gateway) { g.Secret = config.Secret{} }, wantErr: "401"},
		{name: "token variable unset", edit: func(g *config.Gateway) { g.TokenEnv = "K3SYNC_TEST_UNSET" }, wantErr: "admin token"},
		{name: "unknown CA", edit: func(g *config.Gateway) { g.TLS = nil }, wantErr: "certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gw := good
			if tt.edit != nil {
				tt.edit(&gw)
			}
			tg, err := New(gateway, gw, state.NewMemory(), newSink())
			if err != nil {
				t.Fatal(err)
			}
			_, err = tg.Apply(t.Context(), example(t).Request(), plan.ApplyOptions{})
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("apply: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("apply: %v, want an error about %q", err, tt.wantErr)
			}
		})
	}
	if emu.Count("services") != 3 {
		t.Errorf("%d services, want the example's 3", emu.Count("services"))
	}
}

func TestNewRejects(t *testing.T) {
	for _, tt := range []struct {
		name, url string
		store     state.Store
	}{
		{"no store", "http://kong:8001", nil},
		{"no scheme", "kong:8001", state.NewMemory()},
		{"no host", "http://", state.NewMemory()},
	} {
		if _, err := New(gateway, config.Gateway{AdminURL: tt.url}, tt.store, nil); err == nil {
			t.Errorf("%s: New succeeded", tt.name)
		}
	}
}

func TestTenantOf(t *testing.T) {
	tests := []struct {
		tags []string
		want string
	}{
		{[]string{"k3sync", "k3sync-tenant:payments"}, "payments"},
		{[]string{"k3sync-tenant:payments", "k3sync", "team-a"}, "payments"},
		{[]string{"k3sync-tenant:payments"}, ""}, // not managed
		{[]string{"k3sync"}, ""},                 // managed, no tenant
		{nil, ""},
	}
	for _, tt := range tests {
		if got := tenantOf(gokong.StringSlice(tt.tags...)); got != tt.want {
			t.Errorf("tenantOf(%v) = %q, want %q", tt.tags, got, tt.want)
		}
	}
}

func TestFieldChanges(t *testing.T) {
	tests := []struct {
		name                string
		live, desired, last map[string]any
		want                []plan.FieldChange
	}{
		{
			name:    "equal",
			live:    map[string]any{"paths": []any{"/a"}, "config": map[string]any{"minute": 1.0}},
			desired: map[string]any{"paths": []any{"/a"}, "config": map[string]any{"minute": 1.0}},
		},
		{
			name:    "nested field changed out of band",
			live:    map[string]any{"config": map[string]any{"minute": 5.0, "policy": "local"}},
			desired: map[string]any{"config": map[string]any{"minute": 1.0, "policy": "local"}},
			last:    map[string]any{"config.minute": 1.0, "config.policy": "local"},
			want:    []plan.FieldChange{{Path: "config.minute", Before: 5.0, After: 1.0, Drift: true}},
		},
		{
			name:    "changed in Git",
			live:    map[string]any{"retries": 5.0},
			desired: map[string]any{"retries": 3.0},
			last:    map[string]any{"retries": 5.0},
			want:    []plan.FieldChange{{Path: "retries", Before: 5.0, After: 3.0}},
		},
		{
			name:    "field added out of band",
			live:    map[string]any{"hosts": []any{"x"}},
			desired: map[string]any{},
			last:    map[string]any{},
			want:    []plan.FieldChange{{Path: "hosts", Before: []any{"x"}, Drift: true}},
		},
		{
			name:    "no record: not drift",
			live:    map[string]any{"retries": 5.0},
			desired: map[string]any{"retries": 3.0},
			want:    []plan.FieldChange{{Path: "retries", Before: 5.0, After: 3.0}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, fieldChanges(tt.live, tt.desired, tt.last)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestPlanError: a tenant that cannot be planned fails alone.
func TestPlanError(t *testing.T) {
	_, url := emulator(t, kongemu.Options{})
	d := example(t)
	k := d.kong(t, "search")
	k.Plugins[0].Name = "no-such-plugin"
	tg := newTarget(t, url, state.NewMemory(), newSink())
	changes, err := tg.Plan(t.Context(), d.Request())
	var pe *PlanError
	if !errors.As(err, &pe) || len(pe.Tenants) != 1 || pe.Tenants[0].Tenant != "search" {
		t.Fatalf("plan: %v, want a PlanError for search", err)
	}
	tenants := map[string]bool{}
	for _, c := range changes {
		tenants[c.Tenant] = true
	}
	if !tenants["payments"] || !tenants["checkout"] || tenants["search"] {
		t.Errorf("changes for tenants %v, want payments and checkout", tenants)
	}
}

// TestPlanCreatesAgreesWithSyncer: a tenant with nothing on the gateway
// is planned without the syncer's diff; the changes are the ones the diff
// finds, for the example repo (every kind of entity, key-auth consumers)
// and for a tenant whose entities k3sync applied before and someone
// deleted (drift).
func TestPlanCreatesAgreesWithSyncer(t *testing.T) {
	_, url := emulator(t, kongemu.Options{})
	store := state.NewMemory()
	tg := newTarget(t, url, store, newSink())
	d := example(t)
	// payments' entities were applied before: its record says so (a
	// document, not the placeholder `{}` written ahead of a create, which
	// is no proof that k3sync applied it).
	if err := store.Save(t.Context(), state.Entry{Tenant: "payments", Target: tg.stateID, Resources: map[string]json.RawMessage{
		entityID(KindService, "payments-api"): json.RawMessage(`{"name":"payments-api"}`),
	}}); err != nil {
		t.Fatal(err)
	}
	for _, req := range []plan.Request{d.Request(), syntheticRequest(3, 2)} {
		fast := mustPlan(t, tg, req)
		tg.forget()
		alwaysSync = true
		slow := mustPlan(t, tg, req)
		alwaysSync = false
		tg.forget()
		if len(fast) == 0 {
			t.Fatal("nothing planned")
		}
		if diff := cmp.Diff(slow, fast); diff != "" {
			t.Errorf("plan without the syncer (-syncer +without):\n%s", diff)
		}
	}
	changes := mustPlan(t, tg, d.Request())
	if !slices.ContainsFunc(changes, func(c plan.Change) bool { return c.Name == "payments-api" && c.Drift }) {
		t.Errorf("payments-api, applied before and gone, is not planned as drift:\n%s", planText(t, changes))
	}
}
