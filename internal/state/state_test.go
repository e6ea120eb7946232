package state

import (
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func stores(t *testing.T) map[string]Store {
	b, err := OpenBolt(filepath.Join(t.TempDir(), "state.db"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return map[string]Store{"memory": NewMemory(), "bolt": b}
}

func TestStoreRoundTrip(t *testing.T) {
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			empty, err := s.Load(ctx, "payments", "kafka/main")
			if err != nil {
				t.Fatal(err)
			}
			if len(empty.Resources) != 0 || empty.Owns("topic/payments.orders") {
				t.Fatalf("new store: got %+v", empty)
			}
			e := Entry{Tenant: "payments", Target: "kafka/main", Revision: "abc", Resources: map[string]json.RawMessage{
				"topic/payments.orders": json.RawMessage(`{"partitions":6}`),
			}, UpdatedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
			if err := s.Save(ctx, e); err != nil {
				t.Fatal(err)
			}
			if err := s.Save(ctx, Entry{Tenant: "search", Target: "kong/edge", Resources: map[string]json.RawMessage{}}); err != nil {
				t.Fatal(err)
			}
			got, err := s.Load(ctx, "payments", "kafka/main")
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(e, got); diff != "" {
				t.Errorf("load after save (-want +got):\n%s", diff)
			}
			if !got.Owns("topic/payments.orders") {
				t.Error("inventory lost the topic")
			}
			list, err := s.List(ctx, "kafka/main")
			if err != nil {
				t.Fatal(err)
			}
			if len(list) != 1 || list[0].Tenant != "payments" {
				t.Errorf("list kafka/main: got %+v", list)
			}
			all, _ := s.List(ctx, "")
			if len(all) != 2 {
				t.Errorf("list all: got %d entries, want 2", len(all))
			}
		})
	}
}

func TestBoltSurvivesReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	b, err := OpenBolt(path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	e := Entry{Tenant: "a", Target: "kubernetes/x", Resources: map[string]json.RawMessage{"Namespace/a": json.RawMessage(`{}`)}}
	if err := b.Save(t.Context(), e); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b, err = OpenBolt(path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	got, err := b.Load(t.Context(), "a", "kubernetes/x")
	if err != nil {
		t.Fatal(err)
	}
	if !got.Owns("Namespace/a") {
		t.Errorf("after reopen: inventory lost Namespace/a: %+v", got)
	}
}

func TestBoltIsExclusive(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	b, err := OpenBolt(path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, err := OpenBolt(path, 50*time.Millisecond); err == nil {
		t.Fatal("a second open of a held state file succeeded; two processes could apply at once")
	}
}
