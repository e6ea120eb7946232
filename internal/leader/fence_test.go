package leader

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/k3sync/k3sync/internal/state"
	"github.com/k3sync/k3sync/internal/testenv/kube"
)

// TestFenceRefusesWritesOnceTheLeaseIsTaken: replica a leads and writes
// the shared state; replica b takes the Lease (as after a partition that a
// did not notice). a's state writes fail with state.ErrNotLeader at its
// next renewal attempt, well before client-go gives up and cancels a's
// work at the renew deadline, and b's inventory stays as b wrote it.
func TestFenceRefusesWritesOnceTheLeaseIsTaken(t *testing.T) {
	cs := kube.ClientsetT(t, kube.StartT(t, 1)[0])
	ctx := t.Context()
	kube.NamespaceT(t, cs, "k3sync")
	a, err := New(cs, Config{Namespace: "k3sync", Name: "k3sync-leader", Identity: "a",
		LeaseDuration: 20 * time.Second, RenewDeadline: 15 * time.Second, RetryPeriod: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Fence(); err == nil {
		t.Fatal("fence open before campaigning")
	}
	storeA, err := state.NewKube(cs, "k3sync")
	if err != nil {
		t.Fatal(err)
	}
	storeA.SetFence(a.Fence)
	storeB, err := state.NewKube(cs, "k3sync")
	if err != nil {
		t.Fatal(err)
	}
	entry := func(rev string) state.Entry {
		return state.Entry{Tenant: "payments", Target: "kafka/main", Revision: rev, Resources: map[string]json.RawMessage{}}
	}

	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	leading := make(chan context.Context, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = a.Run(runCtx, func(ctx context.Context) { leading <- ctx; <-ctx.Done() })
	}()
	var leadCtx context.Context
	select {
	case leadCtx = <-leading:
	case <-time.After(20 * time.Second):
		t.Fatal("a did not take the Lease")
	}
	if err := storeA.Save(ctx, entry("a1")); err != nil {
		t.Fatalf("the leader's write: %v", err)
	}

	// b takes the Lease.
	lease, err := cs.CoordinationV1().Leases("k3sync").Get(ctx, "k3sync-leader", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	holder, seconds := "b", int32(20)
	lease.Spec.HolderIdentity = &holder
	lease.Spec.RenewTime = &metav1.MicroTime{Time: time.Now()}
	lease.Spec.LeaseDurationSeconds = &seconds
	if _, err := cs.CoordinationV1().Leases("k3sync").Update(ctx, lease, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := storeB.Save(ctx, entry("b1")); err != nil {
		t.Fatal(err)
	}
	taken := time.Now()
	deadline := taken.Add(5 * time.Second)
	for {
		err := storeA.Save(ctx, entry("a2"))
		if errors.Is(err, state.ErrNotLeader) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("a still writes state %s after b took the Lease", time.Since(taken))
		}
		// Written over b's: put b's back, as b's next run would.
		if err := storeB.Save(ctx, entry("b1")); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if leadCtx.Err() != nil {
		t.Fatalf("a's fence closed only when its work was cancelled (%s after b took the Lease): in-flight writes were not fenced", time.Since(taken))
	}
	got, err := storeB.Load(ctx, "payments", "kafka/main")
	if err != nil {
		t.Fatal(err)
	}
	if got.Revision != "b1" {
		t.Fatalf("inventory: revision %s, want b's b1", got.Revision)
	}
	stop()
	<-done
}
