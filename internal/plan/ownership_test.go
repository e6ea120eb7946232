package plan

import (
	"strings"
	"testing"
)

// TestNotOwned: one wording for every target, with what was found and the
// way forward, and a blocked change that applying the plan does not make.
func TestNotOwned(t *testing.T) {
	ns := Key{Tenant: "payments", System: Kubernetes, Target: "eu-west", Kind: "Namespace", Name: "payments"}
	rb := Key{Tenant: "payments", System: Kubernetes, Target: "eu-west", Kind: "RoleBinding", Namespace: "payments", Name: "k3sync:edit:devs"}
	c := NotOwned(ns, 0, "made outside k3sync")
	want := "exists, not owned by k3sync (made outside k3sync): k3sync neither changes nor deletes it and does not record it as its own; " +
		"way forward: delete it so that k3sync creates it, or let the tenant adopt it (policies: adopt: true)"
	if c.Action != Blocked || c.Key != ns || len(c.Notes) != 1 || c.Notes[0] != want {
		t.Errorf("NotOwned = %+v", c)
	}
	if got := NotOwned(ns, 0, "").Notes[0]; !strings.HasPrefix(got, "exists, not owned by k3sync: ") {
		t.Errorf("without what was found: %q", got)
	}
	in := InsideNotOwned(rb, 4, ns)
	if in.Action != Blocked || in.Level != 4 || len(in.Notes) != 1 ||
		in.Notes[0] != "Namespace payments exists, not owned by k3sync: k3sync creates and changes nothing in it or attached to it, so not this either, until that Namespace is deleted or adopted" {
		t.Errorf("InsideNotOwned = %+v", in)
	}
	p := &Plan{}
	p.Add(c, in)
	if p.HasChanges() || !p.Blocked() || p.Summary().Blocked != 2 {
		t.Errorf("a plan of not owned resources: changes %v, blocked %v, %s", p.HasChanges(), p.Blocked(), p.Summary())
	}
}
