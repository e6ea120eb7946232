package plan

import (
	"context"
	"fmt"
	"strings"

	"github.com/k3sync/k3sync/internal/model"
	"github.com/k3sync/k3sync/internal/render"
)

// Request asks one target for a plan, or to apply one.
type Request struct {
	// Revision is the Git commit the desired state comes from.
	Revision string
	// Platform holds the platform policy (deletion rules, delete cap).
	Platform *model.Platform
	// Tenants in scope: their rendered desired state and their model.
	Tenants []TenantRequest
	// Complete says Tenants is every tenant in Git: whatever the target
	// owns for a tenant not in the list was removed from Git. False when
	// the request was narrowed to some tenants.
	Complete bool
	// AllowMassDeletion lifts the per-plan delete cap.
	AllowMassDeletion bool
	// Checked, when set, is the plan the guards checked: an apply makes a
	// tenant's changes on a target only when its fresh plan of them is
	// the same (see Stale). Nil applies what the apply plans.
	Checked *Plan
}

// TenantRequest is one tenant in a request.
type TenantRequest struct {
	Desired *render.Tenant
	Model   *model.Tenant
	// Removed says the tenant was removed from Git (see RemovedTenant):
	// it desires nothing, and whatever a target owns of it goes.
	Removed bool
}

// RemovedTenant is a tenant removed from Git, named in a request that
// need not be Complete: every target plans it as a tenant that desires
// nothing, so everything its inventory owns is deleted (or orphaned when
// protected, as the last applied definition says), and the engine takes
// it through the systems in reverse (Kong, Kafka, Kubernetes).
func RemovedTenant(name string) TenantRequest {
	return TenantRequest{Desired: &render.Tenant{Name: name}, Removed: true}
}

// Name is the tenant's name.
func (tr TenantRequest) Name() string {
	switch {
	case tr.Desired != nil:
		return tr.Desired.Name
	case tr.Model != nil:
		return tr.Model.Name
	}
	return ""
}

// Removals returns the tenants the request removes from Git, as a
// predicate: those it names as removed and, when it is Complete, every
// tenant it does not list (targets plan what they own of those as
// removed from Git).
func (r Request) Removals() func(tenant string) bool {
	listed := make(map[string]bool, len(r.Tenants))
	for _, tr := range r.Tenants {
		listed[tr.Name()] = listed[tr.Name()] || !tr.Removed
	}
	return func(tenant string) bool {
		present, ok := listed[tenant]
		if ok {
			return !present
		}
		return r.Complete
	}
}

// Result is the outcome of one applied change.
type Result struct {
	Change
	// Err is nil when the change was made.
	Err error `json:"-"`
	// Error is Err's message, for JSON.
	Error string `json:"error,omitempty"`
}

// ApplyError is an apply of one target where some changes failed. The
// other changes were made; Failed has the results of those that were not,
// each with its own error. errors.Is and errors.As see every change's
// error.
type ApplyError struct {
	// Target names the target as its messages do ("kafka main", "kong
	// gateway edge").
	Target string
	// Total is how many changes the apply tried.
	Total  int
	Failed []Result
}

func (e *ApplyError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d of %d changes failed", e.Target, len(e.Failed), e.Total)
	for i, r := range e.Failed {
		if i == 3 {
			fmt.Fprintf(&b, "; and %d more", len(e.Failed)-i)
			break
		}
		b.WriteString("; ")
		b.WriteString(r.Error)
	}
	return b.String()
}

// Unwrap returns each failed change's error.
func (e *ApplyError) Unwrap() []error {
	errs := make([]error, len(e.Failed))
	for i, r := range e.Failed {
		errs[i] = r.Err
	}
	return errs
}

// ApplyOptions tune an apply.
type ApplyOptions struct {
	// DryRun computes and validates everything through the same code path
	// but asks the systems not to persist (server-side dry run, Kafka's
	// ValidateOnly).
	DryRun bool
	// Gate, when set, orders each tenant across systems: a target waits
	// for it before its first change of a tenant and tells it when it
	// is done with the tenant. Without a gate nothing waits.
	Gate Gate
}

// Gate orders one target's work on each tenant after the targets of the
// systems before it (see apply.Engine), or, for a tenant the request
// removes from Git (Request.Removals), after those of the systems after
// it. Its methods are safe for concurrent use.
type Gate interface {
	// Wait blocks until the earlier targets are done with the tenant,
	// or ctx ends.
	Wait(ctx context.Context, tenant string) error
	// Ready reports without blocking whether Wait would return at once.
	Ready(tenant string) bool
	// Done says that this target is done with the tenant: it will not
	// change anything of it any more. Calling it again does nothing.
	Done(tenant string)
}

// Wait waits for the tenant's turn on the gate; at once without one.
func (o ApplyOptions) Wait(ctx context.Context, tenant string) error {
	if o.Gate == nil {
		return nil
	}
	return o.Gate.Wait(ctx, tenant) //nolint:wrapcheck // the gate's own error
}

// Ready reports whether the tenant's turn has come; always without a gate.
func (o ApplyOptions) Ready(tenant string) bool {
	return o.Gate == nil || o.Gate.Ready(tenant)
}

// ReadyFirst returns items reordered so that the tenants whose turn on
// the gate has come are first, each part in its order. A target that
// starts tenants with bounded concurrency starts them in this order: a
// tenant removed from Git goes through the systems in reverse, so a
// target can hold tenants that wait on the other systems next to tenants
// the other systems wait on, and slots filled with the former would never
// free.
func ReadyFirst[T any](o ApplyOptions, items []T, tenant func(T) string) []T {
	if o.Gate == nil {
		return items
	}
	out := make([]T, 0, len(items))
	var later []T
	for _, it := range items {
		if o.Gate.Ready(tenant(it)) {
			out = append(out, it)
		} else {
			later = append(later, it)
		}
	}
	return append(out, later...)
}

// Done tells the gate, if any, that the target is done with the tenant.
func (o ApplyOptions) Done(tenant string) {
	if o.Gate != nil {
		o.Gate.Done(tenant)
	}
}
