package plan

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite golden files")

func samplePlan() *Plan {
	p := &Plan{Revision: "0123456789abcdef0123456789abcdef01234567"}
	p.Add(
		Change{Key: Key{Tenant: "payments", System: Kafka, Target: "main", Kind: "topic", Name: "payments.ledger"}, Action: Update,
			Fields: []FieldChange{
				{Path: "configs.retention.ms", Before: "86400000", After: "604800000", Drift: true},
				{Path: "configs.segment.ms", Before: "3600000", After: "604800000", Drift: false},
			}, Drift: true},
		Change{Key: Key{Tenant: "payments", System: Kubernetes, Target: "eu-west", Kind: "RoleBinding", Namespace: "payments", Name: "k3sync:view:auditors"}, Action: Delete, Level: 4},
		Change{Key: Key{Tenant: "payments", System: Kubernetes, Target: "eu-west", Kind: "Namespace", Name: "payments-batch"}, Action: Create, Level: 0},
		Change{Key: Key{Tenant: "payments", System: Kubernetes, Target: "eu-west", Kind: "ResourceQuota", Namespace: "payments", Name: "tenant-quota"}, Action: Update, Level: 2,
			Fields: []FieldChange{{Path: "spec.hard.requests.cpu", Before: "4", After: "8", Drift: true, Manager: "kubectl-edit"}}, Drift: true},
		Change{Key: Key{Tenant: "payments", System: Kubernetes, Target: "eu-west", Kind: "Namespace", Name: "payments-old"}, Action: Orphan,
			Notes: []string{"namespace deletion is not allowed: the namespace and everything in it are kept; k3sync stops managing it"}},
		Change{Key: Key{Tenant: "checkout", System: Kafka, Target: "main", Kind: "topic", Name: "checkout.orders"}, Action: Blocked,
			Fields: []FieldChange{{Path: "partitions", Before: 24, After: 12}},
			Notes:  []string{"partition decrease is impossible in Kafka: create a new topic and migrate"}},
		Change{Key: Key{Tenant: "checkout", System: Kafka, Target: "main", Kind: "user", Name: "checkout.service"}, Action: Update,
			Fields: []FieldChange{{Path: "password", Before: "old-secret-value", After: "new-secret-value", Sensitive: true}}},
	)
	p.Errors = []TargetError{{Tenant: "search", System: Kong, Target: "edge", Message: "list services: connection refused"}}
	return p
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s (-want +got):\n%s", path, diff)
	}
}

func TestRenderers(t *testing.T) {
	for _, tc := range []struct {
		name  string
		write func(*Plan, *bytes.Buffer) error
	}{
		{"plan.txt", func(p *Plan, b *bytes.Buffer) error { return p.WriteText(b, TextOptions{}) }},
		{"plan-colour.txt", func(p *Plan, b *bytes.Buffer) error { return p.WriteText(b, TextOptions{Colour: true}) }},
		{"plan.md", func(p *Plan, b *bytes.Buffer) error { return p.WriteMarkdown(b) }},
		{"plan.json", func(p *Plan, b *bytes.Buffer) error { return p.WriteJSON(b) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := tc.write(samplePlan(), &b); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(b.String(), "secret-value") {
				t.Fatalf("a sensitive value was rendered:\n%s", b.String())
			}
			golden(t, tc.name, b.Bytes())
		})
	}
}

// hostilePlan carries names, values, notes and errors a hostile tenant
// could write: fences, HTML comments, links, terminal escapes, bidi
// overrides and line separators.
func hostilePlan() *Plan {
	p := &Plan{Revision: "0123456789abcdef0123456789abcdef01234567"}
	p.Add(
		Change{Key: Key{Tenant: "evil\n```\n<!--", System: Kong, Target: "edge", Kind: "route", Name: "evil-r\n```\n- delete Namespace payments\n````"}, Action: Create,
			Fields: []FieldChange{{Path: "paths[0]", After: "/evil\u2028</details>"}},
			Notes:  []string{"[x](javascript:alert(1)) ![img](http://evil.example/p.png) @org/security #123 a|b"}},
		Change{Key: Key{Tenant: "evil\n```\n<!--", System: Kafka, Target: "main", Kind: "topic", Name: "evil.x\x1b[2J\r\u202egnp.exe"}, Action: Update,
			Fields: []FieldChange{{Path: "configs.\x1b]0;pwned\x07", Before: "1", After: "2", Drift: true, Manager: "kubectl\x1b[31m"}}},
	)
	p.Errors = []TargetError{{Tenant: "evil", System: Kong, Target: "edge", Message: "route \"`x`\"\n## injected heading"}}
	return p
}

func TestRenderHostileNames(t *testing.T) {
	for _, tc := range []struct {
		name  string
		write func(*Plan, *bytes.Buffer) error
	}{
		{"hostile.txt", func(p *Plan, b *bytes.Buffer) error { return p.WriteText(b, TextOptions{}) }},
		{"hostile-colour.txt", func(p *Plan, b *bytes.Buffer) error { return p.WriteText(b, TextOptions{Colour: true}) }},
		{"hostile.md", func(p *Plan, b *bytes.Buffer) error { return p.WriteMarkdown(b) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := tc.write(hostilePlan(), &b); err != nil {
				t.Fatal(err)
			}
			out := b.String()
			// Only the renderer's own colours may carry ESC; no tenant
			// string brings a CR, a bidi override or a line separator.
			for _, c := range colours {
				out = strings.ReplaceAll(out, c, "")
			}
			out = strings.ReplaceAll(out, colourReset, "")
			if i := strings.IndexAny(out, "\x1b\r\x07\u202e\u2028"); i >= 0 {
				t.Errorf("raw control character at byte %d:\n%q", i, out)
			}
			golden(t, tc.name, b.Bytes())
		})
	}
}

func TestEmptyPlan(t *testing.T) {
	p := &Plan{}
	if p.HasChanges() {
		t.Error("empty plan has changes")
	}
	var b bytes.Buffer
	if err := p.WriteText(&b, TextOptions{}); err != nil {
		t.Fatal(err)
	}
	if b.String() != "No changes: live state matches Git.\n" {
		t.Errorf("got %q", b.String())
	}
}

func TestOrderCreatesTopDownDeletesBottomUp(t *testing.T) {
	p := samplePlan()
	var got []string
	for _, c := range p.Changes {
		if c.Tenant == "payments" && c.System == Kubernetes {
			got = append(got, string(c.Action)+" "+c.Kind)
		}
	}
	want := []string{"create Namespace", "orphan Namespace", "update ResourceQuota", "delete RoleBinding"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestSummary(t *testing.T) {
	s := samplePlan().Summary()
	want := Summary{Create: 1, Update: 3, Delete: 1, Orphan: 1, Blocked: 1, Drift: 2}
	if diff := cmp.Diff(want, s); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if got := (&Plan{Changes: []Change{{Action: Blocked}}}).HasChanges(); got {
		t.Error("a plan of only blocked changes has nothing to apply")
	}
}
