package review

import (
	"context"
	"errors"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/k3sync/k3sync/internal/diag"
	"github.com/k3sync/k3sync/internal/forge"
	"github.com/k3sync/k3sync/internal/loader"
	"github.com/k3sync/k3sync/internal/model"
	"github.com/k3sync/k3sync/internal/plan"
	"github.com/k3sync/k3sync/internal/render"
	"github.com/k3sync/k3sync/internal/source"
)

// Review is what k3sync found for one pull request head: data, rendered
// apart as a status and a comment.
type Review struct {
	PR forge.PullRequest
	// Head is the commit planned.
	Head string
	// Branch and Base are the tracked branch and its head.
	Branch, Base string
	// Since is the commit the changed files were listed from: the merge
	// base, or Base when there is none.
	Since string
	// Changed are the files the pull request changes; the planned tree
	// has them from Head and every other file from Base.
	Changed map[string]bool
	// Invalid holds every validation error of the head.
	Invalid diag.List
	// Err is why the head could not be read at all.
	Err   error
	Scope Scope
	// Plan is the plan of the scope's tenants; nil when nothing was
	// planned (invalid, or no tenant changed).
	Plan *plan.Plan
	// Unrelated counts changes of tenants the pull request does not
	// change, left out of Plan (requests that cover every tenant).
	Unrelated  int
	Violations []Violation
	// Observed are the planned tenants in observe mode at the head: what
	// the plan shows is never applied for them.
	Observed []string
}

// Scope is what a pull request changes.
type Scope struct {
	// All: platform.cue changed, so every tenant is in scope.
	All bool
	// Tenants changed by the pull request that exist at its head.
	Tenants []string
	// Deleted tenant folders.
	Deleted []string
}

// Empty reports whether no tenant is changed.
func (s Scope) Empty() bool { return !s.All && len(s.Tenants) == 0 && len(s.Deleted) == 0 }

// Has reports whether the pull request changes tenant's files.
func (s Scope) Has(tenant string) bool {
	return s.All || slices.Contains(s.Tenants, tenant) || slices.Contains(s.Deleted, tenant)
}

// Folders names the tenant folders in scope, for messages.
func (s Scope) Folders() []string {
	var out []string
	for _, t := range append(slices.Clone(s.Tenants), s.Deleted...) {
		out = append(out, path.Join(loader.TenantsDir, t)+"/")
	}
	slices.Sort(out)
	return out
}

// retry reports whether the head should be planned again at the next
// pass: its plan is incomplete.
func (r *Review) retry() bool {
	return r.Err != nil || r.Plan != nil && len(r.Plan.Errors) > 0
}

// review plans one pull request and reports on it. A head planned again
// (its last plan was incomplete) gets no pending status, and no status at
// all when the outcome is the same: forges keep every status posted.
//
// A status that fails to post stays queued and is posted later (setStatus);
// the final one replaces a pending one still queued. A rate limit answer
// stops the review: it is planned again once the forge's wait elapsed.
func (l *Loop) review(ctx context.Context, pr forge.PullRequest, ps *pass) error {
	rev, err := l.src.FetchRef(ctx, l.pullRef(pr.Number))
	if tooLarge := (*source.ObjectTooLargeError)(nil); errors.As(err, &tooLarge) && pr.HeadSHA != "" {
		return l.refuse(ctx, pr, ps, tooLarge)
	}
	if err != nil {
		return err //nolint:wrapcheck // redacted by source
	}
	head := rev.Hash
	log := l.log.With("pr", pr.Number, "head", short(head))
	l.mu.Lock()
	last, seen := l.prs[pr.Number]
	l.mu.Unlock()
	again := seen && last.head == head
	if !again {
		pending := forge.Status{Context: forge.ContextPlan, State: forge.Pending, Description: "Planning against live state…", TargetURL: pr.URL}
		if err := l.setStatus(ctx, head, pending); err != nil {
			return err
		}
	}
	r := l.plan(ctx, pr, head, ps)
	if _, limited := forge.RetryAfter(r.Err); limited {
		return r.Err
	}
	// The comment first: once the status is final, the comment matches it.
	err = l.forge.UpsertComment(ctx, pr.Number, Marker, r.Markdown(l.commentOptions()))
	l.noteLimit(ctx, err)
	if err != nil {
		return err //nolint:wrapcheck // names the forge and pull request
	}
	st := r.Status(l.opts.DashboardURL)
	var statusErr error
	if !again || last.status != st {
		// Queued when it fails: the head is not planned again for it.
		if statusErr = l.setStatus(ctx, head, st); statusErr != nil {
			log.WarnContext(ctx, "plan status not posted: kept and retried", "state", st.State, "error", statusErr)
		}
	}
	l.mu.Lock()
	l.prs[pr.Number] = prState{head: head, base: ps.base.hash, status: st, done: !r.retry()}
	l.mu.Unlock()
	if _, limited := forge.RetryAfter(statusErr); limited {
		return statusErr
	}
	attrs := []any{"state", st.State, "description", st.Description, "tenants", len(r.Scope.Tenants), "violations", len(r.Violations)}
	if r.Err != nil {
		attrs = append(attrs, "error", r.Err)
	}
	log.InfoContext(ctx, "pull request planned", attrs...)
	return nil
}

// plan loads what merging the pull request would give, finds the tenants
// it changes and plans those.
func (l *Loop) plan(ctx context.Context, pr forge.PullRequest, head string, ps *pass) *Review {
	base := ps.base
	r := &Review{PR: pr, Head: head, Branch: l.opts.Branch, Base: base.hash}
	files, since, err := l.changedFiles(ctx, pr, head, base.hash)
	if err != nil {
		r.Err = err
		return r
	}
	r.Since = since
	baseFS, err := l.src.FS(base.hash)
	if err != nil {
		r.Err = err
		return r
	}
	headFS, err := l.src.FS(head)
	if err != nil {
		r.Err = err
		return r
	}
	merged := newOverlay(baseFS, headFS, files)
	r.Changed = merged.changed
	repo, err := loader.LoadWith(ctx, merged, l.opts.Loader)
	if err != nil {
		if list, ok := loader.Validation(err); ok {
			r.Invalid = list.Sorted()
		} else {
			r.Err = err
		}
		return r
	}
	r.Scope = scopeOf(files, base.repo, repo)
	if r.Scope.Empty() {
		return r
	}
	req := request(repo, r.Scope, head)
	p := l.engine.Plan(ctx, req)
	if req.Complete && !r.Scope.All {
		// The request covers every tenant only so that targets plan the
		// deleted folders' removal; the others are not this pull
		// request's doing.
		p, r.Unrelated = keepTenants(p, r.Scope)
	}
	r.Plan = p
	for _, t := range repo.Tenants {
		if t.Policies.Mode == model.ModeObserve && r.Scope.Has(t.Name) {
			r.Observed = append(r.Observed, t.Name)
		}
	}
	r.Violations = checkOwnership(p, r.Scope, func(names []string) *plan.Plan { return l.pendingPlan(ctx, ps, r.Scope, names) })
	return r
}

// fileCommit is the commit a file of the planned tree comes from.
func (r *Review) fileCommit(file string) string {
	if r.Changed[file] || r.Base == "" {
		return r.Head
	}
	return r.Base
}

// changedFiles lists the files the pull request changes: from the merge
// base when the forge knows it and the clone has it, else from the
// tracked branch's head.
func (l *Loop) changedFiles(ctx context.Context, pr forge.PullRequest, head, base string) ([]string, string, error) {
	since := pr.MergeBase
	if mb, ok := l.forge.(mergeBaser); ok && since == "" {
		var err error
		since, err = mb.MergeBase(ctx, base, head)
		l.noteLimit(ctx, err)
		if _, limited := forge.RetryAfter(err); limited {
			return nil, "", err
		}
		if err != nil {
			l.log.WarnContext(ctx, "no merge base: comparing with the tracked branch", "pr", pr.Number, "error", err)
		}
	}
	if since != "" {
		files, err := l.src.Changed(since, head)
		if err == nil {
			return files, since, nil
		}
		l.log.WarnContext(ctx, "merge base not readable: comparing with the tracked branch", "pr", pr.Number, "merge_base", since, "error", err)
	}
	files, err := l.src.Changed(base, head)
	if err != nil {
		return nil, "", err //nolint:wrapcheck // names the commits
	}
	return files, base, nil
}

// scopeOf maps changed files to tenants: platform.cue changes all;
// tenants/<t>/… changes t when t is a tenant at the head, and deletes it
// when t is a tenant of the tracked branch (base) only. A folder that is a
// tenant at neither (a README.md in a new folder) changes nothing, nor do
// other files. base is nil when the tracked branch is invalid: a folder
// is then deleted when a .cue file directly in it changed, as the loader
// reads only those.
func scopeOf(files []string, base, head *model.Repo) Scope {
	var s Scope
	for _, f := range files {
		if f == loader.PlatformFile {
			s.All = true
			continue
		}
		rest, ok := strings.CutPrefix(f, loader.TenantsDir+"/")
		name, file, inFolder := strings.Cut(rest, "/")
		if !ok || !inFolder {
			continue
		}
		switch {
		case head.Tenant(name) != nil:
			s.Tenants = append(s.Tenants, name)
		case base != nil && base.Tenant(name) != nil:
			s.Deleted = append(s.Deleted, name)
		case base == nil && loadedFile(name, file):
			s.Deleted = append(s.Deleted, name)
		}
	}
	if s.All {
		s.Tenants = s.Tenants[:0]
		for _, t := range head.Tenants {
			s.Tenants = append(s.Tenants, t.Name)
		}
	}
	slices.Sort(s.Tenants)
	slices.Sort(s.Deleted)
	s.Tenants = slices.Compact(s.Tenants)
	s.Deleted = slices.Compact(s.Deleted)
	return s
}

// loadedFile reports whether the loader reads file of folder
// tenants/<folder>/: a .cue file directly in it, neither hidden.
func loadedFile(folder, file string) bool {
	return !strings.HasPrefix(folder, ".") && !strings.Contains(file, "/") &&
		strings.HasSuffix(file, ".cue") && !strings.HasPrefix(file, ".")
}

// request plans the scope: its tenants, or every tenant (Complete) when a
// folder was deleted or platform.cue changed.
func request(repo *model.Repo, s Scope, head string) plan.Request {
	req := plan.Request{Revision: head, Platform: &repo.Platform}
	names := s.Tenants
	if s.All || len(s.Deleted) > 0 {
		req.Complete = true
		names = nil
		for _, t := range repo.Tenants {
			names = append(names, t.Name)
		}
	}
	for _, name := range names {
		t := repo.Tenant(name)
		req.Tenants = append(req.Tenants, plan.TenantRequest{Desired: render.TenantResources(&repo.Platform, t), Model: t})
	}
	return req
}

// keepTenants keeps the changes of the scope's tenants and counts the
// others. Target errors are kept: the plan is incomplete whoever they
// concern.
func keepTenants(p *plan.Plan, s Scope) (*plan.Plan, int) {
	out := &plan.Plan{Revision: p.Revision, Errors: p.Errors}
	n := 0
	for _, c := range p.Changes {
		if s.Has(c.Tenant) {
			out.Changes = append(out.Changes, c)
		} else {
			n++
		}
	}
	return out, n
}

// short is a commit hash cut to 12 digits, as messages show it.
func short(hash string) string {
	if len(hash) > 12 {
		return hash[:12]
	}
	return hash
}

// refuse reports a pull request whose fetch was refused (its history holds
// a file over the fetch's limit) with a failed status, once per head: it
// is not fetched again until its head moves.
func (l *Loop) refuse(ctx context.Context, pr forge.PullRequest, ps *pass, cause *source.ObjectTooLargeError) error {
	l.log.Warn("pull request not planned: its fetch was refused", "pr", pr.Number, "head", short(pr.HeadSHA), "error", cause.Error())
	st := forge.Status{Context: forge.ContextPlan, State: forge.Failure, TargetURL: pr.URL,
		Description: fmt.Sprintf("Not planned: a file in this branch's history is over k3sync's %s limit", mib(cause.Limit))}
	if err := l.setStatus(ctx, pr.HeadSHA, st); err != nil {
		return err
	}
	l.mu.Lock()
	l.prs[pr.Number] = prState{head: pr.HeadSHA, base: ps.base.hash, status: st, done: true}
	l.mu.Unlock()
	return nil
}

// mib writes a byte count in MiB, with a fraction when it has one.
func mib(n int64) string {
	return strconv.FormatFloat(float64(n)/(1<<20), 'f', -1, 64) + " MiB"
}
