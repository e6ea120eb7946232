package reconcile

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/k3sync/k3sync/internal/apply"
	"github.com/k3sync/k3sync/internal/plan"
	"github.com/k3sync/k3sync/internal/state"
	"github.com/k3sync/k3sync/internal/view"
)

// everyTenant plans and applies a namespace for every tenant it is asked
// about.
type everyTenant struct{}

func namespaceOf(tenant string) plan.Change {
	return plan.Change{Key: plan.Key{Tenant: tenant, System: plan.Kubernetes, Target: "x", Kind: "Namespace", Name: tenant}, Action: plan.Create}
}

func (everyTenant) Plan(_ context.Context, req plan.Request) *plan.Plan {
	p := &plan.Plan{}
	for _, tr := range req.Tenants {
		p.Changes = append(p.Changes, namespaceOf(tr.Name()))
	}
	return p
}

func (everyTenant) Apply(_ context.Context, req plan.Request, _ plan.ApplyOptions) *apply.Report {
	rep := &apply.Report{}
	for _, tr := range req.Tenants {
		rep.Results = append(rep.Results, plan.Result{Change: namespaceOf(tr.Name())})
	}
	return rep
}

// slowJournal takes a while to write each run, as a state file's fsync or
// a Secret's read and write do, and counts the writes in flight.
type slowJournal struct {
	state.Journal
	mu             sync.Mutex
	inFlight, most int
}

func (j *slowJournal) AddRun(ctx context.Context, run state.Run) error {
	j.mu.Lock()
	j.inFlight++
	j.most = max(j.most, j.inFlight)
	j.mu.Unlock()
	time.Sleep(10 * time.Millisecond)
	j.mu.Lock()
	j.inFlight--
	j.mu.Unlock()
	return j.Journal.AddRun(ctx, run) //nolint:wrapcheck // a test double
}

// TestFirstSyncRecordsTenantsSideBySide: a sync of many tenants records
// their runs side by side, not one after the other behind the last apply,
// and every tenant's run is recorded.
func TestFirstSyncRecordsTenantsSideBySide(t *testing.T) {
	const tenants = 40
	repo := fstest.MapFS{
		"platform.cue": {Data: []byte("package k3sync\n\nclusters: x: {region: \"r\", capacity: {cpu: \"100\", memory: \"100Gi\", pods: 1000}}\nkafka: {}\ngateways: {}\npolicy: {}\n")},
	}
	for i := range tenants {
		repo[fmt.Sprintf("tenants/t%02d/tenant.cue", i)] = &fstest.MapFile{Data: []byte("package k3sync\n\nowners: [\"a\"]\n")}
	}
	j := &slowJournal{Journal: state.NewMemory()}
	r := New(oneCommit{repo}, everyTenant{}, j, Options{Interval: time.Hour})
	r.PollOnce(t.Context())

	o, err := r.Overview(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	synced := 0
	for _, tn := range o.Tenants {
		if tn.State == view.Synced {
			synced++
		}
	}
	if synced != tenants {
		t.Errorf("%d of %d tenants synced after the first sync: %+v", synced, tenants, o.Tenants)
	}
	runs, err := j.Runs(t.Context(), "", 0)
	if err != nil || len(runs) != tenants {
		t.Fatalf("%d runs recorded (%v); want one per tenant, %d", len(runs), err, tenants)
	}
	if j.most < 2 {
		t.Errorf("the runs of %d tenants were recorded one at a time; want them recorded side by side", tenants)
	}
}
