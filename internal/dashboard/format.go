package dashboard

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"net/url"
	"strings"
	"time"

	"github.com/k3sync/k3sync/internal/plan"
	"github.com/k3sync/k3sync/internal/state"
	"github.com/k3sync/k3sync/internal/untrusted"
	"github.com/k3sync/k3sync/internal/version"
	"github.com/k3sync/k3sync/internal/view"
)

// planLine is one line of plan.WriteText's output with a class for its
// colour: the renderer redacts, the dashboard only colours.
type planLine struct {
	Class string
	Text  string
}

// actionClasses colour a change's headline by its symbol.
var actionClasses = map[string]string{"+": "create", "~": "update", "-": "delete", "!": "orphan", "x": "blocked"}

func planText(p *plan.Plan) ([]planLine, error) {
	var b strings.Builder
	if err := p.WriteText(&b, plan.TextOptions{}); err != nil {
		return nil, fmt.Errorf("plan %s: render text: %w", shortHash(p.Revision), err)
	}
	var out []planLine
	for _, line := range strings.Split(strings.TrimRight(b.String(), "\n"), "\n") {
		trimmed := strings.TrimLeft(line, " ")
		class := "pl-field"
		switch indent := len(line) - len(trimmed); {
		case trimmed == "":
			class = "pl-blank"
		case indent == 0 && strings.HasPrefix(line, "Tenant "):
			class = "pl-tenant"
		case indent == 0 && strings.HasPrefix(line, "error: "):
			class = "pl-error"
		case indent == 0:
			class = "pl-summary"
		case indent == 2:
			class = "pl-target"
		case indent == 4:
			sym, _, _ := strings.Cut(trimmed, " ")
			class = "pl-" + actionClasses[sym]
		case strings.HasPrefix(trimmed, "note: "):
			class = "pl-note"
		case strings.Contains(trimmed, "[drift"):
			class = "pl-field pl-drift"
		}
		out = append(out, planLine{Class: class, Text: line})
	}
	return out, nil
}

func planMarkdown(p *plan.Plan) (string, error) {
	var b strings.Builder
	if err := p.WriteMarkdown(&b); err != nil {
		return "", fmt.Errorf("plan %s: render markdown: %w", shortHash(p.Revision), err)
	}
	return b.String(), nil
}

func shortHash(h string) string {
	if len(h) > 7 {
		return h[:7]
	}
	return h
}

// ago is "just now", "42s ago", "5m ago", "3h ago", "2d ago"; app.js keeps
// the same words fresh between updates.
func ago(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t)
	if d < 5*time.Second {
		return "just now"
	}
	return span(d) + " ago"
}

// span is a duration as people read it: "42s", "5m", "3h 10m", "2d 4h".
func span(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 24*time.Hour:
		h, m := int(d.Hours()), int(d.Minutes())%60
		if m == 0 {
			return fmt.Sprintf("%dh", h)
		}
		return fmt.Sprintf("%dh %dm", h, m)
	}
	days, h := int(d.Hours())/24, int(d.Hours())%24
	if h == 0 {
		return fmt.Sprintf("%dd", days)
	}
	return fmt.Sprintf("%dd %dh", days, h)
}

var stateLabels = map[view.State]string{
	view.Failed: "failed", view.Drifted: "drifted", view.OutOfSync: "out of sync",
	view.Suspended: "suspended", view.Synced: "synced", view.Unknown: "unknown",
	view.Removed: "removed",
}

var systemLabels = map[plan.System]string{plan.Kubernetes: "Kubernetes", plan.Kafka: "Kafka", plan.Kong: "Kong"}

// resultStates shows a run's result with the badge of the matching state.
var resultStates = map[state.Result]view.State{
	state.ResultSynced: view.Synced, state.ResultFailed: view.Failed,
	state.ResultBlocked: view.OutOfSync, state.ResultInvalid: view.Failed,
}

// summaryText is a plan's counts, "1 to update, 2 to create (1 drifted)",
// or "no changes".
func summaryText(s plan.Summary) string {
	return counts(s, "to create", "to update", "to delete", "to orphan", "blocked", "to adopt")
}

// runSummary is what a run did, "2 updated (2 drifted)", or, when it
// applied nothing (blocked, invalid), what it would have done.
func runSummary(r state.Run) string {
	if r.Result == state.ResultBlocked || r.Result == state.ResultInvalid {
		return summaryText(r.Summary)
	}
	return counts(r.Summary, "created", "updated", "deleted", "orphaned", "blocked", "adopted")
}

func counts(s plan.Summary, create, update, del, orphan, blocked, adopt string) string {
	var parts []string
	for _, p := range []struct {
		n    int
		verb string
	}{{s.Create, create}, {s.Update, update}, {s.Delete, del}, {s.Orphan, orphan}, {s.Blocked, blocked}, {s.Adopt, adopt}} {
		if p.n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", p.n, p.verb))
		}
	}
	if len(parts) == 0 {
		return "no changes"
	}
	out := strings.Join(parts, ", ")
	if s.Drift > 0 {
		out += fmt.Sprintf(" (%d drifted)", s.Drift)
	}
	return out
}

func failedResults(rs []plan.Result) int {
	n := 0
	for _, r := range rs {
		if r.Error != "" {
			n++
		}
	}
	return n
}

// funcs are the templates' functions. Field values go through
// plan.FormatValue only, which redacts sensitive ones.
func (h *handler) funcs() template.FuncMap {
	return template.FuncMap{
		"asset": func(name string) string { return "/static/" + name + "?v=" + h.assets[name] },
		"short": shortHash,
		// visible shows a tenant string's control and format characters
		// (newlines, bidi overrides) as escapes, as the CLI does.
		"visible":     untrusted.Visible,
		"ago":         ago,
		"span":        func(now, t time.Time) string { return span(now.Sub(t)) },
		"iso":         func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"abs":         func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
		"stateLabel":  func(s view.State) string { return stateLabels[s] },
		"systemLabel": func(s plan.System) string { return systemLabels[s] },
		"resultState": func(r state.Result) view.State { return resultStates[r] },
		"value":       plan.FormatValue,
		"symbol": func(a plan.Action) string {
			return map[plan.Action]string{plan.Create: "+", plan.Update: "~", plan.Delete: "−", plan.Orphan: "!", plan.Blocked: "×", plan.Adopt: "@"}[a]
		},
		"summary":    summaryText,
		"runSummary": runSummary,
		"failed":     failedResults,
		"join":       strings.Join,
		"systems":    func() []plan.System { return plan.Systems },
		"states":     func() []view.State { return filterStates },
		"version":    version.String,
		"agoTag":     agoTag,
		"spanTag":    spanTag,
		"tenantURL":  tenantURL,
	}
}

// tenantURL is the path of a tenant's page, or of one of its actions
// ("sync", "suspend", "resume"). The name is path-escaped: html/template
// leaves "/", "?" and "#" of a value in a URL path alone, so a name like
// "../drift" or "x?y" would point the link or the form elsewhere.
func tenantURL(tenant string, action ...string) string {
	return strings.Join(append([]string{"/tenants/" + url.PathEscape(tenant)}, action...), "/")
}

// agoTag is a <time> app.js keeps fresh: "5m ago". Its text is a
// formatted time only, nothing from a request or the backend's strings.
func agoTag(now, t time.Time) template.HTML {
	if t.IsZero() {
		return `<span class="muted">never</span>`
	}
	return template.HTML(fmt.Sprintf(`<time datetime="%s" title="%s" data-ago>%s</time>`, //nolint:gosec // times only
		t.UTC().Format(time.RFC3339), t.UTC().Format("2006-01-02 15:04:05 UTC"), ago(now, t)))
}

// spanTag is a <time> for how long something has lasted: "3h 10m".
func spanTag(now, t time.Time) template.HTML {
	if t.IsZero() {
		return `<span class="muted">—</span>`
	}
	return template.HTML(fmt.Sprintf(`<time datetime="%s" title="since %s" data-span>%s</time>`, //nolint:gosec // times only
		t.UTC().Format(time.RFC3339), t.UTC().Format("2006-01-02 15:04:05 UTC"), span(now.Sub(t))))
}

// assetVersions hashes each static file, for URLs that change with it.
func assetVersions() (map[string]string, error) {
	out := map[string]string{}
	err := fs.WalkDir(staticFS, "static", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(staticFS, path)
		if err != nil {
			return err //nolint:wrapcheck // embedded
		}
		sum := sha256.Sum256(b)
		out[strings.TrimPrefix(path, "static/")] = hex.EncodeToString(sum[:6])
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("dashboard assets: %w", err)
	}
	return out, nil
}
