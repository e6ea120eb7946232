package loader

import (
	"testing"

	"github.com/k3sync/k3sync/internal/render"
	"github.com/k3sync/k3sync/internal/testenv/repogen"
)

// BenchmarkLoadRender loads and renders 1,000 generated tenants, each with
// two namespaces on two clusters, three topics, a user with ACLs and a
// quota, and a Kong service with routes, plugin, consumer and upstream.
func BenchmarkLoadRender(b *testing.B) {
	fsys := repogen.Generate(repogen.Options{Tenants: 1000})
	b.ReportAllocs()
	for b.Loop() {
		repo, err := Load(fsys)
		if err != nil {
			b.Fatal(err)
		}
		out := render.Repo(repo)
		if len(out.Tenants) != 1000 {
			b.Fatalf("rendered %d tenants", len(out.Tenants))
		}
	}
}

func TestGeneratedRepoIsValid(t *testing.T) {
	repo, err := Load(repogen.Generate(repogen.Options{Tenants: 3}))
	if err != nil {
		t.Fatalf("generated repo does not validate:\n%v", err)
	}
	if len(repo.Tenants) != 3 {
		t.Fatalf("got %d tenants", len(repo.Tenants))
	}
}

// BenchmarkLoad1000 validates 1,000 generated tenants in process and in
// the evaluation sandbox (what the CLI, the daemon and the PR loop use).
func BenchmarkLoad1000(b *testing.B) {
	fsys := repogen.Generate(repogen.Options{Tenants: 1000})
	sb, err := NewSandbox()
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		opts Options
	}{
		{"in-process", Options{}},
		{"sandbox", Options{Sandbox: sb}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				repo, err := LoadWith(b.Context(), fsys, bc.opts)
				if err != nil {
					b.Fatal(err)
				}
				if len(repo.Tenants) != 1000 {
					b.Fatalf("loaded %d tenants", len(repo.Tenants))
				}
			}
		})
	}
}
