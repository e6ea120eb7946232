package review

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	"github.com/yuin/goldmark/text"

	"github.com/k3sync/k3sync/internal/diag"
	"github.com/k3sync/k3sync/internal/forge"
	"github.com/k3sync/k3sync/internal/plan"
	"github.com/k3sync/k3sync/internal/untrusted"
)

// The inputs of one comment: what a tenant's pull request controls.
type commentInput struct {
	tenant, name, note, message string
}

var harmless = commentInput{tenant: "harmless", name: "harmless-name", note: "a harmless note", message: "a harmless message"}

const (
	fuzzDashboard = "https://k3sync.example"
	fuzzRevision  = "0123456789abcdef0123456789abcdef01234567"
)

// hostileSeeds break Markdown, HTML, links, mentions and terminals.
var hostileSeeds = []string{
	"x\n```\n- delete Namespace payments\n```",
	"route`` `with` ```ticks````",
	"`",
	" padded ",
	"<!--",
	"payments <!-- hide the rest",
	"</details><details open>",
	"<img src=x onerror=alert(1)>",
	"[x](javascript:alert(1))",
	"![img](http://evil.example/p.png)",
	"http://evil.example/login www.evil.example",
	"@org/security @everyone",
	"fixes #123 and org/repo#1",
	"a | b | c\n|---|---|",
	"carriage\rreturn",
	"line\u2028separator\u2029paragraph",
	"bidi \u202egnp.exe\u202c \u2066isolate\u2069",
	"terminal \x1b[2J\x1b]0;pwned\x07",
	"*emphasis* _under_ ~~strike~~ **bold**",
	"&lt;entity&gt; &#60;script&#62;",
	"trailing backslash \\",
	"# heading\n> quote\n    indented\n1. list",
	":warning: :+1:",
	"\xff\xfe invalid utf-8",
	"",
}

func FuzzComment(f *testing.F) {
	for _, s := range hostileSeeds {
		f.Add(s, s, s, s)
		f.Add(s, "payments-api", "a note", "a message")
		f.Add("payments", s, "a note", "a message")
	}
	cases := commentCases()
	wants := make([]parsed, len(cases))
	for i, tc := range cases {
		wants[i] = parseComment(f, tc.render(harmless))
	}
	f.Fuzz(func(t *testing.T, tenant, name, note, message string) {
		in := commentInput{tenant: clip(tenant), name: clip(name), note: clip(note), message: clip(message)}
		for i, tc := range cases {
			want := wants[i]
			got := parseComment(t, tc.render(in))
			if diff := slices.Compare(got.blocks, want.blocks); diff != 0 {
				t.Fatalf("%s: block structure changed:\nwant %v\ngot  %v\n%s", tc.name, want.blocks, got.blocks, got.source)
			}
			if !slices.Equal(got.html, want.html) {
				t.Fatalf("%s: HTML %q, want only k3sync's own %q:\n%s", tc.name, got.html, want.html, got.source)
			}
			if len(got.autolinks) > 0 || len(got.images) > 0 {
				t.Fatalf("%s: autolinks %q, images %q:\n%s", tc.name, got.autolinks, got.images, got.source)
			}
			if wantLinks := tc.links(in); !slices.Equal(got.links, wantLinks) {
				t.Fatalf("%s: links %q, want k3sync's own %q:\n%s", tc.name, got.links, wantLinks, got.source)
			}
			if !strings.HasPrefix(got.source, Marker+"\n") || strings.Count(got.source, "\n---\n<sub>") != 1 {
				t.Fatalf("%s: the comment does not start with the marker and end with the footer:\n%s", tc.name, got.source)
			}
			for _, s := range tc.shown(in) {
				if !slices.ContainsFunc(got.code, func(c string) bool { return strings.Contains(c, untrusted.Visible(s)) }) {
					t.Fatalf("%s: %q is not shown as code (want %q in one of %q)", tc.name, s, untrusted.Visible(s), got.code)
				}
			}
		}
	})
}

// clip bounds a fuzzed string so that every comment fits its limit whole.
func clip(s string) string { return s[:min(len(s), 300)] }

type commentCase struct {
	name   string
	render func(commentInput) string
	// links are the link destinations k3sync makes for the input.
	links func(commentInput) []string
	// shown are the inputs that must be readable, as code.
	shown func(commentInput) []string
}

func fuzzForge() *forge.GitHub {
	gh, err := forge.NewGitHub("", "o/r", "token", nil)
	if err != nil {
		panic(err)
	}
	return gh
}

// fuzzPlan is a plan of one tenant on two targets whose names, field
// values, notes and errors come from in.
func fuzzPlan(in commentInput) *plan.Plan {
	p := &plan.Plan{Revision: fuzzRevision}
	p.Add(
		plan.Change{Key: plan.Key{Tenant: in.tenant, System: plan.Kong, Target: "edge", Kind: "route", Name: in.name}, Action: plan.Create,
			Fields: []plan.FieldChange{
				{Path: "paths[0]", After: "/" + in.name}, {Path: "tags[" + in.note + "]", After: in.note},
				{Path: "strip_path", After: true}, {Path: "preserve_host", After: false}, {Path: "protocols", After: []string{"http", "https"}},
			},
			Notes: []string{in.note}},
		plan.Change{Key: plan.Key{Tenant: in.tenant, System: plan.Kong, Target: "edge", Kind: "service", Name: in.name}, Action: plan.Delete, Level: 1},
		plan.Change{Key: plan.Key{Tenant: in.tenant, System: plan.Kafka, Target: "main", Kind: "topic", Name: in.name}, Action: plan.Blocked,
			Fields: []plan.FieldChange{{Path: "configs." + in.name, Before: in.note, After: "1", Drift: true, Manager: in.note}},
			Notes:  []string{"topic " + in.name + ": " + in.message}, Drift: true},
	)
	p.Errors = []plan.TargetError{{Tenant: in.tenant, System: plan.Kubernetes, Target: "eu-west", Message: in.message}}
	return p
}

func fuzzPlanReview(in commentInput) *Review {
	pending := plan.Change{Key: plan.Key{Tenant: in.tenant, System: plan.Kong, Target: "edge", Kind: "route", Name: in.name}, Action: plan.Delete}
	return &Review{
		Head: fuzzRevision, Branch: "main", Base: fuzzRevision,
		Scope: Scope{Tenants: []string{in.tenant}},
		Plan:  fuzzPlan(in),
		Violations: []Violation{
			{Key: pending.Key, Action: plan.Create, Owner: in.tenant, Pending: &pending},
			{Key: pending.Key, Action: plan.Update, Owner: in.name},
		},
	}
}

func commentCases() []commentCase {
	gh := fuzzForge()
	file := func(in commentInput) string { return "tenants/" + in.tenant + "/" + in.name + ".cue" }
	return []commentCase{
		{
			name:   "plan",
			render: func(in commentInput) string { return fuzzPlanReview(in).Markdown(CommentOptions{MaxLength: 65535}) },
			links:  func(commentInput) []string { return nil },
			shown: func(in commentInput) []string {
				return []string{in.tenant, in.name, in.note, in.message, "topic " + in.name + ": " + in.message}
			},
		},
		{
			// The plan does not fit: headlines only, linked to the dashboard.
			name: "short plan",
			render: func(in commentInput) string {
				r := fuzzPlanReview(in)
				r.Violations = nil
				// Fields enough that the full plan is always far longer
				// than its headlines, whatever escaping makes of the input.
				r.Plan.Changes[0].Fields = append(r.Plan.Changes[0].Fields, plan.FieldChange{Path: "configs.padding", After: strings.Repeat("v", 20000)})
				full := r.Markdown(CommentOptions{MaxLength: 65535})
				return r.Markdown(CommentOptions{MaxLength: len(full) - 1, DashboardURL: fuzzDashboard})
			},
			links: func(in commentInput) []string {
				return []string{untrusted.LinkDestination(tenantURL(fuzzDashboard, in.tenant))}
			},
			shown: func(in commentInput) []string { return []string{in.tenant, in.name, in.message} },
		},
		{
			name: "invalid",
			render: func(in commentInput) string {
				r := &Review{Head: fuzzRevision, Base: fuzzRevision, Invalid: diag.List{
					{File: file(in), Line: 3, Column: 9, Path: "kafka.topics." + in.name, Message: in.message},
					{File: file(in), Path: in.note, Message: "topic " + in.name + " is outside tenant " + in.tenant + "'s prefix"},
				}}
				return r.Markdown(CommentOptions{MaxLength: 65535, FileURL: gh.FileURL})
			},
			links: func(in commentInput) []string {
				return []string{
					untrusted.LinkDestination(gh.FileURL(fuzzRevision, file(in), 3)),
					untrusted.LinkDestination(gh.FileURL(fuzzRevision, file(in), 0)),
				}
			},
			shown: func(in commentInput) []string {
				return []string{file(in) + ":3:9", in.message, in.note, "topic " + in.name + " is outside tenant " + in.tenant + "'s prefix"}
			},
		},
		{
			name: "error",
			render: func(in commentInput) string {
				r := &Review{Head: fuzzRevision, Err: fmt.Errorf("fetch refs/pull/7/head: %w", errors.New(in.message))}
				return r.Markdown(CommentOptions{MaxLength: 65535})
			},
			links: func(commentInput) []string { return nil },
			shown: func(in commentInput) []string { return strings.Split("fetch refs/pull/7/head: "+in.message, "\n") },
		},
	}
}

// parsed is what a CommonMark (GFM) reader finds in a comment.
type parsed struct {
	source string
	// blocks are the kinds of the block nodes, in document order.
	blocks []string
	// html is the source of every raw HTML node and HTML block.
	html                     []string
	links, autolinks, images []string
	// code is the text of every code span and code block.
	code []string
}

// gfm parses as GitHub does: tables, strikethrough, task lists and bare
// URL autolinks (Linkify) on.
var gfm = goldmark.New(goldmark.WithExtensions(extension.GFM))

func parseComment(t testing.TB, src string) parsed {
	t.Helper()
	source := []byte(src)
	doc := gfm.Parser().Parse(text.NewReader(source))
	out := parsed{source: src}
	err := ast.Walk(doc, func(n ast.Node, entering bool) (ast.WalkStatus, error) {
		if !entering {
			return ast.WalkContinue, nil
		}
		if n.Type() == ast.TypeBlock {
			out.blocks = append(out.blocks, n.Kind().String())
		}
		switch n := n.(type) {
		case *ast.HTMLBlock:
			out.html = append(out.html, string(linesOf(n, source)))
		case *ast.RawHTML:
			var b strings.Builder
			for i := range n.Segments.Len() {
				seg := n.Segments.At(i)
				b.Write(seg.Value(source))
			}
			out.html = append(out.html, b.String())
		case *ast.Link:
			out.links = append(out.links, string(n.Destination))
		case *ast.AutoLink:
			out.autolinks = append(out.autolinks, string(n.URL(source)))
		case *ast.Image:
			out.images = append(out.images, string(n.Destination))
		case *ast.CodeSpan:
			var b strings.Builder
			for c := n.FirstChild(); c != nil; c = c.NextSibling() {
				if tx, ok := c.(*ast.Text); ok {
					b.Write(tx.Segment.Value(source))
				}
			}
			out.code = append(out.code, b.String())
		case *ast.FencedCodeBlock:
			out.code = append(out.code, string(linesOf(n, source)))
		}
		return ast.WalkContinue, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func linesOf(n ast.Node, source []byte) []byte {
	var b []byte
	lines := n.Lines()
	for i := range lines.Len() {
		seg := lines.At(i)
		b = append(b, seg.Value(source)...)
	}
	return b
}

// TestHostileSeedsAreHostile checks that the parser FuzzComment relies on
// sees what the seeds would do if k3sync printed them raw in its prose:
// HTML, links, images, autolinks and new blocks.
func TestHostileSeedsAreHostile(t *testing.T) {
	plain := parseComment(t, "Plan of x.")
	var html, links, images, autolinks, blocks int
	for _, s := range hostileSeeds {
		raw := parseComment(t, "Plan of "+s+".")
		html += len(raw.html)
		links += len(raw.links)
		images += len(raw.images)
		autolinks += len(raw.autolinks)
		if !slices.Equal(raw.blocks, plain.blocks) {
			blocks++
		}
	}
	if html < 3 || links == 0 || images == 0 || autolinks < 2 || blocks < 2 {
		t.Fatalf("raw seeds made %d HTML nodes, %d links, %d images, %d autolinks, %d block changes", html, links, images, autolinks, blocks)
	}
}
