package reconcile

import (
	"context"
	"errors"
	"io/fs"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/k3sync/k3sync/internal/apply"
	"github.com/k3sync/k3sync/internal/plan"
	"github.com/k3sync/k3sync/internal/state"
	"github.com/k3sync/k3sync/internal/view"
)

func TestRetryDelayGrowsWithJitterAndCap(t *testing.T) {
	for n, want := range map[int]time.Duration{1: retryMin, 2: 2 * retryMin, 3: 4 * retryMin, 30: retryMax} {
		for range 50 {
			d := retryDelay(retryMin, n)
			if d < want*8/10 || d > want*12/10 {
				t.Fatalf("attempt %d: %s, want %s ±20%%", n, d, want)
			}
		}
	}
}

// oneCommit is a source with a single valid commit.
type oneCommit struct{ fs fs.FS }

func (o oneCommit) Fetch(context.Context) (view.Commit, error) { return view.Commit{Hash: "c1"}, nil }
func (o oneCommit) FS(string) (fs.FS, error)                   { return o.fs, nil }
func (o oneCommit) Changed(string, string) ([]string, error)   { return nil, nil }

// flaky plans one change for the tenant and fails its apply the first
// `fails` times.
type flaky struct {
	mu      sync.Mutex
	fails   int
	applied int
	done    chan struct{}
}

func (f *flaky) Plan(_ context.Context, req plan.Request) *plan.Plan {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := &plan.Plan{}
	if f.applied <= f.fails {
		p.Changes = []plan.Change{{Key: plan.Key{Tenant: "a", System: plan.Kubernetes, Target: "x", Kind: "Namespace", Name: "a"}, Action: plan.Create}}
	}
	return p
}

func (f *flaky) Apply(_ context.Context, req plan.Request, _ plan.ApplyOptions) *apply.Report {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.applied++
	res := plan.Result{Change: plan.Change{Key: plan.Key{Tenant: "a", System: plan.Kubernetes, Target: "x", Kind: "Namespace", Name: "a"}, Action: plan.Create}}
	if f.applied <= f.fails {
		res.Err = errors.New("apiserver unavailable")
	} else {
		close(f.done)
	}
	return &apply.Report{Results: []plan.Result{res}}
}

// TestFailedApplyIsRetriedWithBackoff: a tenant whose apply fails is
// retried on its own, with growing delays, until it syncs.
func TestFailedApplyIsRetriedWithBackoff(t *testing.T) {
	repo := fstest.MapFS{
		"platform.cue":         {Data: []byte("package k3sync\n\nclusters: x: {region: \"r\", capacity: {cpu: \"1\", memory: \"1Gi\", pods: 10}}\nkafka: {}\ngateways: {}\npolicy: {}\n")},
		"tenants/a/tenant.cue": {Data: []byte("package k3sync\n\nowners: [\"a\"]\n")},
	}
	eng := &flaky{fails: 2, done: make(chan struct{})}
	journal := state.NewMemory()
	r := New(oneCommit{repo}, eng, journal, Options{RetryMin: 50 * time.Millisecond, Interval: time.Hour})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go func() { _ = r.Start(ctx) }()
	select {
	case <-eng.done:
	case <-time.After(10 * time.Second):
		t.Fatal("the failed apply was not retried until it succeeded")
	}
	// The third apply has returned; its run is recorded just after.
	var runs []state.Run
	for deadline := time.Now().Add(10 * time.Second); ; {
		var err error
		if runs, err = journal.Runs(t.Context(), "a", 0); err != nil {
			t.Fatal(err)
		}
		if len(runs) >= 3 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	var got []string
	for i := len(runs) - 1; i >= 0; i-- {
		got = append(got, string(runs[i].Trigger)+":"+string(runs[i].Result))
	}
	want := "[startup:failed retry:failed retry:synced]"
	if s := fmtList(got); s != want {
		t.Errorf("runs: %s, want %s", s, want)
	}
	if gap := runs[0].Started.Sub(runs[1].Started); gap < 80*time.Millisecond {
		t.Errorf("second retry %s after the first: the backoff did not grow", gap)
	}
}

func fmtList(s []string) string {
	out := "["
	for i, e := range s {
		if i > 0 {
			out += " "
		}
		out += e
	}
	return out + "]"
}
