package kong

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/k3sync/k3sync/internal/apply"
	"github.com/k3sync/k3sync/internal/config"
	"github.com/k3sync/k3sync/internal/kongemu"
	"github.com/k3sync/k3sync/internal/model"
	"github.com/k3sync/k3sync/internal/plan"
	"github.com/k3sync/k3sync/internal/render"
	"github.com/k3sync/k3sync/internal/state"
	"github.com/k3sync/k3sync/internal/target/contracttest"
)

func TestContract(t *testing.T) { contracttest.Run(t, kongHarness{}) }

// kongHarness runs the contract on a fresh Kong Admin API emulator per
// subtest.
type kongHarness struct{}

func (kongHarness) Start(t *testing.T) contracttest.Env {
	emu := kongemu.New(kongemu.Options{})
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	e := &kongEnv{url: srv.URL, store: state.NewMemory()}
	e.wire = &contracttest.Wire{
		IsCreate: func(r *http.Request) bool { return r.Method == http.MethodPost || r.Method == http.MethodPut },
		FailBody: `{"message":"An unexpected error occurred"}`,
	}
	tg, err := New(gateway, config.Gateway{AdminURL: srv.URL}, e.store, newSink(),
		WithTransport(e.wire.Transport(http.DefaultTransport.(*http.Transport).Clone())))
	if err != nil {
		t.Fatal(err)
	}
	e.target = tg
	e.platform = &model.Platform{
		Gateways: map[string]model.Gateway{gateway: {Name: gateway}},
		Policy: model.Policy{
			Defaults: model.PolicyDefaults{Drift: model.DriftRevert},
			Deletion: model.PolicyDeletion{MaxDeletesPerPlan: 100},
		},
	}
	return e
}

type kongEnv struct {
	url      string
	target   *Target
	store    *state.Memory
	platform *model.Platform
	wire     *contracttest.Wire
}

func (e *kongEnv) Target() apply.Target      { return e.target }
func (e *kongEnv) Store() state.Store        { return e.store }
func (e *kongEnv) StateID() string           { return string(plan.Kong) + "/" + gateway }
func (e *kongEnv) Platform() *model.Platform { return e.platform }

// Resource i of a tenant is service <tenant>-s<i>, upstream
// <tenant>-s<i>-up with one target, and consumer <tenant>-s<i>-c with one
// ACL group: the kinds whose unique key is a name and those unique on
// their parent, so that every rule (adopt included) runs on both.
func contractService(tenant string, i int) string { return fmt.Sprintf("%s-s%d", tenant, i) }

func contractUpstream(svc string) string { return svc + "-up" }
func contractTarget(svc string) string   { return svc + ".internal:8080" }
func contractConsumer(svc string) string { return svc + "-c" }

const contractGroup = "readers"

func (e *kongEnv) serviceKey(tenant, name string) plan.Key {
	return plan.Key{Tenant: tenant, System: plan.Kong, Target: gateway, Kind: KindService, Name: name}
}

func (e *kongEnv) request(m *model.Tenant) plan.TenantRequest {
	return plan.TenantRequest{Desired: render.TenantResources(e.platform, m), Model: m}
}

func intPtr(n int) *int { return &n }

func (e *kongEnv) Tenant(name string, n int) plan.TenantRequest {
	m := &model.Tenant{
		Name: name,
		Kong: &model.TenantKong{Gateway: gateway, Services: map[string]*model.KongService{},
			Upstreams: map[string]*model.KongUpstream{}, Consumers: map[string]*model.KongConsumer{}},
		Policies: model.TenantPolicies{Drift: model.DriftRevert},
	}
	for i := range n {
		svc := contractService(name, i)
		m.Kong.Services[svc] = &model.KongService{Name: svc, URL: "http://" + svc + ".internal:8080", ReadTimeout: intPtr(60000)}
		up := contractUpstream(svc)
		m.Kong.Upstreams[up] = &model.KongUpstream{Name: up, Algorithm: "round-robin", Targets: []model.KongTarget{{Target: contractTarget(svc), Weight: 100}}}
		c := contractConsumer(svc)
		m.Kong.Consumers[c] = &model.KongConsumer{Username: c, Groups: []string{contractGroup}}
	}
	return e.request(m)
}

func (e *kongEnv) Keys(tr plan.TenantRequest, i int) []plan.Key {
	svc := contractService(tr.Name(), i)
	k := func(kind, name string) plan.Key {
		return plan.Key{Tenant: tr.Name(), System: plan.Kong, Target: gateway, Kind: kind, Name: name}
	}
	return []plan.Key{
		e.serviceKey(tr.Name(), svc),
		k(KindUpstream, contractUpstream(svc)),
		k(KindTarget, contractUpstream(svc)+"/"+contractTarget(svc)),
		k(KindConsumer, contractConsumer(svc)),
		k(KindACLGroup, contractConsumer(svc)+"/"+contractGroup),
	}
}

func (e *kongEnv) Without(tr plan.TenantRequest, i int) plan.TenantRequest {
	m := contracttest.CloneModel(tr.Model)
	svc := contractService(tr.Name(), i)
	delete(m.Kong.Services, svc)
	delete(m.Kong.Upstreams, contractUpstream(svc))
	delete(m.Kong.Consumers, contractConsumer(svc))
	return e.request(m)
}

func (e *kongEnv) Change(tr plan.TenantRequest, i int) (plan.TenantRequest, plan.Key) {
	m := contracttest.CloneModel(tr.Model)
	svc := contractService(tr.Name(), i)
	m.Kong.Services[svc].ReadTimeout = intPtr(30000)
	return e.request(m), e.serviceKey(tr.Name(), svc)
}

// Protected: Kong has no deletion protection.
func (e *kongEnv) Protected(tr plan.TenantRequest) (plan.TenantRequest, plan.Key, bool) {
	return tr, plan.Key{}, false
}

func (e *kongEnv) InventoryID(k plan.Key) string { return entityID(k.Kind, k.Name) }

// admin sends an out-of-band Admin API request, past the counting
// transport.
func (e *kongEnv) admin(t *testing.T, method, path string, body any) (int, map[string]any) {
	t.Helper()
	return admin(t, method, e.url+path, body)
}

// Read describes an entity without what Kong stamps on it (its ID,
// timestamps and the ID of its parent).
func (e *kongEnv) Read(t *testing.T, k plan.Key) (string, bool) {
	t.Helper()
	var path string
	switch k.Kind {
	case KindService:
		path = "/services/" + url.PathEscape(k.Name)
	case KindUpstream:
		path = "/upstreams/" + url.PathEscape(k.Name)
	case KindConsumer:
		path = "/consumers/" + url.PathEscape(k.Name)
	case KindTarget, KindACLGroup:
		parent, child, _ := strings.Cut(k.Name, "/")
		list := "/upstreams/" + url.PathEscape(parent) + "/targets"
		field := "target"
		if k.Kind == KindACLGroup {
			list, field = "/consumers/"+url.PathEscape(parent)+"/acls", "group"
		}
		code, obj := e.admin(t, http.MethodGet, list, nil)
		if code == http.StatusNotFound {
			return "", false
		}
		if code != http.StatusOK {
			t.Fatalf("GET %s: %d %v", list, code, obj)
		}
		rows, _ := obj["data"].([]any)
		for _, r := range rows {
			if row, ok := r.(map[string]any); ok && row[field] == child {
				return describeEntity(t, row), true
			}
		}
		return "", false
	default:
		t.Fatalf("kong contract: Read of %s", k)
	}
	code, obj := e.admin(t, http.MethodGet, path, nil)
	switch code {
	case http.StatusNotFound:
		return "", false
	case http.StatusOK:
	default:
		t.Fatalf("GET %s: %d %v", path, code, obj)
	}
	return describeEntity(t, obj), true
}

// describeEntity is an Admin API entity as JSON without its ID, its
// timestamps and its parent's ID.
func describeEntity(t *testing.T, obj map[string]any) string {
	t.Helper()
	delete(obj, "id")
	delete(obj, "created_at")
	delete(obj, "updated_at")
	delete(obj, "upstream")
	delete(obj, "consumer")
	b, err := json.Marshal(obj) // map keys sorted
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func (e *kongEnv) Writes() int { return e.wire.Writes() }

func (e *kongEnv) Drift(t *testing.T, tr plan.TenantRequest, i int) plan.Key {
	t.Helper()
	svc := contractService(tr.Name(), i)
	if code, obj := e.admin(t, http.MethodPatch, "/services/"+svc, map[string]any{"read_timeout": 1234}); code != http.StatusOK {
		t.Fatalf("drift of service %s: %d %v", svc, code, obj)
	}
	return e.serviceKey(tr.Name(), svc)
}

func (e *kongEnv) createService(t *testing.T, name string, tags []string) {
	t.Helper()
	body := map[string]any{"name": name, "url": "http://" + name + ".elsewhere:9090", "tags": tags}
	if code, obj := e.admin(t, http.MethodPost, "/services", body); code != http.StatusCreated {
		t.Fatalf("create service %s: %d %v", name, code, obj)
	}
}

// Foreign is a service with the tenant's tags and naming.
func (e *kongEnv) Foreign(t *testing.T, tenant, name string) plan.Key {
	t.Helper()
	svc := tenant + "-" + name
	e.createService(t, svc, render.Tags(tenant))
	return e.serviceKey(tenant, svc)
}

// Taken makes resource i out of band with another team's tag: the
// service, the upstream with its target, the consumer with its ACL group
// (the ACL group and the target with a weight Git does not have).
func (e *kongEnv) Taken(t *testing.T, tr plan.TenantRequest, i int) plan.Key {
	t.Helper()
	svc := contractService(tr.Name(), i)
	e.createService(t, svc, []string{"team-x"})
	up, c := contractUpstream(svc), contractConsumer(svc)
	for _, w := range []struct {
		path string
		body map[string]any
	}{
		{"/upstreams", map[string]any{"name": up, "algorithm": "round-robin", "tags": []string{"team-x"}}},
		{"/upstreams/" + up + "/targets", map[string]any{"target": contractTarget(svc), "weight": 7, "tags": []string{"team-x"}}},
		{"/consumers", map[string]any{"username": c, "tags": []string{"team-x"}}},
		{"/consumers/" + c + "/acls", map[string]any{"group": contractGroup, "tags": []string{"team-x"}}},
	} {
		if code, obj := e.admin(t, http.MethodPost, w.path, w.body); code != http.StatusCreated {
			t.Fatalf("POST %s: %d %v", w.path, code, obj)
		}
	}
	return e.serviceKey(tr.Name(), svc)
}

func (e *kongEnv) FailNextCreate(*testing.T) {
	e.wire.FailNextCreate()
}
