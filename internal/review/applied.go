package review

import (
	"context"
	"fmt"
	"strings"

	"github.com/k3sync/k3sync/internal/forge"
	"github.com/k3sync/k3sync/internal/state"
)

// Applied sets the "k3sync/apply" status of sha, a revision of the tracked
// branch the daemon applied, from the runs it recorded for it (none when
// nothing needed a change). It makes at most one forge call, none while
// the forge asked to wait; callers on a loop that must not wait can run
// it on a goroutine. A status that could not be posted is kept, and Start
// posts it with backoff until it is posted or a newer status of sha
// replaces it; the error says why the first try failed.
func (l *Loop) Applied(ctx context.Context, sha string, runs []state.Run) error {
	st := AppliedStatus(runs, l.opts.DashboardURL)
	if err := l.setStatus(ctx, sha, st); err != nil {
		return fmt.Errorf("%w (kept, and retried)", err)
	}
	l.log.InfoContext(ctx, "apply status set", "revision", short(sha), "state", st.State, "description", st.Description)
	return nil
}

// AppliedStatus sums up the runs of one revision: failure when a tenant
// failed or the revision was invalid, pending when one was blocked (it is
// applied once the guard lifts), success otherwise.
func AppliedStatus(runs []state.Run, dashboardURL string) forge.Status {
	st := forge.Status{Context: forge.ContextApply, TargetURL: strings.TrimSuffix(dashboardURL, "/")}
	if dashboardURL != "" {
		st.TargetURL += "/"
	}
	var failed, blocked []state.Run
	changes := 0
	for _, r := range runs {
		switch r.Result {
		case state.ResultFailed, state.ResultInvalid:
			failed = append(failed, r)
		case state.ResultBlocked:
			blocked = append(blocked, r)
		case state.ResultSynced:
			changes += len(r.Changes)
		}
	}
	switch {
	case len(failed) > 0:
		r := failed[0]
		st.State = forge.Failure
		st.Description = fmt.Sprintf("%s of %d failed: %s: %s", count(len(failed), "tenant"), len(runs), r.Tenant, runMessage(r))
		if dashboardURL != "" {
			st.TargetURL = tenantURL(dashboardURL, r.Tenant)
		}
	case len(blocked) > 0:
		r := blocked[0]
		st.State = forge.Pending
		st.Description = fmt.Sprintf("%s not applied yet: %s: %s", count(len(blocked), "tenant"), r.Tenant, runMessage(r))
		if dashboardURL != "" {
			st.TargetURL = tenantURL(dashboardURL, r.Tenant)
		}
	case len(runs) == 0:
		st.State, st.Description = forge.Success, "Applied: nothing needed a change"
	default:
		st.State, st.Description = forge.Success, fmt.Sprintf("Applied: %s, %s", count(len(runs), "tenant"), count(changes, "change"))
	}
	st.Description = forge.Description(st.Description)
	return st
}

// runMessage is why a run did not sync: its message, or its first failed
// change's error.
func runMessage(r state.Run) string {
	if r.Message != "" {
		return r.Message
	}
	for _, c := range r.Changes {
		switch {
		case c.Error != "":
			return c.Resource() + ": " + c.Error
		case c.Err != nil:
			return c.Resource() + ": " + c.Err.Error()
		}
	}
	return string(r.Result)
}
