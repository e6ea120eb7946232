package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/k3sync/k3sync/internal/config"
	"github.com/k3sync/k3sync/internal/leader"
	"github.com/k3sync/k3sync/internal/state"
	"github.com/k3sync/k3sync/internal/testenv/kube"
)

// TestFollowerCannotWriteState: with leader election and the Kubernetes
// state backend, a daemon that does not hold the Lease cannot write the
// shared state (a write fails with state.ErrNotLeader); once the other
// replica releases the Lease, it leads, syncs and its writes go through.
func TestFollowerCannotWriteState(t *testing.T) {
	p := startPeers(t, 0)
	cs := p.clusters["us-east"]
	ctx := t.Context()
	kube.NamespaceT(t, cs, "k3sync")
	p.cfg.State = config.State{Backend: "kubernetes", Namespace: "k3sync", Cluster: "us-east"}
	p.cfg.Reconcile.LeaderElection = &config.LeaderElection{Cluster: "us-east", Namespace: "k3sync", Identity: "k3sync-1",
		LeaseDuration: config.Duration{Duration: 3 * time.Second}}

	// Replica k3sync-0 leads.
	other, err := leader.New(cs, leader.Config{Namespace: "k3sync", Name: "k3sync-leader", Identity: "k3sync-0",
		LeaseDuration: 3 * time.Second, RenewDeadline: 2 * time.Second, RetryPeriod: 400 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	otherCtx, stopOther := context.WithCancel(ctx)
	defer stopOther()
	leading, otherDone := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(otherDone)
		_ = other.Run(otherCtx, func(ctx context.Context) { close(leading); <-ctx.Done() })
	}()
	<-leading

	d, err := New(p.cfg, Options{Now: weekdayClock()})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	go func() { _ = d.Start(ctx) }()
	e := state.Entry{Tenant: "payments", Target: "kafka/main", Resources: map[string]json.RawMessage{}}
	if err := d.store.Save(ctx, e); !errors.Is(err, state.ErrNotLeader) {
		t.Fatalf("a follower's state write: %v, want ErrNotLeader", err)
	}

	stopOther() // k3sync-0 stops cleanly and releases the Lease
	<-otherDone
	waitFor(t, time.Minute, "k3sync-1 to lead and sync", func() bool { return d.Ready() == nil })
	if err := d.store.Save(ctx, e); err != nil {
		t.Fatalf("the leader's state write: %v", err)
	}
	runs, err := d.store.Runs(ctx, "payments", 0)
	if err != nil || len(runs) == 0 {
		t.Fatalf("the leader's runs of payments: %v %v, want its first sync", runs, err)
	}
}
