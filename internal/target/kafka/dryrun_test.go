package kafka

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/k3sync/k3sync/internal/plan"
)

// TestDryRun goes through the apply's code path with ValidateOnly: the
// controller checks topic creates and quotas, nothing is made, no password
// is generated and no state is written.
func TestDryRun(t *testing.T) { onPeers(t, testDryRun) }

func testDryRun(t *testing.T, p peer) {
	e := p.env(t)
	d := example(t)
	fitBroker(p, d)
	d.topic(t, "checkout", "checkout.carts").ReplicationFactor = 5 // more than the brokers
	results, err := e.target.Apply(t.Context(), d.Request(), plan.ApplyOptions{DryRun: true})
	var ae *ApplyError
	if !errors.As(err, &ae) || len(ae.Failed) != 1 || ae.Failed[0].Name != "checkout.carts" || !errors.Is(ae.Failed[0].Err, kerr.InvalidReplicationFactor) {
		t.Fatalf("dry run: %v, want checkout.carts refused by the controller", err)
	}
	for _, r := range results {
		if !slices.ContainsFunc(r.Notes, func(n string) bool { return strings.HasPrefix(n, "dry run: ") }) {
			t.Errorf("%s: no dry run note in %q", r.Key, r.Notes)
		}
	}
	if diff := cmp.Diff(map[string]int{"CreateTopics": 1, "AlterClientQuotas": 1}, e.wire.writes()); diff != "" {
		t.Errorf("dry run requests (-want +got):\n%s", diff)
	}
	if got := e.topics(t); len(got) != 0 {
		t.Errorf("a dry run created topics: %v", got)
	}
	if n := e.store.Saves(); n != 0 {
		t.Errorf("a dry run saved state %d times", n)
	}
	if n := len(e.sink.all()); n != 0 {
		t.Errorf("a dry run delivered %d passwords", n)
	}
}

// TestInventorySavedBeforeCreating: while an apply is creating, the
// inventory already has everything it is about to create, so that a crash
// cannot leave something k3sync made and does not know it owns.
func TestInventorySavedBeforeCreating(t *testing.T) { onPeers(t, testInventorySavedBeforeCreating) }

func testInventorySavedBeforeCreating(t *testing.T, p peer) {
	e := p.env(t)
	d := example(t)
	fitBroker(p, d)
	var during, pending []string
	e.target.sink = sinkFunc(func(ctx context.Context, tenant, user, mechanism, password string) error {
		if tenant == "checkout" {
			for _, id := range e.owned(t, "checkout") {
				if p, ok := strings.CutPrefix(id, "pending/"); ok {
					pending = append(pending, p)
				} else {
					during = append(during, id)
				}
			}
		}
		return e.sink.Deliver(ctx, tenant, user, mechanism, password)
	})
	e.apply(t, d.Request())
	want := []string{
		"acl/User:checkout.service allow describe group prefixed:checkout. from *",
		"acl/User:checkout.service allow read group prefixed:checkout. from *",
		"acl/User:checkout.service allow read topic prefixed:checkout. from *",
		"acl/User:checkout.service allow write topic prefixed:checkout. from *",
		"quota/checkout.service",
		"topic/checkout.carts",
		"topic/checkout.orders",
		"user/checkout.service",
	}
	if diff := cmp.Diff(want, during); diff != "" {
		t.Errorf("inventory while creating (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, pending); diff != "" {
		t.Errorf("pending while creating (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, e.owned(t, "checkout")); diff != "" {
		t.Errorf("inventory after the apply (-want +got):\n%s", diff)
	}
	entry, err := e.store.Load(t.Context(), "checkout", "kafka/main")
	if err != nil {
		t.Fatal(err)
	}
	if entry.Revision != "test" {
		t.Errorf("revision %q", entry.Revision)
	}
}

type sinkFunc func(ctx context.Context, tenant, user, mechanism, password string) error

func (f sinkFunc) Deliver(ctx context.Context, tenant, user, mechanism, password string) error {
	return f(ctx, tenant, user, mechanism, password)
}

// TestBucket: batches take their mutations at once; the next batch waits
// until the debt is paid.
func TestBucket(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBucket(10)
		start := time.Now()
		for _, tc := range []struct {
			n    int
			wait time.Duration
		}{
			{n: 8, wait: 0},                       // 10 -> 2
			{n: 8, wait: 0},                       // 2 -> -6
			{n: 1, wait: 600 * time.Millisecond},  // pays 6 -> -7
			{n: 5, wait: 100 * time.Millisecond},  // +0.6s: -1, pays 1 -> -6
			{n: 1, wait: 500 * time.Millisecond},  // +0.7s: -5, pays 5 -> -6
			{n: 0, wait: 0},                       // nothing to take
			{n: 30, wait: 100 * time.Millisecond}, // +1.2s: -1, pays 1 -> -31
			{n: 1, wait: 3000 * time.Millisecond}, // +1.3s: -30, pays 30 -> -31
			{n: 50, wait: 100 * time.Millisecond}, // +4.3s: -1, pays 1 -> -51
		} {
			before := time.Now()
			if err := b.take(t.Context(), tc.n); err != nil {
				t.Fatal(err)
			}
			if got := time.Since(before); got != tc.wait {
				t.Errorf("take(%d) at %v waited %v, want %v", tc.n, before.Sub(start), got, tc.wait)
			}
		}
		ctx, cancel := context.WithCancel(t.Context())
		go func() {
			time.Sleep(time.Second)
			cancel()
		}()
		if err := b.take(ctx, 1); !errors.Is(err, context.Canceled) {
			t.Errorf("take on a cancelled context: %v", err)
		}
		unbounded := newBucket(0)
		before := time.Now()
		if err := unbounded.take(t.Context(), 1e6); err != nil || time.Since(before) != 0 {
			t.Error("rate 0 is not unbounded")
		}
	})
}
