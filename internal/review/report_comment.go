package review

import (
	"fmt"
	"sort"
	"strings"

	"github.com/k3sync/k3sync/internal/diag"
	"github.com/k3sync/k3sync/internal/forge"
	"github.com/k3sync/k3sync/internal/plan"
	"github.com/k3sync/k3sync/internal/untrusted"
)

// CommentOptions tune the comment.
type CommentOptions struct {
	// MaxLength bounds the body in bytes (the forge's limit).
	MaxLength int
	// FileURL links a line of a file at a commit; nil for no links.
	FileURL func(sha, path string, line int) string
	// DashboardURL is the dashboard's root; "" for no links.
	DashboardURL string
}

// commentOptions fit the comment to the loop's forge and dashboard.
func (l *Loop) commentOptions() CommentOptions {
	return CommentOptions{
		MaxLength:    l.forge.MaxCommentLength(),
		FileURL:      l.forge.FileURL,
		DashboardURL: l.opts.DashboardURL,
	}
}

const footer = "\n---\n<sub>k3sync edits this comment whenever the pull request's head changes.</sub>\n"

// Markdown renders the review as the pull request comment, starting with
// Marker and at most opts.MaxLength bytes long whatever the review holds
// (a MaxLength shorter than the marker line gets the marker line alone).
// Every string that comes from the pull request (names, paths, messages,
// errors) is in a code span or code block it cannot close (package
// untrusted): the only HTML in the comment is k3sync's own marker and
// footer, the only links k3sync's.
func (r *Review) Markdown(opts CommentOptions) string {
	if opts.MaxLength <= 0 {
		opts.MaxLength = forge.GitHubMaxComment
	}
	var head strings.Builder
	head.WriteString(Marker + "\n")
	var body func(budget int) string
	switch {
	case r.Err != nil:
		fmt.Fprintf(&head, "## ⚠️ k3sync could not plan %s\n\n", untrusted.Code(short(r.Head)))
		body = func(int) string {
			return untrusted.CodeBlock("", strings.Split(r.Err.Error(), "\n")) + "\nk3sync tries again at its next pass.\n"
		}
	case len(r.Invalid) > 0:
		fmt.Fprintf(&head, "## ❌ k3sync: %s does not validate\n\n", untrusted.Code(short(r.Head)))
		fmt.Fprintf(&head, "%s; nothing was planned. Fix them and push again.\n\n", count(len(r.Invalid), "error"))
		var link func(string, int) string
		if opts.FileURL != nil {
			link = func(file string, line int) string { return opts.FileURL(r.fileCommit(file), file, line) }
		}
		body = func(budget int) string { return errorList(r.Invalid, link, budget) }
	case r.Plan == nil:
		fmt.Fprintf(&head, "## ✅ k3sync: no tenant changes\n\n")
		head.WriteString(r.context())
		body = func(int) string {
			return "\nThis pull request changes neither a tenant folder nor platform.cue: there is nothing to plan.\n"
		}
	default:
		title := "no changes"
		if n := r.Plan.Summary().Total(); n > 0 {
			title = count(n, "change")
		}
		fmt.Fprintf(&head, "## %s k3sync plan: %s\n\n", r.icon(), title)
		head.WriteString(r.context())
		head.WriteString(r.violations(opts.MaxLength / 4))
		body = func(budget int) string { return r.planBody(opts.DashboardURL, budget) }
	}
	budget := opts.MaxLength - head.Len() - len(footer)
	if budget < 0 {
		return r.tooLong(opts)
	}
	out := head.String() + body(budget) + footer
	if len(out) > opts.MaxLength {
		// A body that cannot shrink to its budget (an error message, a
		// plan's target errors).
		return r.tooLong(opts)
	}
	return out
}

// tooLong is the comment when even the shortest report of the review is
// over opts.MaxLength bytes: the commit status's description, which the
// forge bounds, in a code span. When even that is too long, the heading
// alone, then the marker alone.
func (r *Review) tooLong(opts CommentOptions) string {
	const title = "## k3sync: this report does not fit in a comment\n"
	st := r.Status(opts.DashboardURL)
	var more strings.Builder
	fmt.Fprintf(&more, "\nThe commit status sums it up: %s\n", untrusted.Code(st.Description))
	if opts.DashboardURL != "" {
		fmt.Fprintf(&more, "\n[The plan on the dashboard](%s)\n", untrusted.LinkDestination(st.TargetURL))
	}
	for _, s := range []string{
		Marker + "\n" + title + more.String() + footer,
		Marker + "\n" + title + footer,
		Marker + "\n" + title,
	} {
		if len(s) <= opts.MaxLength {
			return s
		}
	}
	return Marker + "\n"
}

// icon sums up the plan's outcome.
func (r *Review) icon() string {
	switch {
	case len(r.Plan.Errors) > 0:
		return "⚠️"
	case len(r.Violations) > 0 || r.Plan.Blocked():
		return "❌"
	}
	return "✅"
}

// context says what was planned against what.
func (r *Review) context() string {
	var b strings.Builder
	fmt.Fprintf(&b, "#%d at %s", r.PR.Number, untrusted.Code(short(r.Head)))
	if r.Base != "" {
		fmt.Fprintf(&b, " merged onto %s at %s", untrusted.Code(r.Branch), untrusted.Code(short(r.Base)))
	}
	b.WriteString(", planned against live state")
	if r.Since != "" && r.Since != r.Base {
		fmt.Fprintf(&b, " (the pull request's changes since the merge base %s)", untrusted.Code(short(r.Since)))
	}
	b.WriteString(".\n")
	switch {
	case r.Scope.All:
		b.WriteString("platform.cue changed: every tenant is planned.\n")
	case !r.Scope.Empty():
		fmt.Fprintf(&b, "Tenants changed: %s", codeList(r.Scope.Tenants))
		if len(r.Scope.Deleted) > 0 {
			if len(r.Scope.Tenants) > 0 {
				b.WriteString("; ")
			}
			fmt.Fprintf(&b, "removed: %s", codeList(r.Scope.Deleted))
		}
		b.WriteString(".\n")
	}
	return b.String()
}

// violations is the ownership section, at most budget bytes.
func (r *Review) violations(budget int) string {
	if len(r.Violations) == 0 {
		return ""
	}
	render := func(k int) string {
		var b strings.Builder
		fmt.Fprintf(&b, "\n> [!CAUTION]\n> **Ownership:** this pull request changes %s only, but its plan changes resources of other tenants (%s). A tenant's resources change only through its own folder, which its owners review.\n>\n", codeList(r.Scope.Folders()), count(len(r.Violations), "change"))
		for _, v := range r.Violations[:k] {
			if v.Pending != nil {
				fmt.Fprintf(&b, "> - %s %s (planned for tenant %s): tenant %s still holds it live, with a change to it pending on %s: %s\n",
					untrusted.Code(v.Key.String()), v.Action, untrusted.Code(v.Key.Tenant), untrusted.Code(v.Owner), untrusted.Code(r.Branch), untrusted.Code(plan.Headline(*v.Pending)))
			} else {
				fmt.Fprintf(&b, "> - %s %s: a resource of tenant %s, whose folder this pull request does not change\n", untrusted.Code(v.Key.String()), v.Action, untrusted.Code(v.Owner))
			}
		}
		if k < len(r.Violations) {
			fmt.Fprintf(&b, "> - … and %d more\n", len(r.Violations)-k)
		}
		return b.String()
	}
	return fit(len(r.Violations), budget, render)
}

// planBody is the plan in full when it fits in budget, else in short.
func (r *Review) planBody(dashboardURL string, budget int) string {
	var tail strings.Builder
	if n := r.Plan.Summary().Blocked; n > 0 {
		fmt.Fprintf(&tail, "\n%s blocked: k3sync will not make %s as it stands; the notes say why and how to proceed.\n", count(n, "change"), pronoun(n))
	}
	if n := r.Plan.Summary().Drift; n > 0 {
		fmt.Fprintf(&tail, "\n%s marked (drift) undo edits made outside Git, not this pull request.\n", count(n, "change"))
	}
	if r.Unrelated > 0 {
		fmt.Fprintf(&tail, "\n%s of tenants this pull request does not change (drift, suspended tenants) are left out.\n", count(r.Unrelated, "pending change"))
	}
	budget -= tail.Len()
	var full strings.Builder
	full.WriteByte('\n')
	if err := r.Plan.WriteMarkdown(&full); err == nil && full.Len() <= budget {
		return full.String() + tail.String()
	}
	return shortPlan(r.Plan, dashboardURL, budget) + tail.String()
}

// pronoun is "it" for one, "them" for more.
func pronoun(n int) string {
	if n == 1 {
		return "it"
	}
	return "them"
}

// shortPlan lists every change by its headline, grouped as
// plan.WriteMarkdown groups them, with links to the tenants' pages; when
// even that exceeds budget, the last changes are counted instead.
func shortPlan(p *plan.Plan, dashboardURL string, budget int) string {
	render := func(k int) string {
		var b strings.Builder
		fmt.Fprintf(&b, "\n**Plan** for %s: %s.\n", untrusted.Code(short(p.Revision)), p.Summary())
		for _, e := range p.Errors {
			b.WriteString(plan.MarkdownCaution(e))
		}
		b.WriteString("\n> [!NOTE]\n> The full plan does not fit in a comment: each change is shown by its headline only.")
		if dashboardURL != "" {
			b.WriteString(" The fields and notes are on each tenant's dashboard page.")
		}
		b.WriteString("\n")
		for _, g := range plan.Groups(p.Changes[:k]) {
			if g.NewTenant {
				b.WriteString(plan.MarkdownTenantHeading(g.Tenant))
				if dashboardURL != "" {
					fmt.Fprintf(&b, "\n[Full plan of %s](%s)\n", untrusted.Code(g.Tenant), untrusted.LinkDestination(tenantURL(dashboardURL, g.Tenant)))
				}
			}
			b.WriteString(plan.MarkdownTarget(g.System, g.Target))
			lines := make([]string, len(g.Changes))
			for i, c := range g.Changes {
				lines[i] = plan.Headline(c)
			}
			b.WriteString(untrusted.CodeBlock("diff", lines))
		}
		if k < len(p.Changes) {
			fmt.Fprintf(&b, "\n… and %d more changes, not listed: see the dashboard.\n", len(p.Changes)-k)
		}
		return b.String()
	}
	return fit(len(p.Changes), budget, render)
}

// errorList lists validation errors, each linked to its line.
func errorList(errs diag.List, fileURL func(string, int) string, budget int) string {
	render := func(k int) string {
		var b strings.Builder
		for _, e := range errs[:k] {
			b.WriteString("- ")
			where := e.File
			if e.Line > 0 {
				where = fmt.Sprintf("%s:%d:%d", e.File, e.Line, e.Column)
			}
			switch {
			case e.File != "" && fileURL != nil:
				fmt.Fprintf(&b, "[%s](%s): ", untrusted.Code(where), untrusted.LinkDestination(fileURL(e.File, e.Line)))
			case e.File != "":
				fmt.Fprintf(&b, "%s: ", untrusted.Code(where))
			}
			if e.Path != "" {
				fmt.Fprintf(&b, "%s: ", untrusted.Code(e.Path))
			}
			b.WriteString(untrusted.Code(e.Message) + "\n")
		}
		if k < len(errs) {
			fmt.Fprintf(&b, "- … and %d more errors: run `k3sync validate` for all of them\n", len(errs)-k)
		}
		return b.String()
	}
	return fit(len(errs), budget, render)
}

// fit renders all n items when that fits in budget, else as many as fit.
// render(k) must grow with k.
func fit(n, budget int, render func(k int) string) string {
	if s := render(n); len(s) <= budget {
		return s
	}
	k := sort.Search(n+1, func(k int) bool { return len(render(k)) > budget }) - 1
	return render(max(k, 0))
}

// maxListed is how many names a list of names in the comment shows.
const maxListed = 10

// codeList is "`a`, `b`", the first maxListed items then "and 5 more".
func codeList(items []string) string {
	shown := items[:min(len(items), maxListed)]
	out := make([]string, len(shown))
	for i, s := range shown {
		out[i] = untrusted.Code(s)
	}
	list := strings.Join(out, ", ")
	if n := len(items) - len(shown); n > 0 {
		list += fmt.Sprintf(" and %d more", n)
	}
	return list
}
