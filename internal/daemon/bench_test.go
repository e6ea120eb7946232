package daemon

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/k3sync/k3sync/internal/testenv/repogen"
)

// BenchmarkDaemon1000Tenants runs the daemon's first sync of 1,000
// generated tenants (14 Kubernetes objects on each of 2 clusters, 3 topics,
// 4 ACLs, a quota and a SCRAM user on Kafka, 8 Kong entities each), then a
// poll that finds nothing new in Git, then a poll of a new revision that
// re-plans every tenant and changes nothing, twice: right after the first
// sync (replan-all-s: Kong's plan memo is empty, every tenant is diffed)
// and once more (replan-all-warm-s: as on a daemon that has planned every
// tenant since its last apply). It reports the times and the writes of
// the polls after the first sync, which must be 0. peak-rss-MiB is the whole
// test process, which also hosts kfake and the Kong emulator.
// first-sync-cpu-process-s and first-sync-cpu-apiservers-s split the first
// sync's CPU between this process and the apiservers with their etcd: on
// 2 cores, their sum over 2 is the shortest first sync the machine allows.
func BenchmarkDaemon1000Tenants(b *testing.B) {
	for b.Loop() {
		p := startPeers(b, 1000)
		d, err := New(p.cfg, Options{})
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		self0, peers0 := cpuSeconds()
		d.Reconciler.PollOnce(b.Context())
		first := time.Since(start)
		self1, peers1 := cpuSeconds()
		if err := d.Reconciler.Ready(); err != nil {
			b.Fatal(err)
		}
		k0, ka0, ko0 := p.writes(d)
		h0 := fileHash(b, p.cfg.State.Path)
		// The everyday poll: Git has nothing new.
		start = time.Now()
		d.Reconciler.PollOnce(b.Context())
		noop := time.Since(start)
		// A revision that touches platform.cue but changes nothing
		// tenants ask for: every tenant is loaded and planned against
		// live state, right after the first sync (Kong's plan memo is
		// empty then).
		p.repo.WriteFile("platform.cue", readFile(b, filepath.Join(p.repo.Work, "platform.cue"))+"\n// Reviewed.\n")
		p.repo.Commit("Touch the platform")
		start = time.Now()
		d.Reconciler.PollOnce(b.Context())
		replan := time.Since(start)
		// Touched again: now every tenant was planned once since the
		// first sync (Kong's plan memo remembers them), as on a daemon
		// that has run a drift check or a poll since.
		p.repo.WriteFile("platform.cue", readFile(b, filepath.Join(p.repo.Work, "platform.cue"))+"// Reviewed again.\n")
		p.repo.Commit("Touch the platform again")
		start = time.Now()
		d.Reconciler.PollOnce(b.Context())
		replanWarm := time.Since(start)
		k, ka, ko := p.writes(d)
		stateWrites := 0.0
		if fileHash(b, p.cfg.State.Path) != h0 {
			stateWrites = 1
		}
		b.ReportMetric(first.Seconds(), "first-sync-s")
		// The CPU the first sync cost this process (k3sync, kfake, the
		// Kong emulator) and the apiservers with their etcd.
		b.ReportMetric(self1-self0, "first-sync-cpu-process-s")
		b.ReportMetric(peers1-peers0, "first-sync-cpu-apiservers-s")
		b.ReportMetric(noop.Seconds(), "noop-poll-s")
		b.ReportMetric(replan.Seconds(), "replan-all-s")
		b.ReportMetric(replanWarm.Seconds(), "replan-all-warm-s")
		b.ReportMetric(float64(k-k0+ka-ka0+ko-ko0), "noop-writes")
		b.ReportMetric(stateWrites, "noop-state-writes")
		b.ReportMetric(peakRSSMiB(), "peak-rss-MiB")
		d.Close()
	}
}

// peakRSSMiB reads VmHWM of this process.
func peakRSSMiB() float64 {
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 64)
			return kb / 1024
		}
	}
	return 0
}

// BenchmarkDaemonOneTenantChange1000Tenants measures the latency path after
// the first sync of 1,000 generated tenants: a commit that changes one
// tenant's folder (a label on Kubernetes, a topic config on Kafka, a
// plugin setting on Kong), then the poll that loads the revision (one
// folder evaluated, ADR 0008), plans it and applies it on all three
// systems. It reports the median of 10 such commits as ms/change.
func BenchmarkDaemonOneTenantChange1000Tenants(b *testing.B) {
	const changes = 10
	for b.Loop() {
		p := startPeers(b, 1000)
		d, err := New(p.cfg, Options{})
		if err != nil {
			b.Fatal(err)
		}
		d.Reconciler.PollOnce(b.Context())
		if err := d.Reconciler.Ready(); err != nil {
			b.Fatal(err)
		}
		took := make([]time.Duration, 0, changes)
		for i := range changes {
			name := repogen.TenantName(100 * i)
			file := "tenants/" + name + "/tenant.cue"
			src := readFile(b, filepath.Join(p.repo.Work, filepath.FromSlash(file)))
			changed := strings.NewReplacer(
				`"cost-center": "`+name+`"`, `"cost-center": "`+name+`-b"`,
				`"retention.ms": 604800000`, `"retention.ms": 86400000`,
				`minute: 100`, `minute: 200`,
			).Replace(src)
			if changed == src {
				b.Fatalf("%s: the generated tenant changed shape; nothing to edit", file)
			}
			p.repo.WriteFile(file, changed)
			p.repo.Commit("Change " + name)
			k0, ka0, ko0 := p.writes(d)
			start := time.Now()
			d.Reconciler.PollOnce(b.Context())
			took = append(took, time.Since(start))
			k, ka, ko := p.writes(d)
			if k == k0 || ka == ka0 || ko == ko0 {
				b.Fatalf("%s: writes Kubernetes %d, Kafka %d, Kong %d: the change was not applied on every system", name, k-k0, ka-ka0, ko-ko0)
			}
		}
		slices.Sort(took)
		b.ReportMetric(float64((took[changes/2-1]+took[changes/2]).Milliseconds())/2, "ms/change")
		b.ReportMetric(float64(took[0].Milliseconds()), "min-ms/change")
		b.ReportMetric(float64(took[changes-1].Milliseconds()), "max-ms/change")
		d.Close()
	}
}
