package kong

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/k3sync/k3sync/internal/config"
	"github.com/k3sync/k3sync/internal/kongemu"
	"github.com/k3sync/k3sync/internal/model"
	"github.com/k3sync/k3sync/internal/plan"
	"github.com/k3sync/k3sync/internal/render"
	"github.com/k3sync/k3sync/internal/state"
	"github.com/k3sync/k3sync/internal/testenv/fixture"
)

// gateway is the example repo's gateway name.
const gateway = "edge"

// desired is the example repo rendered, as a deep copy the test may edit.
type desired struct{ *fixture.Example }

func example(t testing.TB) *desired { return &desired{fixture.LoadExample(t)} }

// kong returns the desired Kong resources of tenant.
func (d *desired) kong(t testing.TB, tenant string) *render.KongResources {
	t.Helper()
	k := d.Tenant(t, tenant).Kong
	if k == nil {
		t.Fatalf("tenant %s has no Kong", tenant)
	}
	return k
}

// emulator serves a fresh Kong Admin API emulator.
func emulator(t testing.TB, opts kongemu.Options) (*kongemu.Server, string) {
	t.Helper()
	emu := kongemu.New(opts)
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	return emu, srv.URL
}

// newTarget is a target of the emulator at url.
func newTarget(t testing.TB, url string, store state.Store, sink CredentialSink, cfg ...func(*config.Gateway)) *Target {
	t.Helper()
	gw := config.Gateway{AdminURL: url}
	for _, f := range cfg {
		f(&gw)
	}
	tg, err := New(gateway, gw, store, sink)
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

// keySink records the keys it is given.
type keySink struct {
	mu   sync.Mutex
	keys map[string][]string // tenant/consumer -> keys, oldest first
	fail error
}

func newSink() *keySink { return &keySink{keys: map[string][]string{}} }

func (s *keySink) Deliver(_ context.Context, tenant, consumer, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return s.fail
	}
	s.keys[tenant+"/"+consumer] = append(s.keys[tenant+"/"+consumer], key)
	return nil
}

// setFail makes Deliver fail with err (nil: succeed).
func (s *keySink) setFail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail = err
}

// key is the last key delivered for tenant/consumer.
func (s *keySink) key(id string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := s.keys[id]
	if len(k) == 0 {
		return ""
	}
	return k[len(k)-1]
}

// all is every key delivered.
func (s *keySink) all() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, k := range s.keys {
		out = append(out, k...)
	}
	return out
}

// admin sends a request to the Admin API like another client would.
func admin(t testing.TB, method, url string, body any) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	b, _ := io.ReadAll(resp.Body)
	if len(b) > 0 {
		_ = json.Unmarshal(b, &out)
	}
	return resp.StatusCode, out
}

// mustApply applies req and fails on any error.
func mustApply(t testing.TB, tg *Target, req plan.Request) []plan.Result {
	t.Helper()
	res, err := tg.Apply(t.Context(), req, plan.ApplyOptions{})
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	return res
}

// mustPlan plans req and fails on any error.
func mustPlan(t testing.TB, tg *Target, req plan.Request) []plan.Change {
	t.Helper()
	changes, err := tg.Plan(t.Context(), req)
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	return changes
}

// planText renders changes as plan text.
func planText(t testing.TB, changes []plan.Change) string {
	t.Helper()
	var b strings.Builder
	p := plan.Plan{Changes: changes}
	if err := p.WriteText(&b, plan.TextOptions{}); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// listCount is the number of list requests (GET on a collection) the
// emulator served.
func listCount(emu *kongemu.Server) int {
	n := 0
	for k, v := range emu.Stats() {
		method, route, _ := strings.Cut(k, " ")
		if method != http.MethodGet || route == "/" || strings.HasPrefix(route, "/schemas") {
			continue
		}
		// Collections end with a name, rows with a :placeholder.
		last := route[strings.LastIndex(route, "/")+1:]
		if !strings.HasPrefix(last, ":") {
			n += v
		}
	}
	return n
}

// syntheticRequest is a complete request for tenants tenants, each with
// services services of 2 routes and a rate-limiting plugin.
func syntheticRequest(tenants, services int) plan.Request {
	p := &model.Platform{}
	p.Policy.Deletion.MaxDeletesPerPlan = 20
	req := plan.Request{Revision: "synthetic", Platform: p, Complete: true}
	for i := range tenants {
		name := fmt.Sprintf("t%03d", i)
		tags := render.Tags(name)
		k := &render.KongResources{Gateway: gateway}
		for j := range services {
			svc := fmt.Sprintf("%s-svc%d", name, j)
			k.Services = append(k.Services, render.KongService{
				Name: svc, Protocol: "http", Host: svc + ".svc", Port: 8080, Tags: tags,
			})
			for r := range 2 {
				k.Routes = append(k.Routes, render.KongRoute{
					Name: fmt.Sprintf("%s-r%d", svc, r), Service: svc,
					Paths: []string{fmt.Sprintf("/%s/%d", svc, r)}, Protocols: []string{"http", "https"},
					StripPath: true, Tags: tags,
				})
			}
			k.Plugins = append(k.Plugins, render.KongPlugin{
				Name: "rate-limiting", Service: svc, Enabled: true,
				Config: map[string]any{"minute": 100, "policy": "local"}, Tags: tags,
			})
		}
		req.Tenants = append(req.Tenants, plan.TenantRequest{Desired: &render.Tenant{Name: name, Kong: k}})
	}
	return req
}
