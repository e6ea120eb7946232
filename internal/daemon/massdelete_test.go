package daemon

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/k3sync/k3sync/internal/state"
)

// TestMassDeletionGuardCountsEveryDelete: removing 25 ACLs in the same
// commit as a topic edit is held by the guard, nothing deleted; so is the
// next, unrelated commit of the same tenant (the deletes are still in its
// plan), and the run says why.
func TestMassDeletionGuardCountsEveryDelete(t *testing.T) {
	p, d := startDaemon(t)
	ctx := t.Context()
	rec := d.Reconciler
	payments := readFile(t, filepath.Join(exampleRepo, "tenants/payments/tenant.cue"))
	var acls strings.Builder
	for i := range 25 {
		fmt.Fprintf(&acls, "\t\t\t\t{resource: \"topic\", name: \"payments.bulk%02d\", operations: [\"read\"]},\n", i)
	}
	const anchor = "\t\t\t\t{resource: \"group\", name: \"payments.api\", operations: [\"read\"]},\n"
	withACLs := strings.Replace(payments, anchor, anchor+acls.String(), 1)
	if withACLs == payments {
		t.Fatal("the example's payments.api ACLs moved: update the test")
	}
	p.repo.WriteFile("tenants/payments/tenant.cue", withACLs)
	p.repo.Commit("payments.api reads 25 more topics")
	rec.PollOnce(ctx)
	adm := kadm.NewClient(mustKgo(t, p.kafka.ListenAddrs()))
	count := func() int {
		res, err := adm.DescribeACLs(ctx, kadm.NewACLs().AnyResource().ResourcePatternType(kadm.ACLPatternAny).Operations(kadm.OpAny).Allow().AllowHosts().Deny().DenyHosts())
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, r := range res {
			for _, a := range r.Described {
				if strings.HasPrefix(a.Name, "payments.bulk") {
					n++
				}
			}
		}
		return n
	}
	if n := count(); n != 25 {
		t.Fatalf("%d of the 25 ACLs created", n)
	}

	for i, retention := range []string{"604800001", "604800002"} {
		subject := "payments: 25 ACLs fewer, retention " + retention
		src := strings.Replace(payments, "\"retention.ms\":        604800000", "\"retention.ms\":        "+retention, 1)
		if i == 1 {
			subject = "payments: retention " + retention + " (unrelated)"
		}
		p.repo.WriteFile("tenants/payments/tenant.cue", src)
		p.repo.Commit(subject)
		k0, ka0, ko0 := p.writes(d)
		rec.PollOnce(ctx)
		if n := count(); n != 25 {
			t.Errorf("%s: %d of the 25 ACLs left, want all", subject, n)
		}
		if k, ka, ko := p.writes(d); k != k0 || ka != ka0 || ko != ko0 {
			t.Errorf("%s: the held tenant was written: kubernetes %d, kafka %d, kong %d", subject, k-k0, ka-ka0, ko-ko0)
		}
		tv, err := rec.Tenant(ctx, "payments")
		if err != nil {
			t.Fatal(err)
		}
		if len(tv.History) == 0 || tv.History[0].Result != state.ResultBlocked ||
			!strings.Contains(tv.History[0].Message, "mass-deletion guard: the plan deletes 25 resources, more than the platform's limit of 20") {
			t.Errorf("%s: the last run does not say the guard held: %+v", subject, tv.History[:min(1, len(tv.History))])
		}
	}
}
