package reconcile

import (
	"context"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"testing/synctest"
	"time"

	"github.com/k3sync/k3sync/internal/apply"
	"github.com/k3sync/k3sync/internal/plan"
	"github.com/k3sync/k3sync/internal/state"
)

// planCounter counts plans against live state and finds nothing to do.
type planCounter struct{ plans atomic.Int32 }

func (p *planCounter) Plan(context.Context, plan.Request) *plan.Plan {
	p.plans.Add(1)
	return &plan.Plan{}
}

func (p *planCounter) Apply(context.Context, plan.Request, plan.ApplyOptions) *apply.Report {
	return &apply.Report{}
}

// TestDriftScheduleSurvivesLeadershipHandover: a replica that loses the
// Lease stops its loop (Start's ctx ends) and starts it again when it wins
// the Lease back, on the revision it already has. Its drift checks must
// go on running on schedule, though the startup poll finds nothing new.
func TestDriftScheduleSurvivesLeadershipHandover(t *testing.T) {
	repo := fstest.MapFS{
		"platform.cue":         {Data: []byte("package k3sync\n\nclusters: x: {region: \"r\", capacity: {cpu: \"1\", memory: \"1Gi\", pods: 10}}\nkafka: {}\ngateways: {}\npolicy: defaults: driftSchedule: \"@every 10s\"\n")},
		"tenants/a/tenant.cue": {Data: []byte("package k3sync\n\nowners: [\"a\"]\n")},
	}
	synctest.Test(t, func(t *testing.T) {
		eng := &planCounter{}
		r := New(oneCommit{repo}, eng, state.NewMemory(), Options{Interval: time.Hour})
		lead := func(d time.Duration) int32 {
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan struct{})
			go func() { defer close(done); _ = r.Start(ctx) }()
			synctest.Wait() // the startup poll
			before := eng.plans.Load()
			time.Sleep(d)
			synctest.Wait()
			cancel() // leadership lost
			<-done
			return eng.plans.Load() - before
		}
		if n := lead(35 * time.Second); n < 3 {
			t.Fatalf("first term: %d drift checks in 35s on a 10s schedule, want 3", n)
		}
		time.Sleep(time.Minute) // a follower for a while
		if n := lead(35 * time.Second); n < 3 {
			t.Fatalf("after winning the Lease back: %d drift checks in 35s on a 10s schedule, want 3: the schedule was lost", n)
		}
	})
}
