package render_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/k3sync/k3sync/internal/loader"
	"github.com/k3sync/k3sync/internal/model"
	"github.com/k3sync/k3sync/internal/render"
)

func loadExample(t *testing.T) *model.Repo {
	t.Helper()
	repo, err := loader.Load(os.DirFS(filepath.Join("..", "..", "examples", "platform-repo")))
	if err != nil {
		t.Fatalf("load example repo: %v", err)
	}
	return repo
}

// A tenant rendered on demand is the tenant rendered up front, cluster by
// cluster: what a target plans and applies does not depend on when the
// objects were rendered.
func TestTenantOnDemandRendersTheSameObjects(t *testing.T) {
	repo := loadExample(t)
	for _, m := range repo.Tenants {
		t.Run(m.Name, func(t *testing.T) {
			eager := render.TenantResources(&repo.Platform, m)
			lazy := render.TenantOnDemand(&repo.Platform, m)
			if diff := cmp.Diff(eager.Kafka, lazy.Kafka); diff != "" {
				t.Errorf("Kafka (-up front +on demand):\n%s", diff)
			}
			if diff := cmp.Diff(eager.Kong, lazy.Kong); diff != "" {
				t.Errorf("Kong (-up front +on demand):\n%s", diff)
			}
			if len(lazy.Kubernetes) != len(eager.Kubernetes) {
				t.Fatalf("on demand: %d clusters, up front: %d", len(lazy.Kubernetes), len(eager.Kubernetes))
			}
			for i, cr := range lazy.Kubernetes {
				if cr.Cluster != eager.Kubernetes[i].Cluster {
					t.Errorf("cluster %d: on demand %s, up front %s", i, cr.Cluster, eager.Kubernetes[i].Cluster)
				}
				if cr.Objects != nil {
					t.Errorf("cluster %s: objects rendered before any target asked", cr.Cluster)
				}
				if diff := cmp.Diff(eager.Kubernetes[i].Desired(), cr.Desired()); diff != "" {
					t.Errorf("cluster %s objects (-up front +on demand):\n%s", cr.Cluster, diff)
				}
			}
		})
	}
}

// The clusters of a tenant rendered on demand share one copy of its
// objects until each has released it; then nothing holds them, and a
// target that asks again gets them rendered again, the same.
func TestTenantOnDemandSharesUntilReleased(t *testing.T) {
	repo := loadExample(t)
	lazy := render.TenantOnDemand(&repo.Platform, repo.Tenant("payments"))
	if len(lazy.Kubernetes) != 2 {
		t.Fatalf("payments is on %d clusters, want 2 (eu-west, us-east)", len(lazy.Kubernetes))
	}
	eu, us := lazy.Kubernetes[0], lazy.Kubernetes[1]
	first := eu.Desired()
	if len(first) == 0 {
		t.Fatal("no objects")
	}
	if got := us.Desired(); len(got) != len(first) || got[0] != first[0] {
		t.Error("the tenant's second cluster got another copy of the objects, want the one the first got")
	}
	eu.Release()
	if got := us.Desired(); got[0] != first[0] {
		t.Error("us-east, which has not released them, got another copy once eu-west released them")
	}
	us.Release()
	again := eu.Desired()
	if again[0] == first[0] {
		t.Error("the objects were kept after every cluster released them")
	}
	if diff := cmp.Diff(first, again); diff != "" {
		t.Errorf("rendered again (-first +again):\n%s", diff)
	}
	if other := us.Desired(); other[0] == again[0] {
		t.Error("after every cluster released them, a copy was kept")
	}

	// Up front, Desired is Objects and Release does nothing.
	eager := render.TenantResources(&repo.Platform, repo.Tenant("payments"))
	objs := eager.Kubernetes[0].Objects
	eager.Kubernetes[0].Release()
	eager.Kubernetes[1].Release()
	if got := eager.Kubernetes[0].Desired(); len(got) != len(objs) || got[0] != objs[0] {
		t.Error("Desired of a tenant rendered up front is not its Objects")
	}
}

// BenchmarkKubernetesObjects renders every example tenant's Kubernetes
// objects, as a cluster's target asks for them when the request renders
// them on demand (once per plan pass that needs them).
func BenchmarkKubernetesObjects(b *testing.B) {
	repo, err := loader.Load(os.DirFS(filepath.Join("..", "..", "examples", "platform-repo")))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		for _, m := range repo.Tenants {
			for _, cr := range render.TenantOnDemand(&repo.Platform, m).Kubernetes {
				_ = cr.Desired()
				break
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*len(repo.Tenants)), "µs/tenant")
}

// A consumer's plugin is on each of its tenant's services, never on the
// consumer alone: Kong runs a consumer-only plugin on every service the
// consumer calls, other tenants' included, in place of theirs.
func TestConsumerPluginsStayOnTheTenantsServices(t *testing.T) {
	repo := loadExample(t)
	for _, tn := range repo.Tenants {
		k := render.TenantResources(&repo.Platform, tn).Kong
		if k == nil {
			continue
		}
		services := map[string]bool{}
		for _, s := range k.Services {
			services[s.Name] = true
		}
		onConsumers := 0
		for _, p := range k.Plugins {
			if p.Consumer == "" {
				continue
			}
			onConsumers++
			if !services[p.Service] {
				t.Errorf("tenant %s: plugin %s of consumer %s is on service %q, not one of the tenant's", tn.Name, p.Name, p.Consumer, p.Service)
			}
		}
		want := 0
		for _, c := range tn.Kong.Consumers {
			want += len(c.Plugins) * len(k.Services)
		}
		if onConsumers != want {
			t.Errorf("tenant %s: %d consumer plugins on the gateway, want %d (each consumer plugin on each service)", tn.Name, onConsumers, want)
		}
	}
}
