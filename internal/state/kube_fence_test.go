package state

import (
	"encoding/json"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

// TestKubeFence: a replica whose fence says it is no longer the leader
// cannot write over what the new leader wrote, neither the inventory nor
// the journal; reads still work, and writes go through again once the
// fence lets them.
func TestKubeFence(t *testing.T) {
	env := startKube(t)
	ctx := t.Context()
	old, next := env.newStore(t), env.newStore(t)
	var deposed atomic.Bool
	old.SetFence(func() error {
		if deposed.Load() {
			return errors.New("lease k3sync/k3sync-leader: held by k3sync-1")
		}
		return nil
	})
	entry := func(rev string) Entry {
		return Entry{Tenant: "payments", Target: "kafka/main", Revision: rev, Resources: map[string]json.RawMessage{
			"topic/payments." + rev: json.RawMessage(`{}`),
		}}
	}
	if err := old.Save(ctx, entry("r1")); err != nil {
		t.Fatalf("the leader's write: %v", err)
	}

	// k3sync-1 takes over and applies r2; the old leader, not yet told,
	// finishes its run of r1.
	deposed.Store(true)
	if err := next.Save(ctx, entry("r2")); err != nil {
		t.Fatal(err)
	}
	err := old.Save(ctx, entry("r1-late"))
	if !errors.Is(err, ErrNotLeader) {
		t.Fatalf("a deposed replica's save: %v, want ErrNotLeader", err)
	}
	got, err := next.Load(ctx, "payments", "kafka/main")
	if err != nil {
		t.Fatal(err)
	}
	if got.Revision != "r2" || !got.Owns("topic/payments.r2") {
		t.Fatalf("the new leader's inventory was overwritten: %+v", got)
	}
	if err := old.AddRun(ctx, Run{ID: "late", Tenant: "payments", Result: ResultSynced, Started: time.Unix(1, 0)}); !errors.Is(err, ErrNotLeader) {
		t.Errorf("a deposed replica's run record: %v, want ErrNotLeader", err)
	}
	if err := old.SaveDrift(ctx, Drift{Tenant: "payments", CheckedAt: time.Unix(1, 0)}); !errors.Is(err, ErrNotLeader) {
		t.Errorf("a deposed replica's drift report: %v, want ErrNotLeader", err)
	}
	if err := old.SetSuspension(ctx, Suspension{Tenant: "payments", Suspended: true, Who: "alice", At: time.Unix(1, 0), ID: "op"}); !errors.Is(err, ErrNotLeader) {
		t.Errorf("a deposed replica's suspension: %v, want ErrNotLeader", err)
	}
	if st, err := next.Statuses(ctx); err != nil || len(st) != 0 {
		t.Errorf("statuses after refused writes: %+v %v, want none", st, err)
	}
	if runs, err := next.Runs(ctx, "payments", 0); err != nil || len(runs) != 0 {
		t.Errorf("journal after refused writes: %v %v, want none", runs, err)
	}
	if got, err := old.Load(ctx, "payments", "kafka/main"); err != nil || got.Revision != "r2" {
		t.Errorf("a deposed replica reads: %+v %v, want r2", got, err)
	}

	// Leader again: it writes.
	deposed.Store(false)
	if err := old.Save(ctx, entry("r3")); err != nil {
		t.Fatalf("leading again: %v", err)
	}
}
