package plan

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/k3sync/k3sync/internal/untrusted"
)

// symbols prefix each action in text and Markdown.
var symbols = map[Action]string{Create: "+", Update: "~", Delete: "-", Orphan: "!", Blocked: "x", Adopt: "@"}

// ANSI colours per action.
var colours = map[Action]string{Create: "\x1b[32m", Update: "\x1b[33m", Delete: "\x1b[31m", Orphan: "\x1b[35m", Blocked: "\x1b[1;31m", Adopt: "\x1b[36m"}

const colourReset = "\x1b[0m"

// Redacted replaces sensitive values.
const Redacted = "(sensitive)"

// FormatValue renders a field value for humans: JSON, compact.
func FormatValue(f FieldChange, v any) string {
	if v == nil {
		return "(none)"
	}
	if f.Sensitive {
		return Redacted
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// Headline is "+ create Namespace payments", as every renderer shows a
// change. Its names are tenant-controlled: the renderers make it
// untrusted.Visible (text) or put it in a code block (Markdown).
func Headline(c Change) string {
	s := fmt.Sprintf("%s %s %s", symbols[c.Action], c.Action, c.Resource())
	if c.Drift {
		s += " (drift)"
	}
	return s
}

// fieldLine is "spec.hard.cpu: "8" → "4"" with drift and manager.
func fieldLine(f FieldChange) string {
	s := fmt.Sprintf("%s: %s → %s", f.Path, FormatValue(f, f.Before), FormatValue(f, f.After))
	switch {
	case f.Drift && f.Manager != "":
		s += fmt.Sprintf("  [drift, changed by %s]", f.Manager)
	case f.Drift:
		s += "  [drift]"
	}
	return s
}

// TextOptions tune the text renderer.
type TextOptions struct {
	// Colour adds ANSI colours, for terminals.
	Colour bool
}

// WriteText renders p for a terminal. Tenant-controlled strings are
// untrusted.Visible: no control character of theirs reaches the terminal,
// and each line of the plan stays one line.
func (p *Plan) WriteText(w io.Writer, opts TextOptions) error {
	var b strings.Builder
	tenant, target := "", ""
	for _, c := range p.Changes {
		if c.Tenant != tenant {
			if tenant != "" {
				b.WriteByte('\n')
			}
			tenant, target = c.Tenant, ""
			fmt.Fprintf(&b, "Tenant %s\n", untrusted.Visible(c.Tenant))
		}
		if t := string(c.System) + "/" + c.Target; t != target {
			target = t
			fmt.Fprintf(&b, "  %s\n", untrusted.Visible(t))
		}
		line := untrusted.Visible(Headline(c))
		if opts.Colour {
			line = colours[c.Action] + line + colourReset
		}
		fmt.Fprintf(&b, "    %s\n", line)
		for _, f := range c.Fields {
			fmt.Fprintf(&b, "        %s\n", untrusted.Visible(fieldLine(f)))
		}
		for _, n := range c.Notes {
			fmt.Fprintf(&b, "        note: %s\n", untrusted.Visible(n))
		}
	}
	for _, e := range p.Errors {
		fmt.Fprintf(&b, "error: %s\n", untrusted.Visible(e.String()))
	}
	if len(p.Changes) > 0 || len(p.Errors) > 0 {
		b.WriteByte('\n')
	}
	if !p.HasChanges() && !p.Blocked() && len(p.Errors) == 0 {
		b.WriteString("No changes: live state matches Git.\n")
	} else {
		fmt.Fprintf(&b, "Plan: %s.\n", p.Summary())
	}
	_, err := io.WriteString(w, b.String())
	return err //nolint:wrapcheck // the writer's error says it all
}

// String formats the error as tenant system/target: message.
func (e TargetError) String() string {
	s := fmt.Sprintf("%s/%s: %s", e.System, e.Target, e.Message)
	if e.Tenant != "" {
		s = e.Tenant + " " + s
	}
	return s
}

// WriteMarkdown renders p as GitHub-flavoured Markdown: a section per
// tenant, a diff block per system and target. Tenant-controlled strings
// are only ever in code spans and code blocks they cannot close
// (untrusted.Code, untrusted.CodeBlock), so no name, note or error
// changes the comment's structure, links, mentions or HTML.
func (p *Plan) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	if p.Revision != "" {
		fmt.Fprintf(&b, "**Plan** for %s: %s.\n", untrusted.Code(shortRev(p.Revision)), p.Summary())
	} else {
		fmt.Fprintf(&b, "**Plan**: %s.\n", p.Summary())
	}
	for _, e := range p.Errors {
		b.WriteString(MarkdownCaution(e))
	}
	for _, g := range Groups(p.Changes) {
		if g.NewTenant {
			b.WriteString(MarkdownTenantHeading(g.Tenant))
		}
		b.WriteString(MarkdownTarget(g.System, g.Target))
		var lines []string
		for _, c := range g.Changes {
			lines = append(lines, Headline(c))
			for _, f := range c.Fields {
				lines = append(lines, "    "+fieldLine(f))
			}
			for _, n := range c.Notes {
				lines = append(lines, "    note: "+n)
			}
		}
		b.WriteString(untrusted.CodeBlock("diff", lines))
	}
	if len(p.Changes) == 0 && len(p.Errors) == 0 {
		b.WriteString("\nNo changes: live state matches Git.\n")
	}
	_, err := io.WriteString(w, b.String())
	return err //nolint:wrapcheck // the writer's error says it all
}

// MarkdownCaution is a target error as a GitHub alert, the error in a
// code span.
func MarkdownCaution(e TargetError) string {
	return "\n> [!CAUTION]\n> " + untrusted.Code(e.String()) + "\n"
}

// MarkdownTenantHeading is the heading of a tenant's section.
func MarkdownTenantHeading(tenant string) string {
	return "\n### " + untrusted.Code(tenant) + "\n"
}

// MarkdownTarget is the line naming a system and target above its block.
func MarkdownTarget(system System, target string) string {
	return "\n**" + string(system) + " / " + untrusted.Code(target) + "**\n\n"
}

// Group is a run of changes of one tenant on one system and target, as
// the text and Markdown renderers group them.
type Group struct {
	// NewTenant: the first group of its tenant.
	NewTenant bool
	Tenant    string
	System    System
	Target    string
	Changes   []Change
}

// Groups splits sorted changes into their groups.
func Groups(changes []Change) []Group {
	var out []Group
	for i, c := range changes {
		if i > 0 {
			prev := changes[i-1]
			if prev.Tenant == c.Tenant && prev.System == c.System && prev.Target == c.Target {
				g := &out[len(out)-1]
				g.Changes = append(g.Changes, c)
				continue
			}
		}
		out = append(out, Group{NewTenant: i == 0 || changes[i-1].Tenant != c.Tenant, Tenant: c.Tenant, System: c.System, Target: c.Target, Changes: []Change{c}})
	}
	return out
}

func shortRev(rev string) string {
	if len(rev) > 12 {
		return rev[:12]
	}
	return rev
}

// jsonPlan is the JSON form: the plan with its summary.
type jsonPlan struct {
	Revision string        `json:"revision,omitempty"`
	Changes  []jsonChange  `json:"changes"`
	Summary  Summary       `json:"summary"`
	Errors   []TargetError `json:"errors,omitempty"`
}

type jsonChange struct {
	Change
	Fields []FieldChange `json:"fields,omitempty"`
}

// WriteJSON renders p as JSON with a summary; sensitive values redacted.
func (p *Plan) WriteJSON(w io.Writer) error {
	out := jsonPlan{Revision: p.Revision, Changes: make([]jsonChange, len(p.Changes)), Summary: p.Summary(), Errors: p.Errors}
	for i, c := range p.Changes {
		fields := make([]FieldChange, len(c.Fields))
		for j, f := range c.Fields {
			if f.Sensitive {
				if f.Before != nil {
					f.Before = Redacted
				}
				if f.After != nil {
					f.After = Redacted
				}
			}
			fields[j] = f
		}
		out.Changes[i] = jsonChange{Change: c, Fields: fields}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out) //nolint:wrapcheck // the writer's error says it all
}
