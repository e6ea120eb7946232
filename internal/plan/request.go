package plan

import (
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

// ApplyOptions tune an apply.
type ApplyOptions struct {
	// DryRun computes and validates everything through the same code path
	// but asks the systems not to persist (server-side dry run, Kafka's
	// ValidateOnly).
	DryRun bool
}
