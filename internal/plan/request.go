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
}

// TenantRequest is one tenant in a request.
type TenantRequest struct {
	Desired *render.Tenant
	Model   *model.Tenant
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
// systems before it (see apply.Engine). Its methods are safe for
// concurrent use.
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

// Done tells the gate, if any, that the target is done with the tenant.
func (o ApplyOptions) Done(tenant string) {
	if o.Gate != nil {
		o.Gate.Done(tenant)
	}
}
