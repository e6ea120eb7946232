package loader

import (
	"fmt"
	"slices"
	"syscall"
	"testing"
	"testing/fstest"
	"time"

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

// BenchmarkLoadIncremental1000Tenants loads 1,000 generated tenants with a
// Cache after a first load, in process and in the sandbox: each load
// either changes one tenant's file (one folder evaluated) or touches
// platform.cue (every folder evaluated again); "no-cache" is one tenant's
// change without a cache, as before ADR 0008. It reports ms/load,
// cpu-ms/load and the folders evaluated per load.
func BenchmarkLoadIncremental1000Tenants(b *testing.B) {
	sb, err := NewSandbox()
	if err != nil {
		b.Fatal(err)
	}
	for _, mode := range []struct {
		name string
		opts Options
	}{
		{"in-process", Options{}},
		{"sandbox", Options{Sandbox: sb}},
	} {
		for _, change := range []string{"no-cache", "one-tenant", "platform"} {
			b.Run(mode.name+"/"+change, func(b *testing.B) {
				fsys := repogen.Generate(repogen.Options{Tenants: 1000})
				opts := mode.opts
				opts.Cache = NewCache(1)
				file, base := PlatformFile, fsys[PlatformFile].Data
				if change != "platform" {
					file = TenantsDir + "/" + repogen.TenantName(500) + "/tenant.cue"
					base = fsys[file].Data
				}
				if _, err := LoadWith(b.Context(), fsys, opts); err != nil {
					b.Fatal(err)
				}
				if change == "no-cache" {
					opts.Cache = nil
				}
				before, _ := opts.Cache.counts()
				n := 0
				start, startCPU := time.Now(), cpuTime()
				for b.Loop() {
					n++
					// A comment keeps the model; the bytes, and so the
					// key, differ on every load.
					fsys[file] = &fstest.MapFile{Data: fmt.Appendf(slices.Clone(base), "\n// change %d\n", n)}
					repo, err := LoadWith(b.Context(), fsys, opts)
					if err != nil {
						b.Fatal(err)
					}
					if len(repo.Tenants) != 1000 {
						b.Fatalf("loaded %d tenants", len(repo.Tenants))
					}
				}
				after, _ := opts.Cache.counts()
				b.ReportMetric(float64(time.Since(start).Milliseconds())/float64(n), "ms/load")
				// CPU time, this process's and its sandbox children's: on a
				// shared machine, wall time is mostly waiting for a core.
				b.ReportMetric(float64((cpuTime()-startCPU).Milliseconds())/float64(n), "cpu-ms/load")
				if opts.Cache != nil {
					b.ReportMetric(float64(after-before)/float64(n), "evaluated/load")
				}
			})
		}
	}
}

// cpuTime is the CPU time used by this process and its waited-for
// children (the sandbox's).
func cpuTime() time.Duration {
	var self, children syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &self)
	_ = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &children)
	var total time.Duration
	for _, tv := range []syscall.Timeval{self.Utime, self.Stime, children.Utime, children.Stime} {
		total += time.Duration(tv.Nano())
	}
	return total
}
