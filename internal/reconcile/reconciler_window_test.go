package reconcile

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/k3sync/k3sync/internal/state"
	"github.com/k3sync/k3sync/internal/view"
)

// clockFrom runs from at, as fast as real time.
func clockFrom(at time.Time) func() time.Time {
	start := time.Now()
	return func() time.Time { return at.Add(time.Since(start)) }
}

// waitRuns waits up to 10s until tenant a has n runs recorded, and
// returns them, newest first.
func waitRuns(t *testing.T, j state.Journal, n int, what string) []state.Run {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		runs, err := j.Runs(t.Context(), "a", 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(runs) >= n {
			return runs
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s after 10s: runs %q", what, describe(runs))
		}
	}
}

// TestSyncWindowBlocksThenApplies: a change planned while a sync window
// blocks it is held back, the overview says why, and it is applied once
// the window lets it through, with no push or operator to bring it back.
// Schedules are UTC whatever the clock's zone.
func TestSyncWindowBlocksThenApplies(t *testing.T) {
	plus5 := time.FixedZone("UTC+5", 5*60*60)
	for _, tc := range []struct {
		name, window string
		now          time.Time
		why          string
	}{{
		// Sunday 08:59:59 in UTC+5 is 03:59:59 UTC: the deny window's
		// last second.
		name:   "deny",
		window: `{kind: "deny", schedule: "0 3 * * 0", duration: "1h"}`,
		now:    time.Date(2026, 12, 6, 8, 59, 59, 0, plus5),
		why:    `not applied: deny sync window "0 3 * * 0" (1h) is active`,
	}, {
		// Monday 09:59:59 UTC: the allow window opens in a second.
		name:   "allow",
		window: `{kind: "allow", schedule: "0 10 * * 1", duration: "2h"}`,
		now:    time.Date(2026, 12, 7, 9, 59, 59, 0, time.UTC),
		why:    "not applied: outside every allow sync window",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			repo := tenantRepo(`kubernetes: {clusters: ["x"], namespaces: a: quota: {requests: {cpu: "1", memory: "1Gi"}, pods: 1}}
policies: syncWindows: [` + tc.window + `]
`)
			eng := &flaky{done: make(chan struct{})}
			j := state.NewMemory()
			r := New(oneCommit{repo}, eng, j, Options{Interval: time.Hour, Now: clockFrom(tc.now)})
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			go func() { _ = r.Start(ctx) }()

			waitRuns(t, j, 1, "the startup run")
			o, err := r.Overview(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			eng.mu.Lock()
			applied := eng.applied
			eng.mu.Unlock()
			if applied != 0 || len(o.Tenants) != 1 || o.Tenants[0].State != view.OutOfSync || o.Tenants[0].Note != tc.why {
				t.Fatalf("at %s: applied %d times, overview %+v; want nothing applied, out of sync, saying %q", tc.now, applied, o.Tenants, tc.why)
			}

			// The run the window's end triggers is recorded after its apply.
			runs := waitRuns(t, j, 2, "a run once the window let the change through")
			cancel()
			eng.mu.Lock()
			applied = eng.applied
			eng.mu.Unlock()
			if applied != 1 {
				t.Errorf("applied %d times; want once, when the window let it through", applied)
			}
			if got := describe(runs); len(runs) != 2 || runs[0].Trigger != state.TriggerWindow || runs[0].Result != state.ResultSynced ||
				runs[1].Trigger != state.TriggerStartup || runs[1].Result != state.ResultBlocked {
				t.Errorf("runs %q; want the startup run blocked, then a run the window's end triggered, synced", got)
			}
		})
	}
}

// TestSyncWindowStillBlockingPlansNothing: when the window that blocked a
// tenant ends inside another deny window, the wake-up at its end does not
// plan the tenant again: it waits for the other window's end.
func TestSyncWindowStillBlockingPlansNothing(t *testing.T) {
	repo := tenantRepo(`kubernetes: {clusters: ["x"], namespaces: a: quota: {requests: {cpu: "1", memory: "1Gi"}, pods: 1}}
policies: syncWindows: [{kind: "deny", schedule: "0 3 * * 0", duration: "1h"}, {kind: "deny", schedule: "30 3 * * 0", duration: "1h"}]
`)
	eng := &flaky{done: make(chan struct{})}
	j := state.NewMemory()
	// Sunday 03:59:59 UTC: the first window ends in a second, the second
	// at 04:30.
	r := New(oneCommit{repo}, eng, j, Options{Interval: time.Hour, Now: clockFrom(time.Date(2026, 12, 6, 3, 59, 59, 0, time.UTC))})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go func() { _ = r.Start(ctx) }()
	waitRuns(t, j, 1, "the startup run")
	eng.mu.Lock()
	plans := eng.plans
	eng.mu.Unlock()

	time.Sleep(2 * time.Second) // past the first window's end
	cancel()
	eng.mu.Lock()
	defer eng.mu.Unlock()
	if eng.plans != plans || eng.applied != 0 {
		t.Errorf("after the first window ended inside the second: %d more plans, %d applies; want none", eng.plans-plans, eng.applied)
	}
}

// TestManualSyncThroughWindow: an operator's manual sync goes through a
// sync window that allows manual syncs (Argo CD's manualSync), and is
// held back by one that does not; the push before it is held back by
// either.
func TestManualSyncThroughWindow(t *testing.T) {
	// Sunday 03:10 UTC: the deny window runs to 04:00, the allow window
	// opens on Monday.
	at := time.Date(2026, 12, 6, 3, 10, 0, 0, time.UTC)
	for _, tc := range []struct {
		name, window string
		applies      bool
	}{
		{"deny allowing manual syncs", `{kind: "deny", schedule: "0 3 * * 0", duration: "1h", manualSync: true}`, true},
		{"deny", `{kind: "deny", schedule: "0 3 * * 0", duration: "1h"}`, false},
		{"closed allow allowing manual syncs", `{kind: "allow", schedule: "0 10 * * 1", duration: "2h", manualSync: true}`, true},
		{"closed allow", `{kind: "allow", schedule: "0 10 * * 1", duration: "2h"}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			repo := tenantRepo(`kubernetes: {clusters: ["x"], namespaces: a: quota: {requests: {cpu: "1", memory: "1Gi"}, pods: 1}}
policies: syncWindows: [` + tc.window + `]
`)
			eng := &flaky{done: make(chan struct{})}
			j := state.NewMemory()
			r := New(oneCommit{repo}, eng, j, Options{Interval: time.Hour, Now: clockFrom(at)})
			r.PollOnce(t.Context())
			eng.mu.Lock()
			applied := eng.applied
			eng.mu.Unlock()
			if applied != 0 {
				t.Fatalf("the poll applied %d times inside the window; want it held back", applied)
			}
			o, err := r.Overview(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if hint := strings.HasSuffix(o.Tenants[0].Note, "; a manual sync goes through"); hint != tc.applies {
				t.Errorf("the overview says %q; want it to say that a manual sync goes through: %v", o.Tenants[0].Note, tc.applies)
			}

			runs := syncNow(t, r, "alice")
			eng.mu.Lock()
			applied = eng.applied
			eng.mu.Unlock()
			want := state.ResultBlocked
			if tc.applies {
				want = state.ResultSynced
			}
			if got := describe(runs); len(runs) != 1 || runs[0].Result != want || runs[0].Who != "alice" || applied != map[bool]int{true: 1}[tc.applies] {
				t.Errorf("alice's manual sync: runs %q, applied %d times; want one run by alice, %s", got, applied, want)
			}
		})
	}
}
