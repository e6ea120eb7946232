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
