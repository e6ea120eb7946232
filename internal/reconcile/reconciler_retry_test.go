package reconcile

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
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
	plans   int
	done    chan struct{}
}

func (f *flaky) Plan(_ context.Context, req plan.Request) *plan.Plan {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.plans++
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

// TestFullQueue: a manual sync that finds the work queue full is refused
// with ErrBusy (the API's 429), not queued and not remembered; a retry
// that finds it full is postponed, not dropped, and runs once the worker
// drains the queue.
func TestFullQueue(t *testing.T) {
	repo := fstest.MapFS{
		"platform.cue":         {Data: []byte("package k3sync\n\nclusters: x: {region: \"r\", capacity: {cpu: \"1\", memory: \"1Gi\", pods: 10}}\nkafka: {}\ngateways: {}\npolicy: {}\n")},
		"tenants/a/tenant.cue": {Data: []byte("package k3sync\n\nowners: [\"a\"]\n")},
	}
	r := New(oneCommit{repo}, &flaky{done: make(chan struct{})}, state.NewMemory(), Options{RetryMin: 20 * time.Millisecond, Interval: time.Hour})
	for range cap(r.work) {
		if _, err := r.Trigger(t.Context(), view.TriggerRequest{Who: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := r.Trigger(t.Context(), view.TriggerRequest{Who: "test"}); !errors.Is(err, view.ErrBusy) {
		t.Fatalf("trigger on a full queue: %v, want ErrBusy", err)
	}
	r.mu.Lock()
	remembered := len(r.syncs)
	r.attempts = map[string]int{"a": 1} // a failed apply waits for its retry
	r.mu.Unlock()
	if remembered != cap(r.work) {
		t.Errorf("%d syncs remembered, want the %d queued", remembered, cap(r.work))
	}
	// The retry fires while the queue is full; then the queue drains, as
	// the worker would drain it, and the postponed retry arrives.
	r.armRetry("a", time.Millisecond)
	time.Sleep(50 * time.Millisecond)
	deadline := time.After(10 * time.Second)
	for {
		select {
		case j := <-r.work:
			if j.kind == jobRetry {
				if len(j.tenants) != 1 || j.tenants[0] != "a" {
					t.Errorf("retry of %v, want [a]", j.tenants)
				}
				return
			}
		case <-deadline:
			t.Fatal("the retry postponed by a full queue never arrived")
		}
	}
}

// TestFinishedSyncsAreForgotten: the reconciler remembers at most
// maxSyncs manual syncs, forgetting the oldest finished ones first.
func TestFinishedSyncsAreForgotten(t *testing.T) {
	r := New(oneCommit{fstest.MapFS{}}, &flaky{done: make(chan struct{})}, state.NewMemory(), Options{Interval: time.Hour})
	for i := range maxSyncs + 50 {
		id := fmt.Sprintf("%016x", i)
		r.syncs[id] = &view.Sync{ID: id, Phase: view.Done}
	}
	s, err := r.Trigger(t.Context(), view.TriggerRequest{Who: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.syncs) != maxSyncs {
		t.Errorf("%d syncs remembered, want %d", len(r.syncs), maxSyncs)
	}
	if _, err := r.Sync(t.Context(), s.ID); err != nil {
		t.Errorf("the queued sync was forgotten: %v", err)
	}
	if _, err := r.Sync(t.Context(), fmt.Sprintf("%016x", 0)); !errors.Is(err, ErrNotFound) {
		t.Errorf("the oldest finished sync is still remembered: %v", err)
	}
	if _, err := r.Sync(t.Context(), fmt.Sprintf("%016x", maxSyncs+49)); err != nil {
		t.Errorf("the newest finished sync was forgotten: %v", err)
	}
}

// TestObserveOnlyTenantIsNeverWritten: a tenant in observe mode is
// planned, and its run says why nothing was applied, but nothing of it
// is ever applied: not for a new revision, not for an operator's sync.
func TestObserveOnlyTenantIsNeverWritten(t *testing.T) {
	repo := fstest.MapFS{
		"platform.cue":         {Data: []byte("package k3sync\n\nclusters: x: {region: \"r\", capacity: {cpu: \"1\", memory: \"1Gi\", pods: 10}}\nkafka: {}\ngateways: {}\npolicy: {}\n")},
		"tenants/a/tenant.cue": {Data: []byte("package k3sync\n\nowners: [\"a\"]\npolicies: mode: \"observe\"\n")},
	}
	eng := &flaky{done: make(chan struct{})}
	journal := state.NewMemory()
	r := New(oneCommit{repo}, eng, journal, Options{Interval: time.Hour})
	r.PollOnce(t.Context())
	s := manualSyncNow(t, r, view.TriggerRequest{Tenant: "a", Who: "operator"})
	eng.mu.Lock()
	applied := eng.applied
	eng.mu.Unlock()
	if applied != 0 {
		t.Errorf("an observe-only tenant was applied %d times", applied)
	}
	if len(s.Runs) != 1 || s.Runs[0].Result != state.ResultBlocked || s.Runs[0].Message != observeMessage {
		t.Errorf("operator's sync of an observe-only tenant: %+v", s.Runs)
	}
	runs, err := journal.Runs(t.Context(), "a", 0)
	if err != nil || len(runs) == 0 || runs[len(runs)-1].Result != state.ResultBlocked {
		t.Errorf("the first revision's run: %v %+v", err, runs)
	}
	o, err := r.Overview(t.Context())
	if err != nil || len(o.Tenants) != 1 || !strings.HasPrefix(o.Tenants[0].Note, "observe only") {
		t.Errorf("the overview does not say a is observe only: %v %+v", err, o.Tenants)
	}
}

// manualSyncNow runs a manual sync through a worker started for it and
// waits for it.
func manualSyncNow(t *testing.T, r *Reconciler, req view.TriggerRequest) view.Sync {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = r.Start(ctx)
	}()
	defer func() { cancel(); <-done }()
	s, err := r.Trigger(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		got, err := r.Sync(ctx, s.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Phase == view.Done {
			return got
		}
	}
	t.Fatal("the manual sync did not finish")
	return view.Sync{}
}
