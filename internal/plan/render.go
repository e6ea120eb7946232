package plan

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// symbols prefix each action in text and Markdown.
var symbols = map[Action]string{Create: "+", Update: "~", Delete: "-", Orphan: "!", Blocked: "x"}

// ANSI colours per action.
var colours = map[Action]string{Create: "\x1b[32m", Update: "\x1b[33m", Delete: "\x1b[31m", Orphan: "\x1b[35m", Blocked: "\x1b[1;31m"}

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

// headline is "+ create Namespace payments".
func headline(c Change) string {
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

// WriteText renders p for a terminal.
func (p *Plan) WriteText(w io.Writer, opts TextOptions) error {
	var b strings.Builder
	tenant, target := "", ""
	for _, c := range p.Changes {
		if c.Tenant != tenant {
			if tenant != "" {
				b.WriteByte('\n')
			}
			tenant, target = c.Tenant, ""
			fmt.Fprintf(&b, "Tenant %s\n", c.Tenant)
		}
		if t := string(c.System) + "/" + c.Target; t != target {
			target = t
			fmt.Fprintf(&b, "  %s\n", t)
		}
		line := headline(c)
		if opts.Colour {
			line = colours[c.Action] + line + colourReset
		}
		fmt.Fprintf(&b, "    %s\n", line)
		for _, f := range c.Fields {
			fmt.Fprintf(&b, "        %s\n", fieldLine(f))
		}
		for _, n := range c.Notes {
			fmt.Fprintf(&b, "        note: %s\n", n)
		}
	}
	for _, e := range p.Errors {
		fmt.Fprintf(&b, "error: %s\n", e.String())
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
// tenant, a diff block per system and target.
func (p *Plan) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	if p.Revision != "" {
		fmt.Fprintf(&b, "**Plan** for `%s`: %s.\n", shortRev(p.Revision), p.Summary())
	} else {
		fmt.Fprintf(&b, "**Plan**: %s.\n", p.Summary())
	}
	for _, e := range p.Errors {
		fmt.Fprintf(&b, "\n> [!CAUTION]\n> %s\n", e.String())
	}
	tenant, target := "", ""
	closeBlock := func() {
		if target != "" {
			b.WriteString("```\n")
		}
	}
	for _, c := range p.Changes {
		if c.Tenant != tenant {
			closeBlock()
			tenant, target = c.Tenant, ""
			fmt.Fprintf(&b, "\n### %s\n", c.Tenant)
		}
		if t := string(c.System) + " / " + c.Target; t != target {
			closeBlock()
			target = t
			fmt.Fprintf(&b, "\n**%s**\n\n```diff\n", t)
		}
		fmt.Fprintf(&b, "%s\n", headline(c))
		for _, f := range c.Fields {
			fmt.Fprintf(&b, "    %s\n", fieldLine(f))
		}
		for _, n := range c.Notes {
			fmt.Fprintf(&b, "    note: %s\n", n)
		}
	}
	closeBlock()
	if len(p.Changes) == 0 && len(p.Errors) == 0 {
		b.WriteString("\nNo changes: live state matches Git.\n")
	}
	_, err := io.WriteString(w, b.String())
	return err //nolint:wrapcheck // the writer's error says it all
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
