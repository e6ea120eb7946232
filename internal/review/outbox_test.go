package review

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/k3sync/k3sync/internal/forge"
	"github.com/k3sync/k3sync/internal/metrics"
	"github.com/k3sync/k3sync/internal/plan"
	"github.com/k3sync/k3sync/internal/state"
	"github.com/k3sync/k3sync/internal/testenv/gitserver"
)

// waitFor polls cond every 50ms for up to limit.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not true after %s", what, limit)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// limitFirst answers the first n requests matching method and path prefix
// with 429 Retry-After: 2.
func limitFirst(n int, method, prefix string) func(*http.Request, time.Time) (int, http.Header, time.Time) {
	left := n
	return func(r *http.Request, now time.Time) (int, http.Header, time.Time) {
		if left == 0 || r.Method != method || !strings.HasPrefix(r.URL.Path, prefix) {
			return 0, nil, time.Time{}
		}
		left--
		return http.StatusTooManyRequests, http.Header{"Retry-After": {"2"}}, now.Add(2 * time.Second)
	}
}

// checkNoEarlyCall fails when any call reached the server before the wait
// of an earlier fault elapsed, by the server's clock.
func (g *githubAPI) checkNoEarlyCall(t *testing.T) {
	t.Helper()
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, f := range g.faults {
		for _, c := range g.calls {
			if c.At.After(f.At) && c.At.Before(f.Until) {
				t.Errorf("%s %s came %v after a %d, %v before its wait elapsed", c.Method, c.Path, c.At.Sub(f.At), f.Code, f.Until.Sub(c.At))
			}
		}
	}
}

func (g *githubAPI) postedStatuses() []map[string]string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]map[string]string(nil), g.statuses...)
}

func (g *githubAPI) callCount() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.calls)
}

func startLoop(t *testing.T, loop *Loop) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- loop.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
}

// TestApplyStatusRateLimited: GitHub answers the first two statuses with
// 429 Retry-After: 2. Applied returns at once, the status kept; a newer
// status of the same commit replaces the queued one; over the queue's
// bound the oldest is dropped and counted. Nothing reaches GitHub before
// a wait elapsed, by the server's clock, and each kept status is posted
// exactly once.
func TestApplyStatusRateLimited(t *testing.T) {
	ctx := t.Context()
	api := newGitHubAPI(t)
	api.fault = limitFirst(2, "POST", "/repos/o/r/statuses/")
	gh, err := forge.NewGitHub(api.srv.URL, "o/r", "gh-token", api.srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	loop := New(gh, nil, nil, Options{Interval: time.Hour, DashboardURL: "https://k3sync.example", Logger: testLogger(t), Metrics: metrics.NewForge(reg)})
	loop.out.max = 2
	startLoop(t, loop)
	// The first pass lists no pull requests; the statuses come after it.
	waitFor(t, 10*time.Second, "the first pass", func() bool { return api.callCount() == 1 })

	shaA, shaB, shaC := strings.Repeat("a", 40), strings.Repeat("b", 40), strings.Repeat("c", 40)
	failed := []state.Run{{Tenant: "payments", Result: state.ResultFailed, Message: "kafka unreachable"}}
	synced := []state.Run{{Tenant: "payments", Result: state.ResultSynced}}

	err = loop.Applied(ctx, shaB, synced)
	if _, ok := forge.RetryAfter(err); !ok {
		t.Fatalf("Applied: %v; want a rate limit error", err)
	}
	calls := api.callCount()
	// During the wait: queued, not sent. A newer status of A replaces
	// the failed one; C makes three, over the bound of two: B, the
	// oldest, is dropped.
	for _, a := range []struct {
		sha  string
		runs []state.Run
	}{{shaA, failed}, {shaA, synced}, {shaC, synced}} {
		if err := loop.Applied(ctx, a.sha, a.runs); err == nil {
			t.Fatal("Applied during the wait: no error")
		}
	}
	// A pass during the wait (a webhook's) calls nothing either.
	if _, ok := forge.RetryAfter(loop.RunOnce(ctx)); !ok {
		t.Error("a pass during the wait did not stop at the rate limit")
	}
	if n := api.callCount(); n != calls {
		t.Errorf("%d calls reached GitHub during the wait", n-calls)
	}
	returned := time.Now()
	if n := loop.Queued(); n != 2 {
		t.Errorf("%d statuses queued, want 2", n)
	}

	waitFor(t, 30*time.Second, "the kept statuses posted", func() bool { return loop.Queued() == 0 })
	want := []map[string]string{
		{"sha": shaA, "context": "k3sync/apply", "state": "success", "description": "Applied: 1 tenant, 0 changes", "target_url": "https://k3sync.example/"},
		{"sha": shaC, "context": "k3sync/apply", "state": "success", "description": "Applied: 1 tenant, 0 changes", "target_url": "https://k3sync.example/"},
	}
	if diff := cmp.Diff(want, api.postedStatuses()); diff != "" {
		t.Errorf("statuses posted (-want +got):\n%s", diff)
	}
	api.checkNoEarlyCall(t)
	api.mu.Lock()
	if len(api.faults) != 2 {
		t.Errorf("%d rate limit answers, want 2", len(api.faults))
	}
	var firstPosted time.Time
	for _, c := range api.calls {
		if c.Method == "POST" && c.At.After(api.faults[len(api.faults)-1].At) {
			firstPosted = c.At
			break
		}
	}
	api.mu.Unlock()
	if !returned.Before(firstPosted) {
		t.Error("Applied held its caller until the status was posted")
	}
	wantMetrics := `
# HELP k3sync_forge_rate_limited_total Rate limit answers of the forge (429, GitHub's 403 with rate limit headers); calls wait them out.
# TYPE k3sync_forge_rate_limited_total counter
k3sync_forge_rate_limited_total 2
# HELP k3sync_forge_statuses_dropped_total Commit statuses never posted: superseded by a newer one of the same commit and context, or overflow of the bounded queue.
# TYPE k3sync_forge_statuses_dropped_total counter
k3sync_forge_statuses_dropped_total{reason="overflow"} 1
k3sync_forge_statuses_dropped_total{reason="superseded"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(wantMetrics)); err != nil {
		t.Error(err)
	}
}

// TestApplyStatusForgeDown: a forge answering 502 twice gets the status
// again after a backoff that grows, and once.
func TestApplyStatusForgeDown(t *testing.T) {
	ctx := t.Context()
	api := newGitHubAPI(t)
	n := 0
	api.fault = func(r *http.Request, now time.Time) (int, http.Header, time.Time) {
		if r.Method != "POST" || n == 2 {
			return 0, nil, time.Time{}
		}
		n++
		return http.StatusBadGateway, nil, now.Add(backoff(n))
	}
	gh, err := forge.NewGitHub(api.srv.URL, "o/r", "gh-token", api.srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	loop := New(gh, nil, nil, Options{Interval: time.Hour, Logger: testLogger(t)})
	startLoop(t, loop)
	waitFor(t, 10*time.Second, "the first pass", func() bool { return api.callCount() == 1 })
	sha := strings.Repeat("d", 40)
	if err := loop.Applied(ctx, sha, nil); err == nil || !strings.Contains(err.Error(), "502") {
		t.Fatalf("Applied: %v; want the 502", err)
	}
	waitFor(t, 30*time.Second, "the status posted", func() bool { return loop.Queued() == 0 })
	if got := api.postedStatuses(); len(got) != 1 || got[0]["sha"] != sha || got[0]["state"] != "success" {
		t.Errorf("statuses posted: %v; want one success on %s", got, sha)
	}
	api.checkNoEarlyCall(t)
}

// TestPullRequestPassRateLimited: GitHub answers the pull request list
// twice with its primary rate limit (403, X-RateLimit-Remaining: 0, a
// reset 2s ahead). The loop's next pass waits for the reset, not its
// hour-long interval; a pass asked for meanwhile calls and plans
// nothing; then the pull request is planned and gets each status once.
func TestPullRequestPassRateLimited(t *testing.T) {
	ctx := t.Context()
	up := gitserver.NewRepo(t, t.TempDir(), "platform.git")
	up.CopyDir(exampleRepo)
	mergeBase := up.Commit("Import the example platform repo")
	up.WriteFile("tenants/payments/refunds.cue", "package k3sync\n\nkafka: topics: \"payments.refunds\": partitions: 3\n")
	head := up.CommitRef("payments: refunds topic", "refs/pull/7/head")
	up.Git("reset", "--quiet", "--hard", mergeBase)
	src := cloneOf(t, up)
	api := newGitHubAPI(t)
	api.mergeBase = mergeBase
	api.pulls = []map[string]any{pullRequest(7, "payments: refunds", "alice", head)}
	left := 2
	api.fault = func(r *http.Request, now time.Time) (int, http.Header, time.Time) {
		if left == 0 || r.URL.Path != "/repos/o/r/pulls" {
			return 0, nil, time.Time{}
		}
		left--
		reset := now.Add(2 * time.Second).Unix()
		return http.StatusForbidden, http.Header{"X-Ratelimit-Remaining": {"0"}, "X-Ratelimit-Reset": {strconv.FormatInt(reset, 10)}}, time.Unix(reset, 0)
	}
	gh, err := forge.NewGitHub(api.srv.URL, "o/r", "gh-token", api.srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	eng := &fakeEngine{fn: func(req plan.Request) *plan.Plan { return &plan.Plan{Revision: req.Revision} }}
	loop := New(gh, src, eng, Options{Interval: time.Hour, Logger: testLogger(t)})
	startLoop(t, loop)

	waitFor(t, 10*time.Second, "the first rate limit answer", func() bool {
		api.mu.Lock()
		defer api.mu.Unlock()
		return len(api.faults) > 0
	})
	calls := api.callCount()
	if _, ok := forge.RetryAfter(loop.RunOnce(ctx)); !ok {
		t.Error("a pass during the wait did not stop at the rate limit")
	}
	if n := api.callCount(); n != calls {
		t.Errorf("a pass during the wait made %d calls", n-calls)
	}
	waitFor(t, 30*time.Second, "the pull request planned", func() bool {
		h, done := loop.Planned(7)
		return h == head && done
	})
	api.checkNoEarlyCall(t)
	api.mu.Lock()
	defer api.mu.Unlock()
	if len(api.faults) != 2 {
		t.Errorf("%d rate limit answers, want 2", len(api.faults))
	}
	var states []string
	for _, s := range api.statuses {
		states = append(states, s["state"])
	}
	if diff := cmp.Diff([]string{"pending", "success"}, states); diff != "" || len(api.comments) != 1 {
		t.Errorf("%d comments; statuses (-want +got):\n%s", len(api.comments), diff)
	}
	if len(eng.reqs) != 1 {
		t.Errorf("planned %d times, want once", len(eng.reqs))
	}
}
