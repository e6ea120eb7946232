package apply

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/k3sync/k3sync/internal/model"
	"github.com/k3sync/k3sync/internal/plan"
)

// events is the log of what fake targets did, in order.
type events struct {
	mu  sync.Mutex
	log []string
}

func (e *events) add(format string, args ...any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.log = append(e.log, fmt.Sprintf(format, args...))
}

func (e *events) index(s string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Index(e.log, s)
}

// fakeTarget applies one change per tenant of the request, tenant after
// tenant, waiting on the gate as real targets do.
type fakeTarget struct {
	sys  plan.System
	name string
	ev   *events
	// between runs after each tenant, before the next one's turn.
	between func(tenant string)
	// skipDone: the target never tells the gate it is done.
	skipDone bool
	// returning runs when Apply returns.
	returning func()
	// owned are tenants the target owns that a Complete request does not
	// list: removed from Git.
	owned []string
	// reverse takes the request's tenants in reverse order.
	reverse bool
}

func (f *fakeTarget) System() plan.System { return f.sys }
func (f *fakeTarget) Name() string        { return f.name }

func (f *fakeTarget) Plan(context.Context, plan.Request) ([]plan.Change, error) { return nil, nil }

func (f *fakeTarget) Apply(ctx context.Context, req plan.Request, opts plan.ApplyOptions) ([]plan.Result, error) {
	if f.returning != nil {
		defer f.returning()
	}
	var out []plan.Result
	var tenants []string
	for _, tr := range req.Tenants {
		tenants = append(tenants, tr.Name())
	}
	if req.Complete {
		tenants = append(tenants, f.owned...)
	}
	if f.reverse {
		slices.Reverse(tenants)
	}
	// One tenant at a time, as a target with a concurrency of 1: those
	// whose turn has come first, as real targets start them.
	for _, tenant := range plan.ReadyFirst(opts, tenants, func(s string) string { return s }) {
		key := plan.Key{Tenant: tenant, System: f.sys, Target: f.name, Kind: "Thing", Name: "x"}
		if err := opts.Wait(ctx, tenant); err != nil {
			out = append(out, plan.Result{Change: plan.Change{Key: key}, Err: err, Error: err.Error()})
			continue
		}
		f.ev.add("start %s/%s %s", f.sys, f.name, tenant)
		f.ev.add("end %s/%s %s", f.sys, f.name, tenant)
		out = append(out, plan.Result{Change: plan.Change{Key: key, Action: plan.Create}})
		if !f.skipDone {
			opts.Done(tenant)
		}
		if f.between != nil {
			f.between(tenant)
		}
	}
	return out, nil
}

func request(tenants ...string) plan.Request {
	var req plan.Request
	for _, tn := range tenants {
		req.Tenants = append(req.Tenants, plan.TenantRequest{Model: &model.Tenant{Name: tn}})
	}
	return req
}

// TestApplyOrdersEachTenantAcrossSystems: whatever the interleaving, no
// target starts on a tenant before every target of an earlier system is
// done with it, and every change is reported once.
func TestApplyOrdersEachTenantAcrossSystems(t *testing.T) {
	ev := &events{}
	jitter := func(tenant string) { time.Sleep(time.Duration(len(tenant)%3) * time.Millisecond) }
	targets := []Target{
		&fakeTarget{sys: plan.Kong, name: "edge", ev: ev},
		&fakeTarget{sys: plan.Kafka, name: "main", ev: ev, between: jitter},
		&fakeTarget{sys: plan.Kubernetes, name: "eu", ev: ev, between: jitter},
		&fakeTarget{sys: plan.Kubernetes, name: "us", ev: ev},
	}
	var tenants []string
	for i := range 30 {
		tenants = append(tenants, fmt.Sprintf("t%0*d", 1+i%3, i))
	}
	rep := New(targets...).Apply(t.Context(), request(tenants...), plan.ApplyOptions{})
	if rep.Failed() {
		t.Fatalf("apply failed: %+v", rep)
	}
	if got, want := len(rep.Results), 4*len(tenants); got != want {
		t.Fatalf("%d results, want %d", got, want)
	}
	before := map[string][]string{
		"kafka/main": {"kubernetes/eu", "kubernetes/us"},
		"kong/edge":  {"kubernetes/eu", "kubernetes/us", "kafka/main"},
	}
	for _, tn := range tenants {
		for later, earlier := range before {
			start := ev.index("start " + later + " " + tn)
			for _, e := range earlier {
				if end := ev.index("end " + e + " " + tn); end < 0 || end > start {
					t.Errorf("tenant %s: %s started (event %d) before %s was done (event %d)", tn, later, start, e, end)
				}
			}
		}
	}
}

// TestApplyPipelinesTenants: Kafka starts on a tenant Kubernetes is done
// with while Kubernetes still works on the next one. A system-by-system
// apply would make Kubernetes wait here forever.
func TestApplyPipelinesTenants(t *testing.T) {
	ev := &events{}
	kafkaStarted := make(chan struct{})
	var once sync.Once
	kafka := &fakeTarget{sys: plan.Kafka, name: "main", ev: ev, between: func(string) { once.Do(func() { close(kafkaStarted) }) }}
	kube := &fakeTarget{sys: plan.Kubernetes, name: "eu", ev: ev, between: func(tenant string) {
		if tenant != "a" {
			return
		}
		select {
		case <-kafkaStarted:
		case <-time.After(30 * time.Second):
			t.Error("Kafka did not start on tenant a while Kubernetes held tenant b back: tenants are not pipelined")
		}
	}}
	rep := New(kube, kafka).Apply(t.Context(), request("a", "b"), plan.ApplyOptions{})
	if rep.Failed() {
		t.Fatalf("apply failed: %+v", rep)
	}
	if ev.index("end kafka/main a") > ev.index("start kubernetes/eu b") {
		t.Errorf("Kafka finished tenant a after Kubernetes started tenant b, want before:\n%v", ev.log)
	}
}

// TestApplyGateFallsBackOnReturn: a target that never says it is done
// with a tenant releases it by returning; a canceled apply stops waiting.
func TestApplyGateFallsBackOnReturn(t *testing.T) {
	ev := &events{}
	kube := &fakeTarget{sys: plan.Kubernetes, name: "eu", ev: ev, skipDone: true}
	kafka := &fakeTarget{sys: plan.Kafka, name: "main", ev: ev}
	rep := New(kube, kafka).Apply(t.Context(), request("a", "b"), plan.ApplyOptions{})
	if rep.Failed() || ev.index("start kafka/main b") < 0 {
		t.Fatalf("Kafka did not apply after Kubernetes returned: %+v\n%v", rep, ev.log)
	}

	// Kubernetes cancels the apply and returns only after Kafka did:
	// Kafka's wait ends with the context, not with Kubernetes.
	ctx, cancel := context.WithCancel(t.Context())
	kafkaReturned := make(chan struct{})
	stuck := &fakeTarget{sys: plan.Kubernetes, name: "eu", ev: ev, skipDone: true, between: func(string) {
		cancel()
		select {
		case <-kafkaReturned:
		case <-time.After(30 * time.Second):
			t.Error("Kafka did not return while Kubernetes ran: it waited for Kubernetes, not for the context")
		}
	}}
	waiting := &fakeTarget{sys: plan.Kafka, name: "main", ev: ev, returning: func() { close(kafkaReturned) }}
	rep = New(stuck, waiting).Apply(ctx, request("c"), plan.ApplyOptions{})
	var waitErr error
	for _, r := range rep.Results {
		if r.System == plan.Kafka {
			waitErr = r.Err
		}
	}
	if !errors.Is(waitErr, context.Canceled) {
		t.Fatalf("Kafka's change of a canceled apply: %v, want context.Canceled", waitErr)
	}
}

// TestApplyRemovedTenantsGoInReverse: a tenant removed from Git, named as
// removed or owned but not listed by a complete request, goes Kong, then
// Kafka, then Kubernetes, so that its namespaces (which hold its
// credentials) go last; the other tenants of the same apply still go
// Kubernetes first. Targets that take tenants in opposite orders, one at
// a time, do not wait on each other forever.
func TestApplyRemovedTenantsGoInReverse(t *testing.T) {
	ev := &events{}
	targets := []Target{
		&fakeTarget{sys: plan.Kong, name: "edge", ev: ev, owned: []string{"gone"}},
		&fakeTarget{sys: plan.Kafka, name: "main", ev: ev, owned: []string{"gone"}},
		&fakeTarget{sys: plan.Kubernetes, name: "eu", ev: ev, owned: []string{"gone"}, reverse: true},
		&fakeTarget{sys: plan.Kubernetes, name: "us", ev: ev, owned: []string{"gone"}},
	}
	req := request("a", "b")
	req.Tenants = append(req.Tenants, plan.RemovedTenant("removed"))
	req.Complete = true
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	rep := New(targets...).Apply(ctx, req, plan.ApplyOptions{})
	if rep.Failed() {
		t.Fatalf("apply failed (targets waited on each other?): %+v\n%v", rep, ev.log)
	}
	forward := map[string][]string{
		"kafka/main": {"kubernetes/eu", "kubernetes/us"},
		"kong/edge":  {"kubernetes/eu", "kubernetes/us", "kafka/main"},
	}
	reverse := map[string][]string{
		"kafka/main":    {"kong/edge"},
		"kubernetes/eu": {"kong/edge", "kafka/main"},
		"kubernetes/us": {"kong/edge", "kafka/main"},
	}
	for tn, before := range map[string]map[string][]string{"a": forward, "b": forward, "removed": reverse, "gone": reverse} {
		for later, earlier := range before {
			start := ev.index("start " + later + " " + tn)
			if start < 0 {
				t.Errorf("tenant %s: %s never started", tn, later)
			}
			for _, e := range earlier {
				if end := ev.index("end " + e + " " + tn); end < 0 || end > start {
					t.Errorf("tenant %s: %s started (event %d) before %s was done (event %d)", tn, later, start, e, end)
				}
			}
		}
	}
}

// erringTarget plans one change per tenant and fails with err.
type erringTarget struct {
	name string
	err  error
}

func (f *erringTarget) System() plan.System { return plan.Kong }
func (f *erringTarget) Name() string        { return f.name }

func (f *erringTarget) Plan(_ context.Context, req plan.Request) ([]plan.Change, error) {
	var out []plan.Change
	for _, tr := range req.Tenants {
		out = append(out, plan.Change{Key: plan.Key{Tenant: tr.Name(), System: plan.Kong, Target: f.name, Kind: "service", Name: "s"}, Action: plan.Create})
	}
	return out, f.err
}

func (f *erringTarget) Apply(ctx context.Context, req plan.Request, _ plan.ApplyOptions) ([]plan.Result, error) {
	changes, err := f.Plan(ctx, req)
	results := make([]plan.Result, len(changes))
	for i, c := range changes {
		results[i] = plan.Result{Change: c}
	}
	return results, err
}

// TestTargetErrorsPerTenant: a target that fails for one tenant keeps
// the others' changes and names the tenant; an ApplyError is the
// changes' (their results), not the target's; anything else is the
// whole target's.
func TestTargetErrorsPerTenant(t *testing.T) {
	partial := &plan.PartialError{Target: "kong gateway edge"}
	partial.Add("b", errors.New("unknown plugin"))
	applyErr := &plan.ApplyError{Target: "kong gateway edge", Total: 1, Failed: []plan.Result{{Error: "boom"}}}
	for _, tc := range []struct {
		name string
		err  error
		want []plan.TargetError
	}{
		{"partial", partial, []plan.TargetError{{Tenant: "b", System: plan.Kong, Target: "edge", Message: "unknown plugin"}}},
		{"apply error joined with partial", errors.Join(applyErr, partial), []plan.TargetError{{Tenant: "b", System: plan.Kong, Target: "edge", Message: "unknown plugin"}}},
		{"whole target", errors.New("connection refused"), []plan.TargetError{{System: plan.Kong, Target: "edge", Message: "connection refused"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := New(&erringTarget{name: "edge", err: tc.err})
			p := e.Plan(t.Context(), request("a", "b"))
			if len(p.Changes) != 2 {
				t.Errorf("plan kept %d changes, want both tenants' 2", len(p.Changes))
			}
			r := e.Apply(t.Context(), request("a", "b"), plan.ApplyOptions{})
			if !slices.Equal(r.Errors, tc.want) {
				t.Errorf("apply errors = %+v, want %+v", r.Errors, tc.want)
			}
			if tc.name == "apply error joined with partial" {
				return // Plan never returns an ApplyError
			}
			if !slices.Equal(p.Errors, tc.want) {
				t.Errorf("plan errors = %+v, want %+v", p.Errors, tc.want)
			}
		})
	}
}
