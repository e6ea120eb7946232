package plan

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// The target contract: the rules every target follows, written once here
// and proven on every target against its real peer by the contract suite
// (internal/target/contracttest). A target keeps only its system's reads,
// diffs and writes.
//
//   - Scope: a request covers the tenants it lists and, when it is
//     Complete, every tenant the target's inventory holds that it does not
//     list (removed from Git); a tenant named by RemovedTenant desires
//     nothing. See Request.Scope.
//   - Ownership is the inventory: what exists live and is not in the
//     inventory is never changed, deleted or taken over (NotOwned,
//     InsideNotOwned); labels and tags are marks, not proof.
//   - The delete cap: more deletes on one target than the platform's
//     maxDeletesPerPlan are all blocked unless the request allows mass
//     deletion (Request.CapDeletes). The reconciler lifts it and counts
//     every delete of the whole plan itself.
//   - Apply what was checked: an apply with a Checked plan makes a
//     tenant's changes on a target only when they are the ones the plan
//     had (Request.Stale); otherwise none of them, each failing with
//     ErrStale, and the next run plans and checks again.
//   - Results: every planned change gets a result; a blocked one carries
//     ErrBlocked and is no failure; the failed ones make an *ApplyError
//     (Finish). A failure that concerns some tenants only is a
//     *PartialError, so that other tenants are not marked failed.
//   - The gate: a change of a tenant whose turn never came fails with the
//     wait's error and was not attempted (GateFailed).

var (
	// ErrBlocked is the error of a blocked change's result: k3sync refused
	// it at plan time (see the change's notes). A blocked change is not a
	// failure of the apply and is not in an ApplyError.
	ErrBlocked = errors.New("blocked")
	// ErrStale is the error of a change not made because the target's
	// fresh plan of its tenant differed from the plan that was checked:
	// live state, or the inventory, moved in between. Nothing of the
	// tenant was written on that target; the next run plans and checks
	// again.
	ErrStale = errors.New("live state changed after the plan was checked; nothing applied for this tenant here, it is planned and checked again")
)

// Scoped is one tenant a request covers on one target.
type Scoped struct {
	Name string
	// Request is the tenant's entry in the request; nil for a tenant only
	// the inventory knows, which a Complete request removes from Git.
	Request *TenantRequest
}

// Removed reports whether the tenant was removed from Git.
func (s Scoped) Removed() bool { return s.Request == nil || s.Request.Removed }

// Scope lists, sorted by name and each once, the tenants the request
// covers on a target whose inventory holds the tenants owned: those the
// request lists and, when it is Complete, those of owned it does not
// list. A target then drops the tenants with nothing desired on it and
// nothing in its inventory.
func (r Request) Scope(owned []string) []Scoped {
	byName := make(map[string]Scoped, len(r.Tenants))
	for i := range r.Tenants {
		tr := &r.Tenants[i]
		name := tr.Name()
		if name == "" {
			continue
		}
		if prev, ok := byName[name]; ok && !prev.Removed() {
			continue // a tenant listed twice: its desired entry wins
		}
		byName[name] = Scoped{Name: name, Request: tr}
	}
	if r.Complete {
		for _, name := range owned {
			if _, ok := byName[name]; !ok {
				byName[name] = Scoped{Name: name}
			}
		}
	}
	out := make([]Scoped, 0, len(byName))
	for _, s := range byName {
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b Scoped) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// CapDeletes blocks every delete of changes, one target's plan, when
// there are more than the platform allows per plan and the request does
// not allow mass deletion; where names the target ("cluster east",
// "kafka main"). It reports whether it blocked them.
func (r Request) CapDeletes(where string, changes []*Change) bool {
	if r.AllowMassDeletion || r.Platform == nil {
		return false
	}
	limit := r.Platform.Policy.Deletion.MaxDeletesPerPlan
	n := 0
	for _, c := range changes {
		if c.Action == Delete {
			n++
		}
	}
	if n <= limit {
		return false
	}
	note := fmt.Sprintf("%d deletes on %s exceed the platform's limit of %d per plan (policy.deletion.maxDeletesPerPlan): "+
		"sync with mass deletion allowed, or remove less from Git at a time", n, where, limit)
	for _, c := range changes {
		if c.Action == Delete {
			c.Action = Blocked
			c.Notes = append(c.Notes, note)
		}
	}
	return true
}

// Stale returns nil when the writes of fresh, a target's fresh plan of
// one tenant, are those the request's Checked plan has for that tenant on
// that target (same resources, actions and fields; notes aside), or when
// the request has no Checked plan. Otherwise it returns an error wrapping
// ErrStale that names the first difference. Blocked changes write
// nothing and are not compared.
//
// Stale reads the whole Checked plan; an apply that checks many tenants
// uses one StaleChecker instead.
func (r Request) Stale(tenant string, system System, target string, fresh []Change) error {
	return r.StaleChecker(system, target).Stale(tenant, fresh)
}

// StaleChecker is Request.Stale for the tenants of one target: it reads
// the Checked plan once, so checking every tenant of a 1,000-tenant apply
// costs one pass over the plan, not one per tenant. It is safe for
// concurrent use.
type StaleChecker struct {
	checked bool
	// writes are the checked plan's writes on the target, by tenant,
	// sorted.
	writes map[string][]*Change
}

// StaleChecker returns the checker of the request's Checked plan for
// target on system.
func (r Request) StaleChecker(system System, target string) *StaleChecker {
	if r.Checked == nil {
		return &StaleChecker{}
	}
	sc := &StaleChecker{checked: true, writes: map[string][]*Change{}}
	checked := r.Checked.Changes
	for _, c := range writes(len(checked), func(i int) *Change { return &checked[i] }, func(c *Change) bool { return c.System == system && c.Target == target }) {
		sc.writes[c.Tenant] = append(sc.writes[c.Tenant], c)
	}
	return sc
}

// Stale is Request.Stale for tenant on the checker's target.
func (sc *StaleChecker) Stale(tenant string, fresh []Change) error {
	ptrs := make([]*Change, len(fresh))
	for i := range fresh {
		ptrs[i] = &fresh[i]
	}
	_, err := sc.check(tenant, ptrs)
	return err
}

// Adopt is Stale for a target's own changes of tenant, by pointer: when
// they are the checked ones, each write among them takes the fields of
// its checked change, which are equal. An apply then holds the fields of
// one plan, the checked one, instead of two until its results are
// dropped. Fields are never changed once planned.
func (sc *StaleChecker) Adopt(tenant string, fresh []*Change) error {
	pairs, err := sc.check(tenant, fresh)
	for _, p := range pairs {
		p[1].Fields = p[0].Fields
	}
	return err
}

// check compares tenant's writes among fresh with the checked ones and
// returns them in pairs, checked first, when they are the same.
func (sc *StaleChecker) check(tenant string, fresh []*Change) ([][2]*Change, error) {
	if !sc.checked {
		return nil, nil
	}
	want := sc.writes[tenant]
	got := writes(len(fresh), func(i int) *Change { return fresh[i] }, func(c *Change) bool { return c.Tenant == tenant })
	for i := range max(len(want), len(got)) {
		switch {
		case i >= len(want):
			return nil, fmt.Errorf("%w (%s %s was not in the checked plan)", ErrStale, got[i].Action, got[i].Key)
		case i >= len(got):
			return nil, fmt.Errorf("%w (%s %s is no longer planned)", ErrStale, want[i].Action, want[i].Key)
		case !sameChange(want[i], got[i]):
			return nil, fmt.Errorf("%w (%s %s was planned as %s)", ErrStale, got[i].Action, got[i].Key, want[i].Action)
		}
	}
	pairs := make([][2]*Change, len(got))
	for i := range got {
		pairs[i] = [2]*Change{want[i], got[i]}
	}
	return pairs, nil
}

// writes returns the changes that write, of those keep selects, sorted.
func writes(n int, change func(i int) *Change, keep func(*Change) bool) []*Change {
	var out []*Change
	for i := range n {
		if c := change(i); c.Action != Blocked && keep(c) {
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b *Change) int { return Compare(*a, *b) })
	return out
}

func sameChange(a, b *Change) bool {
	if a.Key != b.Key || a.Action != b.Action || len(a.Fields) != len(b.Fields) {
		return false
	}
	// Field values are any: compare them as JSON, as a saved plan holds them.
	x, errX := json.Marshal(a.Fields)
	y, errY := json.Marshal(b.Fields)
	return errX == nil && errY == nil && bytes.Equal(x, y)
}

// Finish completes an apply's results, one per planned change with the
// error of its write (nil when made): a blocked change gets ErrBlocked
// and is no failure; every result's Error is set. The error is an
// *ApplyError naming target when some change failed, else nil.
func Finish(target string, results []Result) ([]Result, error) {
	applyErr := &ApplyError{Target: target}
	for i := range results {
		r := &results[i]
		if r.Action == Blocked {
			r.Err = fmt.Errorf("%s: %w", r.Key, ErrBlocked)
		}
		if r.Err != nil {
			r.Error = r.Err.Error()
		}
		if r.Action == Blocked {
			continue
		}
		applyErr.Total++
		if r.Err != nil {
			applyErr.Failed = append(applyErr.Failed, *r)
		}
	}
	if len(applyErr.Failed) > 0 {
		return results, applyErr
	}
	return results, nil
}

// GateFailed is the error of a change of a tenant whose turn on the gate
// never came (err is the wait's): the change was not attempted. A
// blocked change stays blocked: nil.
func GateFailed(c Change, err error) error {
	if c.Action == Blocked {
		return nil
	}
	return fmt.Errorf("%s: not attempted: %w", c.Key, err)
}

// TenantError is a target's failure for one tenant.
type TenantError struct {
	Tenant string
	Err    error
}

// PartialError is a target's plan or apply where some tenants failed as
// a whole (their plan, their inventory save); the other tenants' changes
// are returned with it and stand. The engine records one TargetError per
// tenant, so that only those tenants are marked failed.
type PartialError struct {
	// Target names the target as its messages do ("kong gateway edge").
	Target  string
	Tenants []TenantError
}

func (e *PartialError) Error() string {
	msgs := make([]string, len(e.Tenants))
	for i, te := range e.Tenants {
		msgs[i] = fmt.Sprintf("tenant %s: %v", te.Tenant, te.Err)
	}
	return e.Target + ": " + strings.Join(msgs, "; ")
}

// Unwrap returns each tenant's error.
func (e *PartialError) Unwrap() []error {
	out := make([]error, len(e.Tenants))
	for i, te := range e.Tenants {
		out[i] = te.Err
	}
	return out
}

// Add records tenant's failure; a nil err is ignored.
func (e *PartialError) Add(tenant string, err error) {
	if err != nil {
		e.Tenants = append(e.Tenants, TenantError{Tenant: tenant, Err: err})
	}
}

// Err returns e, or nil when no tenant failed.
func (e *PartialError) Err() error {
	if e == nil || len(e.Tenants) == 0 {
		return nil
	}
	return e
}
