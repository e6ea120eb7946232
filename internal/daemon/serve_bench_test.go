package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/k3sync/k3sync/internal/testenv/kube"
	"github.com/twmb/franz-go/pkg/kfake"
	"golang.org/x/sys/unix"

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
// to twice what is live between collections), and in a container of
// 200 MiB: a memory cgroup with that limit, where `k3sync serve` sets its
// own GOMEMLIMIT (internal/cli/memlimit.go), and whose usage counts the
// binary's pages (the benchmark drops them from the page cache first, so
// that the binary reads them itself). The container needs a writable
// cgroup file system (root); without one it is skipped, and says why.
func BenchmarkServeBinary1000Tenants(b *testing.B) {
	b.Run("nolimit", func(b *testing.B) { benchmarkServeBinary(b, 0) })
	b.Run("container=200MiB", func(b *testing.B) { benchmarkServeBinary(b, 200<<20) })
}

func benchmarkServeBinary(b *testing.B, containerLimit int64) {
	for b.Loop() {
		bin := buildK3sync(b)
		var cg *memoryCgroup
		if containerLimit > 0 {
			cg = newMemoryCgroup(b, containerLimit)
			dropPageCache(b, bin)
			bin = cg.wrap(b, bin)
		}
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
		cpuProfile := os.Getenv(cpuProfileEnv)
		if profiles != "" || cpuProfile != "" {
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
			repo.FileURL(), filepath.Join(dir, "clone"), listen)+pprofConfig(profiles+cpuProfile, dir)), 0o600); err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		cmd := startServe(b, bin, cfg)
		peakHeap := watchHeap(b, "http://"+listen+"/metrics")
		stopProfiles := func() {}
		if profiles != "" {
			stopProfiles = writeHeapProfiles(b, "http://"+listen+"/debug/pprof/heap?gc=1", profiles)
		}
		stopCPU := func() {}
		if cpuProfile != "" {
			stopCPU = writeCPUProfile(b, "http://"+listen+"/debug/pprof/profile?seconds=40", cpuProfile)
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
		stopCPU()
		b.ReportMetric(vmHWM(b, cmd.Process.Pid), "serve-peak-rss-MiB")
		// What the RSS is made of once synced: the binary's pages and
		// other files (RssFile) and the heap, stacks and runtime (RssAnon).
		b.ReportMetric(procStatusMiB(b, cmd.Process.Pid, "RssFile:"), "serve-rss-file-MiB")
		b.ReportMetric(procStatusMiB(b, cmd.Process.Pid, "RssAnon:"), "serve-rss-anon-MiB")
		b.ReportMetric(peakHeap(), "serve-peak-heap-MiB")
		if cg != nil {
			// The container's peak (heap, binary pages, page cache of
			// the files it wrote), and the limit the binary chose.
			b.ReportMetric(cg.peakMiB(b), "container-peak-MiB")
			// Pages read from disk, the binary's dropped code among them.
			b.ReportMetric(majorFaults(b, cmd.Process.Pid), "serve-major-faults")
			b.ReportMetric(metricValue(b, "http://"+listen+"/metrics", "go_gc_gomemlimit_bytes")/(1<<20), "serve-gomemlimit-MiB")
		}
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		kc.Close()
	}
}

// watchHeap samples the Go heap in use (go_memstats_heap_inuse_bytes) on
// the binary's /metrics every second until the benchmark ends; the
// returned function reads the highest sample, in MiB. Sampling misses
// short peaks: RSS is the bound, the heap says how much of it is live
// data and GC headroom. It samples no more often because a scrape of
// 1,000 tenants' metrics costs the binary about 11 ms of CPU: every
// 250 ms, 9% of its CPU in a first sync.
func watchHeap(b *testing.B, url string) func() float64 {
	var peak atomic.Int64
	ctx, cancel := context.WithCancel(b.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(time.Second)
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
			if v, ok := sample(raw, "go_memstats_heap_inuse_bytes"); ok && int64(v) > peak.Load() {
				peak.Store(int64(v))
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

// procStatusMiB reads a kB field of /proc/<pid>/status, in MiB; a field
// the file lacks fails the benchmark.
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
	b.Fatalf("/proc/%d/status has no %s", pid, field)
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

// cpuProfileEnv names a file: when set, the served binary serves
// /debug/pprof/ and the benchmark writes there a CPU profile of the
// binary's first 40 seconds, most of its first sync.
const cpuProfileEnv = "K3SYNC_BENCH_CPU_PROFILE"

// writeCPUProfile fetches url (a CPU profile) into file in the
// background; the returned function waits for it.
func writeCPUProfile(b *testing.B, url, file string) func() {
	done := make(chan struct{})
	go func() {
		defer close(done)
		req, _ := http.NewRequestWithContext(b.Context(), http.MethodGet, url, nil)
		req.Header.Set("Authorization", "Bearer "+benchPprofToken)
		for range 50 { // until the binary listens
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				time.Sleep(100 * time.Millisecond)
				continue
			}
			raw, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				_ = os.WriteFile(file, raw, 0o600)
			}
			return
		}
	}()
	return func() { <-done }
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

// memoryCgroup is a memory cgroup (v1 or v2) under this process's own,
// standing for a container's memory limit.
type memoryCgroup struct {
	dir string
	// peak is the file of the cgroup's peak usage, in bytes.
	peak string
}

// newMemoryCgroup creates a memory cgroup limited to limit bytes, removed
// when the benchmark ends (its processes gone by then); it skips the
// benchmark when the cgroup file system cannot be written.
func newMemoryCgroup(b *testing.B, limit int64) *memoryCgroup {
	raw, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		b.Skipf("a container needs cgroups: %v", err)
	}
	var v1, v2 string
	for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		if slices.Contains(strings.Split(parts[1], ","), "memory") {
			v1 = parts[2]
		}
		if parts[0] == "0" && parts[1] == "" {
			v2 = parts[2]
		}
	}
	name := fmt.Sprintf("k3sync-bench-%d", os.Getpid())
	var cg *memoryCgroup
	var limitFile string
	switch {
	case v1 != "" && dirExists("/sys/fs/cgroup/memory"):
		cg = &memoryCgroup{dir: filepath.Join("/sys/fs/cgroup/memory", v1, name)}
		limitFile, cg.peak = "memory.limit_in_bytes", "memory.max_usage_in_bytes"
	case v2 != "":
		cg = &memoryCgroup{dir: filepath.Join("/sys/fs/cgroup", v2, name)}
		limitFile, cg.peak = "memory.max", "memory.peak"
	default:
		b.Skip("a container needs a memory cgroup: none in /proc/self/cgroup")
	}
	if err := os.Mkdir(cg.dir, 0o755); err != nil {
		b.Skipf("a container needs a writable cgroup file system: %v", err)
	}
	b.Cleanup(func() { _ = os.Remove(cg.dir) })
	if err := os.WriteFile(filepath.Join(cg.dir, limitFile), []byte(strconv.FormatInt(limit, 10)), 0o600); err != nil {
		b.Skipf("a container needs a memory limit: %v", err)
	}
	return cg
}

func dirExists(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}

// wrap returns a script that moves itself into the cgroup and then runs
// bin with its arguments, so that bin starts inside (its GOMEMLIMIT is
// set from the cgroup as it starts) with the same process ID.
func (cg *memoryCgroup) wrap(b *testing.B, bin string) string {
	script := filepath.Join(b.TempDir(), "in-container")
	body := fmt.Sprintf("#!/bin/sh\necho $$ > %q || exit 1\nexec %q \"$@\"\n", filepath.Join(cg.dir, "cgroup.procs"), bin)
	if err := os.WriteFile(script, []byte(body), 0o700); err != nil { //nolint:gosec // an executable script
		b.Fatal(err)
	}
	return script
}

func (cg *memoryCgroup) peakMiB(b *testing.B) float64 {
	raw, err := os.ReadFile(filepath.Join(cg.dir, cg.peak))
	if err != nil {
		b.Fatal(err)
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(string(raw)), 64)
	if err != nil {
		b.Fatal(err)
	}
	return v / (1 << 20)
}

// dropPageCache writes file out and drops it from the page cache, so that
// the next process to map it reads it, and its cgroup is charged for it
// as a container is for its image's files.
func dropPageCache(b *testing.B, file string) {
	f, err := os.Open(file)
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	if err := f.Sync(); err != nil {
		b.Fatal(err)
	}
	if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
		b.Fatal(err)
	}
}

// metricValue reads one unlabelled sample of a metric on url, a
// /metrics page.
func metricValue(b *testing.B, url, name string) float64 {
	ctx, cancel := context.WithTimeout(b.Context(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatalf("metrics: %v", err)
	}
	defer func() { _ = resp.Body.Close() }()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		b.Fatalf("metrics: %v", err)
	}
	v, ok := sample(raw, name)
	if !ok {
		b.Fatalf("metrics: no %s on %s", name, url)
	}
	return v
}

// sample finds one unlabelled sample of a metric in a /metrics page.
func sample(page []byte, name string) (float64, bool) {
	for _, line := range strings.Split(string(page), "\n") {
		if rest, ok := strings.CutPrefix(line, name+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			return v, err == nil
		}
	}
	return 0, false
}

// majorFaults is the number of page faults of process pid that read from
// disk (majflt in /proc/PID/stat).
func majorFaults(b *testing.B, pid int) float64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt
	_, rest, _ := strings.Cut(string(raw), ") ")
	fields := strings.Fields(rest)
	if len(fields) < 10 {
		b.Fatalf("/proc/%d/stat: %q", pid, raw)
	}
	v, err := strconv.ParseFloat(fields[7], 64)
	if err != nil {
		b.Fatal(err)
	}
	return v
}
