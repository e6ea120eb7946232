//go:build unix

package kong

import (
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/k3sync/k3sync/internal/kongemu"
	"github.com/k3sync/k3sync/internal/plan"
	"github.com/k3sync/k3sync/internal/state"
)

// BenchmarkPlanNoop plans 1,000 services with 2 routes and a plugin each,
// over 250 tenants, against a gateway that already matches, and runs
// decK's diff of the same state for comparison. Besides wall time per
// plan it reports the Admin API requests and the CPU time spent (for
// decK: its process and the emulator serving it), which is what compares
// on a busy machine.
func BenchmarkPlanNoop(b *testing.B) {
	emu, url := emulator(b, kongemu.Options{})
	tg := newTarget(b, url, state.NewMemory(), newSink())
	req := syntheticRequest(250, 4)
	if _, err := tg.Apply(b.Context(), req, plan.ApplyOptions{}); err != nil {
		b.Fatalf("setup apply: %v", err)
	}
	if n := emu.Count("services"); n != 1000 {
		b.Fatalf("setup: %d services", n)
	}

	// k3sync is the daemon's case: the same target plans again and again,
	// and from its second plan on every tenant is remembered as having
	// nothing to do (the setup apply made changes: nothing is remembered
	// before the first plan). k3sync-memoized plans once before it starts
	// counting: every plan it counts skips every diff. k3sync-cold empties
	// the memo before each plan: every tenant is diffed, as on the first
	// plan after a start or a change of Kong's schemas.
	b.Run("k3sync", func(b *testing.B) { benchPlanNoop(b, emu, tg, req, memoAsIs) })
	b.Run("k3sync-memoized", func(b *testing.B) { benchPlanNoop(b, emu, tg, req, memoPrimed) })
	b.Run("k3sync-cold", func(b *testing.B) { benchPlanNoop(b, emu, tg, req, memoEmptied) })

	b.Run("deck", func(b *testing.B) {
		bin, err := exec.LookPath("deck")
		if err != nil {
			b.Fatal("deck not found: install Debian package deck (.ci/run does)")
		}
		dir := b.TempDir()
		file := filepath.Join(dir, "kong.yaml")
		deck := func(args ...string) time.Duration {
			cmd := exec.CommandContext(b.Context(), bin, append(args, "--kong-addr", url, "--no-color")...)
			cmd.Env = append(os.Environ(), "DECK_ANALYTICS=off", "HOME="+dir)
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("deck %v: %v\n%s", args, err, out)
			}
			return cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
		}
		deck("dump", "-o", file)
		emu.ResetStats()
		runs := 0
		var cpu time.Duration
		self := cpuTime()
		for b.Loop() {
			cpu += deck("diff", "-s", file)
			runs++
		}
		cpu += cpuTime() - self
		b.ReportMetric(float64(emu.Reads())/float64(runs), "reads/op")
		b.ReportMetric(float64(listCount(emu))/float64(runs), "lists/op")
		b.ReportMetric(float64(cpu.Milliseconds())/float64(runs), "cpu-ms/op")
	})
}

// benchMemo is what a no-op plan benchmark does with the plan memo.
type benchMemo int

const (
	memoAsIs    benchMemo = iota // leave it to the plans
	memoPrimed                   // plan once before counting
	memoEmptied                  // empty it before each plan
)

func benchPlanNoop(b *testing.B, emu *kongemu.Server, tg *Target, req plan.Request, m benchMemo) {
	if m == memoPrimed {
		if _, err := tg.Plan(b.Context(), req); err != nil {
			b.Fatalf("priming plan: %v", err)
		}
	}
	emu.ResetStats()
	b.ReportAllocs()
	plans := 0
	diffs := tg.diffs.Load()
	cpu := cpuTime()
	for b.Loop() {
		if m == memoEmptied {
			tg.forget()
		}
		changes, err := tg.Plan(b.Context(), req)
		if err != nil || len(changes) != 0 {
			b.Fatalf("no-op plan: %d changes, %v", len(changes), err)
		}
		plans++
	}
	cpu = cpuTime() - cpu
	if emu.Writes() != 0 {
		b.Fatalf("no-op plan wrote: %v", emu.Stats())
	}
	b.ReportMetric(float64(emu.Reads())/float64(plans), "reads/op")
	b.ReportMetric(float64(listCount(emu))/float64(plans), "lists/op")
	b.ReportMetric(float64(tg.diffs.Load()-diffs)/float64(plans), "diffs/op")
	b.ReportMetric(float64(cpu.Milliseconds())/float64(plans), "cpu-ms/op")
}

// cpuTime is the CPU time this process used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
