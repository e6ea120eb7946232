package state

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/k3sync/k3sync/internal/plan"
	"github.com/k3sync/k3sync/internal/testenv/kube"
)

// kubeEnv is one real apiserver with the k3sync namespace; newStore
// returns a store on its own client, as another replica would have.
type kubeEnv struct {
	cp *kube.ControlPlane
	cs kubernetes.Interface
}

func startKube(t *testing.T) *kubeEnv {
	t.Helper()
	cp := kube.StartT(t, 1)[0]
	env := &kubeEnv{cp: cp, cs: kube.ClientsetT(t, cp)}
	kube.NamespaceT(t, env.cs, "k3sync")
	return env
}

// countingStore is newStore on a client that counts its GET requests.
func (e *kubeEnv) countingStore(t *testing.T) (*Kube, *atomic.Int64) {
	t.Helper()
	gets := &atomic.Int64{}
	rc := e.cp.RESTConfig()
	rc.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			if r.Method == http.MethodGet && !strings.HasSuffix(r.URL.Path, "/secrets") {
				gets.Add(1) // a Secret's read, not a list
			}
			return rt.RoundTrip(r) //nolint:wrapcheck // a test transport
		})
	})
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	k, err := NewKube(cs, "k3sync")
	if err != nil {
		t.Fatal(err)
	}
	return k, gets
}

func (e *kubeEnv) newStore(t *testing.T) *Kube {
	t.Helper()
	k, err := NewKube(kube.ClientsetT(t, e.cp), "k3sync")
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestKube runs the cases of state_test.go and journal_test.go against
// Secrets on a real apiserver, plus what only a shared backend needs:
// another replica reading what one wrote, and writers racing.
func TestKube(t *testing.T) {
	env := startKube(t)
	ctx := t.Context()

	t.Run("round trip", func(t *testing.T) {
		s := env.newStore(t)
		empty, err := s.Load(ctx, "payments", "kafka/main")
		if err != nil {
			t.Fatal(err)
		}
		if len(empty.Resources) != 0 || empty.Owns("topic/payments.orders") || empty.Tenant != "payments" || empty.Target != "kafka/main" {
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

		// Another replica (its own client, nothing cached) reads the same.
		other := env.newStore(t)
		again, err := other.Load(ctx, "payments", "kafka/main")
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(e, again); diff != "" {
			t.Errorf("load from another replica (-want +got):\n%s", diff)
		}

		// A second target of the same tenant shares its Secret and leaves
		// the first entry alone.
		k8s := Entry{Tenant: "payments", Target: "kubernetes/eu-west", Resources: map[string]json.RawMessage{"Namespace//payments": json.RawMessage(`{}`)}}
		if err := other.Save(ctx, k8s); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.Load(ctx, "payments", "kafka/main"); !got.Owns("topic/payments.orders") {
			t.Errorf("saving kubernetes/eu-west lost kafka/main: %+v", got)
		}

		// Saving what is stored writes nothing.
		sec, err := env.cs.CoreV1().Secrets("k3sync").Get(ctx, "k3sync-state-payments", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Save(ctx, e); err != nil {
			t.Fatal(err)
		}
		after, _ := env.cs.CoreV1().Secrets("k3sync").Get(ctx, "k3sync-state-payments", metav1.GetOptions{})
		if after.ResourceVersion != sec.ResourceVersion {
			t.Errorf("an unchanged save rewrote the Secret: resourceVersion %s → %s", sec.ResourceVersion, after.ResourceVersion)
		}
		if sec.Type != "k3sync.io/state" || sec.Labels[KubeLabelState] != "inventory" || sec.Labels["k3sync.io/tenant"] != "payments" {
			t.Errorf("state Secret metadata: type %q labels %v", sec.Type, sec.Labels)
		}
	})

	t.Run("journal", func(t *testing.T) {
		j := env.newStore(t)
		// Reopened: another replica's store, its own client.
		checkJournal(t, j, "j-", func(t *testing.T) Journal { return env.newStore(t) })
		// The drift report and the runs share a Secret: neither write
		// loses the other.
		if runs, _ := env.newStore(t).Runs(ctx, "j-search", 0); len(runs) != 1 {
			t.Fatalf("saving drift lost the runs of j-search: %+v", runs)
		}
	})

	t.Run("reopen", func(t *testing.T) {
		s := env.newStore(t)
		e := Entry{Tenant: "a", Target: "kubernetes/x", Resources: map[string]json.RawMessage{"Namespace/a": json.RawMessage(`{}`)}}
		if err := s.Save(ctx, e); err != nil {
			t.Fatal(err)
		}
		got, err := env.newStore(t).Load(ctx, "a", "kubernetes/x")
		if err != nil {
			t.Fatal(err)
		}
		if !got.Owns("Namespace/a") {
			t.Errorf("after reopen: inventory lost Namespace/a: %+v", got)
		}
	})

	t.Run("conflict is retried", func(t *testing.T) {
		// Replica b writes between a's read and a's write: a's write
		// gets 409 Conflict, reads again and keeps b's entry.
		a, b := env.newStore(t), env.newStore(t)
		once := sync.Once{}
		a.beforeWrite = func() {
			once.Do(func() {
				if err := b.Save(ctx, Entry{Tenant: "race", Target: "kafka/main", Resources: map[string]json.RawMessage{"topic/b": json.RawMessage(`{}`)}}); err != nil {
					t.Error(err)
				}
			})
		}
		if err := a.Save(ctx, Entry{Tenant: "race", Target: "kong/edge", Resources: map[string]json.RawMessage{"service/a": json.RawMessage(`{}`)}}); err != nil {
			t.Fatal(err)
		}
		if n := a.conflicts.Load(); n != 1 {
			t.Errorf("a retried %d times, want once after the conflict", n)
		}
		all, err := a.List(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range all {
			if e.Tenant == "race" {
				got = append(got, e.Target)
			}
		}
		if diff := cmp.Diff([]string{"kafka/main", "kong/edge"}, got); diff != "" {
			t.Errorf("entries after the race (-want +got):\n%s", diff)
		}
	})

	t.Run("a write starts from the store's last", func(t *testing.T) {
		// A tenant's Secret written again by the store that wrote it is
		// not read first; after another replica's write, the store's
		// next write is refused (409), reads it and keeps that write.
		s, gets := env.countingStore(t)
		save := func(s *Kube, target, id string) {
			t.Helper()
			if err := s.Save(ctx, Entry{Tenant: "again", Target: target, Resources: map[string]json.RawMessage{id: json.RawMessage(`{}`)}}); err != nil {
				t.Fatal(err)
			}
		}
		save(s, "kubernetes/eu-west", "Namespace//again")
		save(s, "kubernetes/us-east", "Namespace//again")
		save(s, "kafka/main", "topic/again")
		if n := gets.Load(); n != 1 {
			t.Errorf("three saves of one tenant read its Secret %d times; want once, before the first", n)
		}
		save(env.newStore(t), "kong/edge", "service/again")
		save(s, "kafka/main", "topic/again.2")
		if n := gets.Load(); n != 2 {
			t.Errorf("a save after another replica's read the Secret %d times in all; want once more", n-1)
		}
		all, err := env.newStore(t).List(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		got := map[string][]string{}
		for _, e := range all {
			if e.Tenant == "again" {
				got[e.Target] = slices.Sorted(maps.Keys(e.Resources))
			}
		}
		want := map[string][]string{
			"kubernetes/eu-west": {"Namespace//again"}, "kubernetes/us-east": {"Namespace//again"},
			"kafka/main": {"topic/again.2"}, "kong/edge": {"service/again"},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("the tenant's inventory (-want +got):\n%s", diff)
		}
	})

	t.Run("a listed store creates without reading", func(t *testing.T) {
		// After a store has listed the inventories, a tenant's first
		// save creates its Secret without reading it; one another
		// replica created since is refused (409), read, and kept.
		s, gets := env.countingStore(t)
		if _, err := s.List(ctx, ""); err != nil {
			t.Fatal(err)
		}
		save := func(s *Kube, tenant, target, id string) {
			t.Helper()
			if err := s.Save(ctx, Entry{Tenant: tenant, Target: target, Resources: map[string]json.RawMessage{id: json.RawMessage(`{}`)}}); err != nil {
				t.Fatal(err)
			}
		}
		save(s, "fresh", "kafka/main", "topic/fresh")
		if n := gets.Load(); n != 0 {
			t.Errorf("the first save of a tenant the list did not have read its Secret %d times; want none", n)
		}
		save(env.newStore(t), "late", "kong/edge", "service/late")
		save(s, "late", "kafka/main", "topic/late")
		if n := gets.Load(); n != 1 {
			t.Errorf("a save of a Secret another replica created since the list read it %d times; want once, after the refused create", n)
		}
		in, err := ReadInventories(ctx, env.newStore(t), "kong/edge")
		if err != nil {
			t.Fatal(err)
		}
		if e, _ := in.Entry(ctx, "late"); !e.Owns("service/late") {
			t.Errorf("the other replica's entry of late was lost: %+v", e)
		}
	})

	t.Run("concurrent writers", func(t *testing.T) {
		// Two replicas, several writers each, all on one tenant's two
		// Secrets: no write is lost.
		stores := []*Kube{env.newStore(t), env.newStore(t)}
		const writers, rounds = 4, 5
		var wg sync.WaitGroup
		errs := make([]error, len(stores)*writers)
		for si, s := range stores {
			for w := range writers {
				slot := si*writers + w
				wg.Go(func() {
					target := fmt.Sprintf("kafka/c%d", slot)
					for i := range rounds {
						e := Entry{Tenant: "busy", Target: target, Revision: fmt.Sprint(i), Resources: map[string]json.RawMessage{fmt.Sprintf("topic/%d", i): json.RawMessage(`{}`)}}
						if err := s.Save(ctx, e); err != nil {
							errs[slot] = err
							return
						}
						run := Run{ID: fmt.Sprintf("%02d-%02d", slot, i), Tenant: "busy", Result: ResultSynced, Started: time.Unix(int64(slot*100+i), 0)}
						if err := s.AddRun(ctx, run); err != nil {
							errs[slot] = err
							return
						}
					}
				})
			}
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
		entries, err := stores[0].List(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, e := range entries {
			if e.Tenant == "busy" {
				n++
				if e.Revision != fmt.Sprint(rounds-1) || !e.Owns(fmt.Sprintf("topic/%d", rounds-1)) {
					t.Errorf("%s: not the last save: %+v", e.Target, e)
				}
			}
		}
		if n != len(errs) {
			t.Errorf("%d entries of tenant busy, want %d: a save was lost", n, len(errs))
		}
		runs, err := stores[1].Runs(ctx, "busy", 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(runs) != len(errs)*rounds {
			t.Errorf("%d runs recorded, want %d: a run was lost", len(runs), len(errs)*rounds)
		}
		t.Logf("%d + %d writes lost a race and were retried", stores[0].conflicts.Load(), stores[1].conflicts.Load())
	})

	t.Run("size", func(t *testing.T) {
		s := env.newStore(t)
		// Random bytes do not compress: 1.5 MiB cannot fit in a Secret.
		noise := make([]byte, 3<<19)
		if _, err := rand.Read(noise); err != nil {
			t.Fatal(err)
		}
		small := Entry{Tenant: "huge", Target: "kafka/main", Resources: map[string]json.RawMessage{"topic/a": json.RawMessage(`{}`)}}
		if err := s.Save(ctx, small); err != nil {
			t.Fatal(err)
		}
		big := Entry{Tenant: "huge", Target: "kafka/main", Resources: map[string]json.RawMessage{"blob": json.RawMessage(`"` + base64.StdEncoding.EncodeToString(noise) + `"`)}}
		if err := s.Save(ctx, big); !errors.Is(err, ErrTooLarge) {
			t.Fatalf("saving 2 MiB of incompressible inventory: got %v, want ErrTooLarge", err)
		}
		if got, _ := s.Load(ctx, "huge", "kafka/main"); !got.Owns("topic/a") {
			t.Errorf("a failed save changed the inventory: %+v", got)
		}

		// A journal over budget drops its oldest runs, then change lists,
		// never the status.
		s.maxPayload = 8 << 10
		for i := range 30 {
			blob := make([]byte, 600)
			_, _ = rand.Read(blob)
			r := Run{ID: fmt.Sprintf("%03d", i), Tenant: "chatty", Result: ResultSynced, Revision: fmt.Sprint(i),
				Changes: []plan.Result{{Error: base64.StdEncoding.EncodeToString(blob)}}}
			if err := s.AddRun(ctx, r); err != nil {
				t.Fatalf("run %d: %v", i, err)
			}
		}
		runs, err := s.Runs(ctx, "chatty", 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(runs) == 0 || len(runs) >= 30 || runs[0].ID != "029" {
			t.Fatalf("journal over budget: %d runs kept, newest %v; want the newest few", len(runs), runs)
		}
		st, _ := s.Statuses(ctx)
		found := false
		for _, x := range st {
			found = found || x.Tenant == "chatty" && x.Revision == "29"
		}
		if !found {
			t.Errorf("status lost while trimming: %+v", st)
		}
		t.Logf("an 8 KiB journal keeps the newest %d of 30 runs", len(runs))
	})

	t.Run("names", func(t *testing.T) {
		for tenant, want := range map[string]string{
			"payments":    "k3sync-state-payments",
			"Not_A_Label": "k3sync-state-h-",
		} {
			if got := kubeSecretName(kindInventory, tenant); got[:min(len(got), len(want))] != want {
				t.Errorf("%s: %s, want prefix %s", tenant, got, want)
			}
		}
		s := env.newStore(t)
		if err := s.Save(ctx, Entry{Tenant: "Not_A_Label", Target: "kong/edge"}); err != nil {
			t.Fatal(err)
		}
		if got, err := s.Load(ctx, "Not_A_Label", "kong/edge"); err != nil || got.Tenant != "Not_A_Label" {
			t.Fatalf("hashed name round trip: %+v %v", got, err)
		}
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
