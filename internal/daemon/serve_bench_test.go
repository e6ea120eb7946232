package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/k3sync/k3sync/internal/testenv/kube"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/k3sync/k3sync/internal/kongemu"
	"github.com/k3sync/k3sync/internal/testenv/gitserver"
	"github.com/k3sync/k3sync/internal/testenv/repogen"
)

// BenchmarkServeBinary1000Tenants runs the k3sync binary (`k3sync serve`)
// on 1,000 generated tenants against real peers in other processes or
// this one, and reports the time to its first completed sync and the
// binary's own peak RSS (VmHWM), which the in-process benchmark cannot
// separate from the peers.
//
// It runs twice: as a process without a memory limit (the Go heap grows
// to twice what is live between collections), and with the GOMEMLIMIT
// that `k3sync serve` sets itself in a container limited to 200 MiB (90%
// of the limit: 180 MiB, see internal/cli/memlimit.go).
func BenchmarkServeBinary1000Tenants(b *testing.B) {
	for _, limit := range []string{"", "180MiB"} {
		name := "nolimit"
		if limit != "" {
			name = "GOMEMLIMIT=" + limit
		}
		b.Run(name, func(b *testing.B) {
			if limit != "" {
				b.Setenv("GOMEMLIMIT", limit)
			}
			benchmarkServeBinary(b)
		})
	}
}

func benchmarkServeBinary(b *testing.B) {
	for b.Loop() {
		bin := buildK3sync(b)
		cps := kube.StartT(b, 2)
		kc, err := kfake.NewCluster(kfake.NumBrokers(3))
		if err != nil {
			b.Fatal(err)
		}
		kongURL, err := kongemu.New(kongemu.Options{}).Start(b.Context())
		if err != nil {
			b.Fatal(err)
		}
		root := b.TempDir()
		repo := gitserver.NewRepo(b, root, "platform.git")
		if err := repogen.WriteDir(repo.Work, repogen.Options{Tenants: 1000}); err != nil {
			b.Fatal(err)
		}
		repo.Commit("Generated tenants")
		dir := b.TempDir()
		listen := freeAddr(b)
		brokers, _ := json.Marshal(kc.ListenAddrs())
		cfg := filepath.Join(dir, "k3sync.yaml")
		profiles := os.Getenv(heapProfilesEnv)
		if profiles != "" {
			// An operator token for /debug/pprof/; no other test or
			// benchmark reads it.
			if err := os.WriteFile(filepath.Join(dir, "token"), []byte(benchPprofToken), 0o600); err != nil {
				b.Fatal(err)
			}
		}
		if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`clusters:
  eu-west: {kubeconfig: %q, qps: 2000, burst: 4000, concurrency: 16}
  us-east: {kubeconfig: %q, qps: 2000, burst: 4000, concurrency: 16}
kafka:
  main: {brokers: %s}
gateways:
  edge: {adminURL: %q}
state: {path: %q}
git: {url: %q, interval: 1h, dir: %q}
server:
  listen: %q
`, cps[0].KubeconfigPath(), cps[1].KubeconfigPath(), brokers, kongURL, filepath.Join(dir, "state.db"),
			repo.FileURL(), filepath.Join(dir, "clone"), listen)+pprofConfig(profiles, dir)), 0o600); err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		cmd := startServe(b, bin, cfg)
		peakHeap := watchHeap(b, "http://"+listen+"/metrics")
		stopProfiles := func() {}
		if profiles != "" {
			stopProfiles = writeHeapProfiles(b, "http://"+listen+"/debug/pprof/heap?gc=1", profiles)
		}
		waitFor(b, 10*time.Minute, "the first sync", func() bool {
			req, _ := http.NewRequestWithContext(b.Context(), http.MethodGet, "http://"+listen+"/readyz", nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return false
			}
			_ = resp.Body.Close()
			return resp.StatusCode == http.StatusOK
		})
		b.ReportMetric(time.Since(start).Seconds(), "first-sync-s")
		stopProfiles()
		b.ReportMetric(vmHWM(b, cmd.Process.Pid), "serve-peak-rss-MiB")
		// What the RSS is made of once synced: the binary's pages and
		// other files (RssFile) and the heap, stacks and runtime (RssAnon).
		b.ReportMetric(procStatusMiB(b, cmd.Process.Pid, "RssFile:"), "serve-rss-file-MiB")
		b.ReportMetric(procStatusMiB(b, cmd.Process.Pid, "RssAnon:"), "serve-rss-anon-MiB")
		b.ReportMetric(peakHeap(), "serve-peak-heap-MiB")
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		kc.Close()
	}
}

// watchHeap samples the Go heap in use (go_memstats_heap_inuse_bytes) on
// the binary's /metrics until the benchmark ends; the returned function
// reads the highest sample, in MiB. Sampling misses short peaks: RSS is
// the bound, the heap says how much of it is live data and GC headroom.
func watchHeap(b *testing.B, url string) func() float64 {
	var peak atomic.Int64
	ctx, cancel := context.WithCancel(b.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				continue
			}
			raw, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			for _, line := range strings.Split(string(raw), "\n") {
				if rest, ok := strings.CutPrefix(line, "go_memstats_heap_inuse_bytes "); ok {
					v, _ := strconv.ParseFloat(strings.TrimSpace(rest), 64)
					if int64(v) > peak.Load() {
						peak.Store(int64(v))
					}
				}
			}
		}
	}()
	return func() float64 {
		cancel()
		<-done
		return float64(peak.Load()) / (1 << 20)
	}
}

func vmHWM(b *testing.B, pid int) float64 { return procStatusMiB(b, pid, "VmHWM:") }

// procStatusMiB reads a kB field of /proc/<pid>/status, in MiB.
func procStatusMiB(b *testing.B, pid int, field string) float64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, field); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 64)
			return kb / 1024
		}
	}
	return 0
}

// heapProfilesEnv names a directory: when set, the served binary serves
// /debug/pprof/ and the benchmark writes a heap profile there every
// second until the first sync is done (heap-001.pb.gz, …), each after a
// forced collection, so that each is the live heap at that moment and
// the largest is the live heap's peak (`go tool pprof -top -sample_index
// inuse_space`). The collections lower the peak RSS: measure without it.
const heapProfilesEnv = "K3SYNC_BENCH_HEAP_PROFILES"

const benchPprofToken = "bench-pprof-operator-token"

// pprofConfig is the server configuration that serves /debug/pprof/ to
// the token in dir/token, when profiles are asked for.
func pprofConfig(profiles, dir string) string {
	if profiles == "" {
		return ""
	}
	return fmt.Sprintf("  pprof: true\n  tokens: [{name: bench, role: operator, tokenFile: %q}]\n", filepath.Join(dir, "token"))
}

// writeHeapProfiles fetches url every second into dir until the returned
// function is called.
func writeHeapProfiles(b *testing.B, url, dir string) func() {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(b.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for n := 1; ; n++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			req.Header.Set("Authorization", "Bearer "+benchPprofToken)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				continue
			}
			raw, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				_ = os.WriteFile(filepath.Join(dir, fmt.Sprintf("heap-%03d.pb.gz", n)), raw, 0o600)
			}
		}
	}()
	return func() {
		cancel()
		<-done
	}
}
