package review

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/k3sync/k3sync/internal/forge"
	"github.com/k3sync/k3sync/internal/plan"
)

// Status is the "k3sync/plan" commit status of the review.
func (r *Review) Status(dashboardURL string) forge.Status {
	st := forge.Status{Context: forge.ContextPlan, TargetURL: r.targetURL(dashboardURL)}
	switch {
	case r.Err != nil:
		st.State, st.Description = forge.Error, "k3sync could not read the head: "+r.Err.Error()
	case len(r.Invalid) > 0:
		st.State, st.Description = forge.Failure, fmt.Sprintf("Invalid (%s): %s", count(len(r.Invalid), "error"), r.Invalid[0].Error())
	case r.Plan == nil:
		st.State, st.Description = forge.Success, "No tenant changes: nothing to plan"
	case len(r.Plan.Errors) > 0:
		st.State, st.Description = forge.Error, "k3sync could not plan "+r.Plan.Errors[0].String()
	case len(r.Violations) > 0:
		v := r.Violations[0]
		st.State, st.Description = forge.Failure, fmt.Sprintf("Ownership: %s to other tenants' resources (%s of tenant %s)", count(len(r.Violations), "change"), v.Key.Resource(), v.Owner)
	case r.Plan.Blocked():
		st.State, st.Description = forge.Failure, fmt.Sprintf("%s blocked: %s", count(r.Plan.Summary().Blocked, "change"), ChangesText(r.Plan.Summary()))
	case len(r.Observed) > 0:
		st.State, st.Description = forge.Success, fmt.Sprintf("Observe only (%s, never applied): %s", strings.Join(r.Observed, ", "), ChangesText(r.Plan.Summary()))
	default:
		st.State, st.Description = forge.Success, ChangesText(r.Plan.Summary())
	}
	st.Description = forge.Description(st.Description)
	return st
}

// ChangesText is "3 changes: 1 to create, 2 to update, 0 to delete, 0 to
// orphan, 0 blocked", or "No changes".
func ChangesText(s plan.Summary) string {
	if s.Total() == 0 {
		return "No changes: live state matches"
	}
	return count(s.Total(), "change") + ": " + s.String()
}

// targetURL is the dashboard's tenant page for one tenant, its root for
// more, the pull request without a dashboard.
func (r *Review) targetURL(dashboardURL string) string {
	if dashboardURL == "" {
		return r.PR.URL
	}
	if len(r.Scope.Tenants)+len(r.Scope.Deleted) == 1 && !r.Scope.All {
		return tenantURL(dashboardURL, append(r.Scope.Tenants, r.Scope.Deleted...)[0])
	}
	return strings.TrimSuffix(dashboardURL, "/") + "/"
}

// tenantURL is the dashboard page of a tenant.
func tenantURL(dashboardURL, tenant string) string {
	return strings.TrimSuffix(dashboardURL, "/") + "/tenants/" + url.PathEscape(tenant)
}

// count is "1 change", "2 changes".
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
