package kubernetes

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sync/errgroup"

	"github.com/k3sync/k3sync/internal/model"
	"github.com/k3sync/k3sync/internal/plan"
	"github.com/k3sync/k3sync/internal/render"
)

// onDemandRequest is request with the Kubernetes objects rendered when a
// cluster asks for them, as the daemon renders them.
func onDemandRequest(r *model.Repo) plan.Request {
	req := plan.Request{Platform: &r.Platform, Complete: true}
	for _, tn := range r.Tenants {
		req.Tenants = append(req.Tenants, plan.TenantRequest{Desired: render.TenantOnDemand(&r.Platform, tn), Model: tn})
	}
	return req
}

// released reports whether every cluster released the objects of cr's
// tenant: the request no longer holds them, and each call renders them.
func released(cr *render.ClusterResources) bool {
	a, b := cr.Desired(), cr.Desired()
	return len(a) == 0 || a[0] != b[0]
}

// TestOnDemandRequest: a request whose objects are rendered when each
// cluster plans or applies them (the daemon's) plans and applies what the
// same request rendered up front does, and once both clusters have
// planned, or applied, a tenant, the request no longer holds its objects.
func TestOnDemandRequest(t *testing.T) {
	e := newEnv(t)
	r := repo(t, nil)
	want := e.plan(t, request(r))
	lazy := onDemandRequest(r)
	// Both clusters at once, as the engine plans them: they share each
	// tenant's objects while both need them.
	var got [2][]plan.Change
	var g errgroup.Group
	for i, name := range []string{"eu-west", "us-east"} {
		g.Go(func() error {
			var err error
			got[i], err = e.targets[name].Plan(t.Context(), lazy)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, append(got[0], got[1]...)); diff != "" {
		t.Fatalf("plan on demand (-up front +on demand):\n%s", diff)
	}
	for _, tr := range lazy.Tenants {
		for _, cr := range tr.Desired.Kubernetes {
			if !released(cr) {
				t.Errorf("tenant %s: the request still holds its objects after both clusters planned it", tr.Name())
			}
		}
	}

	lazy = onDemandRequest(r)
	e.apply(t, lazy)
	for _, tr := range lazy.Tenants {
		for _, cr := range tr.Desired.Kubernetes {
			if !released(cr) {
				t.Errorf("tenant %s: the request still holds its objects after both clusters applied it", tr.Name())
			}
		}
	}
	if after := e.plan(t, request(r)); len(after) != 0 {
		t.Errorf("after the apply on demand, the plan rendered up front has changes:\n%s", summary(after))
	}
	if after := e.plan(t, onDemandRequest(r)); len(after) != 0 {
		t.Errorf("after the apply on demand, the plan on demand has changes:\n%s", summary(after))
	}

	// A change in Git: updates, deletes and unchanged objects are
	// applied and recorded on demand as up front.
	r2 := repo(t, map[string][2]string{
		"payments": {`{group: "auditors", role: "view"},`, ``},
		"search":   {`labels: tier: "batch"`, `labels: {tier: "batch", owner: "search-sre"}`},
	})
	want = e.plan(t, request(r2))
	if !strings.Contains(summary(want), "update ") || !strings.Contains(summary(want), "delete ") {
		t.Fatalf("the edits plan no update and delete:\n%s", summary(want))
	}
	if diff := cmp.Diff(want, e.plan(t, onDemandRequest(r2))); diff != "" {
		t.Errorf("plan of the change on demand (-up front +on demand):\n%s", diff)
	}
	e.apply(t, onDemandRequest(r2))
	if after := e.plan(t, request(r2)); len(after) != 0 {
		t.Errorf("after the change applied on demand, the plan rendered up front has changes:\n%s", summary(after))
	}
}
