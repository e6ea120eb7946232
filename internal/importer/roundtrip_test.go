package importer

import (
	"os"
	"testing"

	"github.com/k3sync/k3sync/internal/apply"
	"github.com/k3sync/k3sync/internal/credentials"
	"github.com/k3sync/k3sync/internal/loader"
	"github.com/k3sync/k3sync/internal/plan"
	"github.com/k3sync/k3sync/internal/render"
	"github.com/k3sync/k3sync/internal/state"
	"github.com/k3sync/k3sync/internal/target/registry"
)

// roundTrip plans the imported tenant with the targets: on Kubernetes,
// what was imported is adopted (never blocked), and once applied the
// next plan has nothing left to do there. Kafka and Kong adoption is
// being built elsewhere: their changes are logged, not asserted.
func roundTrip(t *testing.T, p *peers, repoDir string, res *Result) {
	t.Helper()
	ctx := t.Context()
	ofs, err := Overlay(os.DirFS(repoDir), "payments", res.File)
	if err != nil {
		t.Fatal(err)
	}
	repo, err := loader.Load(ofs)
	if err != nil {
		t.Fatalf("load the repo with the imported tenant: %v", err)
	}
	tenant := repo.Tenant("payments")
	if tenant == nil || !tenant.Policies.Adopt {
		t.Fatalf("tenant payments %+v: want it, with policies.adopt", tenant)
	}
	set, err := registry.Build(p.cfg, state.NewMemory(), func() credentials.Tenants { return repo })
	if err != nil {
		t.Fatal(err)
	}
	defer set.Close()
	// Kubernetes and Kafka adopt everything the import writes; Kong
	// adopts its entities but not yet existing ACL groups and upstream
	// targets (planned as creates, which would conflict), so it is only
	// planned here.
	var applied []apply.Target
	for _, tg := range set.Targets {
		if tg.System() != plan.Kong {
			applied = append(applied, tg)
		}
	}
	req := plan.Request{Platform: &repo.Platform, Tenants: []plan.TenantRequest{{Desired: render.TenantResources(&repo.Platform, tenant), Model: tenant}}}

	all := apply.New(set.Targets...).Plan(ctx, req)
	for _, c := range all.Changes {
		t.Logf("plan: %s %s %v", c.Action, c.Key, c.Notes)
	}
	for _, e := range all.Errors {
		t.Logf("plan error: %+v", e)
	}
	adopted := map[string]bool{}
	for _, c := range all.Changes {
		switch c.Action {
		case plan.Blocked:
			t.Errorf("change blocked although the imported tenant adopts: %s %v", c.Key, c.Notes)
		case plan.Adopt:
			adopted[string(c.System)+" "+c.Kind+"/"+c.Name] = true
		case plan.Create, plan.Update, plan.Delete, plan.Orphan:
		}
	}
	for _, want := range []string{"kubernetes Namespace/payments", "kafka topic/payments.ledger", "kafka user/payments.api", "kong service/payments-api"} {
		if !adopted[want] {
			t.Errorf("%s is not adopted: %v", want, adopted)
		}
	}

	engine := apply.New(applied...)
	if rep := engine.Apply(ctx, req, plan.ApplyOptions{}); rep.Failed() {
		t.Fatalf("apply on Kubernetes and Kafka failed: %+v", rep)
	}
	again := engine.Plan(ctx, req)
	for _, c := range again.Changes {
		t.Errorf("after the apply, still planned: %s %s %v", c.Action, c.Key, c.Fields)
	}
	for _, e := range again.Errors {
		t.Errorf("plan error after the apply: %+v", e)
	}
}
