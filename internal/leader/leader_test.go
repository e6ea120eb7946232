package leader

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/k3sync/k3sync/internal/testenv/kube"
)

// TestOneLeaderAndHandOver runs two electors against a real apiserver:
// exactly one leads at a time, and when the leader stops, the other takes
// over within the lease duration.
func TestOneLeaderAndHandOver(t *testing.T) {
	cs := kube.ClientsetT(t, kube.StartT(t, 1)[0])
	kube.NamespaceT(t, cs, "k3sync")
	var active atomic.Int32
	var overlap atomic.Bool
	started := make(chan string, 4)
	elector := func(id string) *Elector {
		e, err := New(cs, Config{Namespace: "k3sync", Name: "k3sync-leader", Identity: id,
			LeaseDuration: 3 * time.Second, RenewDeadline: 2 * time.Second, RetryPeriod: 500 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	lead := func(id string) func(ctx context.Context) {
		return func(ctx context.Context) {
			if active.Add(1) > 1 {
				overlap.Store(true)
			}
			started <- id
			<-ctx.Done()
			active.Add(-1)
		}
	}
	a, b := elector("a"), elector("b")
	ctxA, stopA := context.WithCancel(t.Context())
	ctxB, stopB := context.WithCancel(t.Context())
	defer stopB()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = a.Run(ctxA, lead("a")) }()
	go func() { defer wg.Done(); _ = b.Run(ctxB, lead("b")) }()

	first := waitLeader(t, started)
	second := map[string]*Elector{"a": a, "b": b}
	if !second[first].Leading() {
		t.Fatalf("%s started leading but does not report it", first)
	}
	// Stop the leader; the other takes over.
	if first == "a" {
		stopA()
	} else {
		stopB()
	}
	next := waitLeader(t, started)
	if next == first {
		t.Fatalf("%s led twice", first)
	}
	if overlap.Load() {
		t.Fatal("two replicas led at the same time")
	}
	stopA()
	stopB()
	wg.Wait()
}

func waitLeader(t *testing.T, started <-chan string) string {
	t.Helper()
	select {
	case id := <-started:
		return id
	case <-time.After(20 * time.Second):
		t.Fatal("no leader within 20s")
		return ""
	}
}
