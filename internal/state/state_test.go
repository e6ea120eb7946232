package state

import (
	"encoding/json"
	"maps"
	"path/filepath"
	"slices"
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

// TestInventories: who holds what, read before and after saves, agrees
// with what List says on every store, and a bbolt file reopened (its
// index rebuilt from the file) says the same; each Entry is the caller's
// own to modify.
func TestInventories(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	b, err := OpenBolt(path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	raw := json.RawMessage(`{}`)
	save := func(t *testing.T, s Store, tenant, target string, ids ...string) {
		t.Helper()
		e := Entry{Tenant: tenant, Target: target, Resources: map[string]json.RawMessage{}}
		for _, id := range ids {
			e.Resources[id] = raw
		}
		if err := s.Save(t.Context(), e); err != nil {
			t.Fatal(err)
		}
	}
	type view struct {
		Tenants []string
		Holders map[string][]string
		Entries map[string][]string // tenant → IDs, from Entry
	}
	read := func(t *testing.T, s Store, target string) view {
		t.Helper()
		in, err := ReadInventories(t.Context(), s, target)
		if err != nil {
			t.Fatal(err)
		}
		v := view{Tenants: in.Tenants, Holders: in.Holders, Entries: map[string][]string{}}
		for _, tn := range append(slices.Clone(in.Tenants), "nobody") {
			e, err := in.Entry(t.Context(), tn)
			if err != nil {
				t.Fatal(err)
			}
			if e.Resources == nil {
				t.Fatalf("%s: an entry without a Resources map", tn)
			}
			v.Entries[tn] = slices.Sorted(maps.Keys(e.Resources))
			e.Resources["Secret/stolen"] = raw // the caller's own copy
		}
		return v
	}
	for name, s := range map[string]Store{"memory": NewMemory(), "bolt": b} {
		t.Run(name, func(t *testing.T) {
			save(t, s, "b", "kubernetes/x", "Namespace/b", "Namespace/shared")
			save(t, s, "a", "kubernetes/x", "Namespace/a", "Namespace/shared")
			save(t, s, "a", "kafka/main", "topic/a.orders")
			want := view{
				Tenants: []string{"a", "b"},
				Holders: map[string][]string{"Namespace/a": {"a"}, "Namespace/b": {"b"}, "Namespace/shared": {"a", "b"}},
				Entries: map[string][]string{"a": {"Namespace/a", "Namespace/shared"}, "b": {"Namespace/b", "Namespace/shared"}, "nobody": nil},
			}
			if diff := cmp.Diff(want, read(t, s, "kubernetes/x")); diff != "" {
				t.Fatalf("first read (-want +got):\n%s", diff)
			}
			// After the first read, saves must show (bbolt's index).
			save(t, s, "b", "kubernetes/x", "Namespace/b")
			save(t, s, "c", "kubernetes/x", "Namespace/c")
			want = view{
				Tenants: []string{"a", "b", "c"},
				Holders: map[string][]string{"Namespace/a": {"a"}, "Namespace/b": {"b"}, "Namespace/c": {"c"}, "Namespace/shared": {"a"}},
				Entries: map[string][]string{"a": {"Namespace/a", "Namespace/shared"}, "b": {"Namespace/b"}, "c": {"Namespace/c"}, "nobody": nil},
			}
			if diff := cmp.Diff(want, read(t, s, "kubernetes/x")); diff != "" {
				t.Fatalf("after saves (-want +got):\n%s", diff)
			}
			if in, _ := ReadInventories(t.Context(), s, "kubernetes/x"); func() bool { o, ok := in.Other("Namespace/shared", "b"); return !ok || o != "a" }() {
				t.Error(`Other("Namespace/shared", "b"): tenant a holds it`)
			}
			if in, _ := ReadInventories(t.Context(), s, "kubernetes/x"); func() bool { _, ok := in.Other("Namespace/a", "a"); return ok }() {
				t.Error(`Other("Namespace/a", "a"): only a holds it`)
			}
			list, err := s.List(t.Context(), "kubernetes/x")
			if err != nil {
				t.Fatal(err)
			}
			if len(list) != 3 {
				t.Errorf("List: %d entries, the inventories say 3", len(list))
			}
		})
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if b, err = OpenBolt(path, time.Second); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = b.Close() }()
	v := read(t, b, "kubernetes/x")
	if diff := cmp.Diff([]string{"a", "b", "c"}, v.Tenants); diff != "" {
		t.Errorf("reopened: tenants (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string][]string{"Namespace/a": {"a"}, "Namespace/b": {"b"}, "Namespace/c": {"c"}, "Namespace/shared": {"a"}}, v.Holders); diff != "" {
		t.Errorf("reopened: holders (-want +got):\n%s", diff)
	}
}
