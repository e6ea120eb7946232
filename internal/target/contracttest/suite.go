package contracttest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/k3sync/k3sync/internal/plan"
	"github.com/k3sync/k3sync/internal/state"
)

// Run runs the contract on the harness's target, one subtest per rule.
func Run(t *testing.T, h Harness) {
	for _, r := range rules {
		t.Run(r.name, func(t *testing.T) {
			r.run(t, &suite{Env: h.Start(t), h: h})
		})
	}
}

var rules = []struct {
	name string
	run  func(*testing.T, *suite)
}{
	{"create", testCreate},
	{"noop", testNoop},
	{"update", testUpdate},
	{"drift", testDrift},
	{"delete_owned", testDeleteOwned},
	{"never_delete_unowned", testNeverDeleteUnowned},
	{"orphan_protected", testOrphanProtected},
	{"delete_cap", testDeleteCap},
	{"gate_failure", testGateFailure},
	{"stale", testStale},
	{"crash_after_write_ahead", testCrashAfterWriteAhead},
	{"tenant_removal", testTenantRemoval},
	{"adopt", testAdopt},
}

// suite is an Env with the suite's helpers.
type suite struct {
	Env
	h Harness
}

// restart is a suite on a fresh environment, for a subtest of a rule.
func (s *suite) restart(t *testing.T) *suite { return &suite{Env: s.h.Start(t), h: s.h} }

// request is a request for the tenants trs, on the env's platform.
func (s *suite) request(complete bool, trs ...plan.TenantRequest) plan.Request {
	return plan.Request{Revision: "contract", Platform: s.Platform(), Tenants: trs, Complete: complete}
}

func (s *suite) plan(t *testing.T, req plan.Request) []plan.Change {
	t.Helper()
	changes, err := s.Target().Plan(t.Context(), req)
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	return changes
}

func (s *suite) apply(t *testing.T, req plan.Request, opts plan.ApplyOptions) ([]plan.Result, error) {
	t.Helper()
	return s.Target().Apply(t.Context(), req, opts) //nolint:wrapcheck // the target's own error
}

// mustApply applies req and fails the test unless every change was made.
func (s *suite) mustApply(t *testing.T, req plan.Request) []plan.Result {
	t.Helper()
	results, err := s.apply(t, req, plan.ApplyOptions{})
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	for _, r := range results {
		if r.Err != nil {
			t.Fatalf("apply: %s %s: %v", r.Action, r.Key, r.Err)
		}
	}
	return results
}

// converged fails the test unless req plans nothing at all.
func (s *suite) converged(t *testing.T, req plan.Request, when string) {
	t.Helper()
	if changes := s.plan(t, req); len(changes) > 0 {
		t.Errorf("%s: the plan is not empty:\n%s", when, describe(changes))
	}
}

// allKeys are the keys of resources 0..n-1 of tr.
func (s *suite) allKeys(tr plan.TenantRequest, n int) []plan.Key {
	var out []plan.Key
	for i := range n {
		out = append(out, s.Keys(tr, i)...)
	}
	return out
}

// entry is the tenant's inventory on the target; an empty one when the
// store holds none.
func (s *suite) entry(t *testing.T, tenant string) state.Entry {
	t.Helper()
	entries, err := s.Store().List(t.Context(), s.StateID())
	if err != nil {
		t.Fatalf("inventory: %v", err)
	}
	for _, e := range entries {
		if e.Tenant == tenant {
			return e
		}
	}
	return state.Entry{Tenant: tenant, Target: s.StateID()}
}

// owns reports whether the tenant's inventory holds key.
func (s *suite) owns(t *testing.T, key plan.Key) bool {
	t.Helper()
	e := s.entry(t, key.Tenant)
	return e.Owns(s.InventoryID(key))
}

// snapshot is everything the store holds for the target, as JSON.
func (s *suite) snapshot(t *testing.T) string {
	t.Helper()
	entries, err := s.Store().List(t.Context(), s.StateID())
	if err != nil {
		t.Fatalf("inventory: %v", err)
	}
	b, err := json.MarshalIndent(entries, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// reads returns Read of every key, absent ones as "".
func (s *suite) reads(t *testing.T, keys []plan.Key) map[plan.Key]string {
	t.Helper()
	out := map[plan.Key]string{}
	for _, k := range keys {
		out[k], _ = s.Read(t, k)
	}
	return out
}

func (s *suite) exists(t *testing.T, k plan.Key) bool {
	t.Helper()
	_, ok := s.Read(t, k)
	return ok
}

// unchanged fails the test when the object of k is gone or differs from
// before.
func (s *suite) unchanged(t *testing.T, k plan.Key, before, when string) {
	t.Helper()
	got, ok := s.Read(t, k)
	switch {
	case !ok:
		t.Errorf("%s: %s is gone", when, k)
	case got != before:
		t.Errorf("%s: %s changed:\nbefore: %s\nafter:  %s", when, k, before, got)
	}
}

// describe renders changes one a line.
func describe(changes []plan.Change) string {
	var b strings.Builder
	for _, c := range changes {
		fmt.Fprintf(&b, "  %s %s", c.Action, c.Key)
		if c.Drift {
			b.WriteString(" (drift)")
		}
		for _, f := range c.Fields {
			fmt.Fprintf(&b, " [%s]", f.Path)
		}
		for _, n := range c.Notes {
			fmt.Fprintf(&b, "\n      note: %s", n)
		}
		b.WriteByte('\n')
	}
	if b.Len() == 0 {
		return "  (none)\n"
	}
	return b.String()
}

func describeResults(results []plan.Result) string {
	var b strings.Builder
	for _, r := range results {
		fmt.Fprintf(&b, "  %s %s: %v\n", r.Action, r.Key, r.Err)
	}
	if b.Len() == 0 {
		return "  (none)\n"
	}
	return b.String()
}

func changeOf(changes []plan.Change, k plan.Key) (plan.Change, bool) {
	i := slices.IndexFunc(changes, func(c plan.Change) bool { return c.Key == k })
	if i < 0 {
		return plan.Change{}, false
	}
	return changes[i], true
}

func resultOf(results []plan.Result, k plan.Key) (plan.Result, bool) {
	i := slices.IndexFunc(results, func(r plan.Result) bool { return r.Key == k })
	if i < 0 {
		return plan.Result{}, false
	}
	return results[i], true
}

func keysOf(changes []plan.Change, action plan.Action) []plan.Key {
	var out []plan.Key
	for _, c := range changes {
		if c.Action == action {
			out = append(out, c.Key)
		}
	}
	return sortKeys(out)
}

func sortKeys(keys []plan.Key) []plan.Key {
	keys = slices.Clone(keys)
	slices.SortFunc(keys, func(a, b plan.Key) int { return strings.Compare(a.String(), b.String()) })
	return keys
}

func keyList(keys []plan.Key) string {
	var b strings.Builder
	for _, k := range keys {
		b.WriteString("  " + k.String() + "\n")
	}
	if b.Len() == 0 {
		return "  (none)\n"
	}
	return b.String()
}

// sameKeys fails the test unless got and want hold the same keys.
func sameKeys(t *testing.T, what string, got, want []plan.Key) {
	t.Helper()
	got, want = sortKeys(got), sortKeys(want)
	if !slices.Equal(got, want) {
		t.Errorf("%s:\ngot:\n%swant:\n%s", what, keyList(got), keyList(want))
	}
}

// failingGate is a gate whose turn never comes.
type failingGate struct{ err error }

func (g failingGate) Wait(context.Context, string) error { return g.err }
func (failingGate) Ready(string) bool                    { return false }
func (failingGate) Done(string)                          {}

var errGate = errors.New("contract: the gate failed")
