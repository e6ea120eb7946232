//go:build unix

package benchcompare

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/k3sync/k3sync/internal/config"
	"github.com/k3sync/k3sync/internal/kongemu"
	"github.com/k3sync/k3sync/internal/plan"
	"github.com/k3sync/k3sync/internal/state"
	"github.com/k3sync/k3sync/internal/target/kong"
	"github.com/k3sync/k3sync/internal/testenv/repogen"
)

// gateway is the gateway repogen's tenants use.
const gateway = "edge"

// clean is decK's summary of a diff with nothing to do.
const clean = "Created: 0 Updated: 0 Deleted: 0"

// dropKeys is a credential sink that forgets the generated keys: the
// comparison never needs them.
type dropKeys struct{}

func (dropKeys) Deliver(context.Context, string, string, string) error { return nil }

// gatewayEmu is a Kong Admin API emulator served over HTTP for tb.
func gatewayEmu(tb testing.TB) (*kongemu.Server, string) {
	tb.Helper()
	emu := kongemu.New(kongemu.Options{})
	srv := httptest.NewServer(emu)
	tb.Cleanup(srv.Close)
	return emu, srv.URL
}

// kongTarget is a k3sync Kong target of the gateway at url, keeping its
// inventory in store.
func kongTarget(tb testing.TB, url string, store state.Store, opts ...kong.Option) *kong.Target {
	tb.Helper()
	tg, err := kong.New(gateway, config.Gateway{AdminURL: url}, store, dropKeys{}, opts...)
	if err != nil {
		tb.Fatal(err)
	}
	return tg
}

// TestDeckDiffAgreesWithPlan is the smoke test of the Kong comparison:
// after k3sync applied 5 generated tenants (an upstream with a target, a
// service with 2 routes and a plugin, a consumer with a key each), decK's
// diff of its own dump and k3sync's plan both find nothing to do, and
// neither writes; after a route is edited on the gateway behind both
// tools' backs, both find exactly that route to update.
func TestDeckDiffAgreesWithPlan(t *testing.T) {
	newDeck(t, "") // fails now when decK is missing
	emu, url := gatewayEmu(t)
	store := state.NewMemory()
	tg := kongTarget(t, url, store)
	req := request(t, generated(5, nil))
	mustApply(t, tg, req)
	if changes, err := tg.Plan(t.Context(), req); err != nil || len(changes) != 0 {
		t.Fatalf("k3sync plan after apply: %v,%s", err, keys(changes))
	}
	if n := emu.Count("services"); n != 5 {
		t.Fatalf("gateway holds %d services, want 5", n)
	}

	d := newDeck(t, url)
	d.run(t, "dump", "-o", "kong.yaml")
	emu.ResetStats()
	if out, _ := d.run(t, "diff", "-s", "kong.yaml"); summary(out) != clean {
		t.Errorf("deck diff after k3sync applied: %q", summary(out))
	}
	if changes, err := kongTarget(t, url, store).Plan(t.Context(), req); err != nil || len(changes) != 0 {
		t.Errorf("k3sync plan of a new target: %v,%s", err, keys(changes))
	}
	if emu.Writes() != 0 {
		t.Errorf("the diffs wrote: %v", emu.Stats())
	}

	route := repogen.TenantName(0) + "-read"
	patch, err := http.NewRequestWithContext(t.Context(), http.MethodPatch, url+"/routes/"+route, bytes.NewReader([]byte(`{"paths":["/out-of-band"]}`)))
	if err != nil {
		t.Fatal(err)
	}
	patch.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(patch)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("PATCH /routes/%s: %s", route, resp.Status)
	}
	changes, err := kongTarget(t, url, store).Plan(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	if len(changes) != 1 || changes[0].Action != plan.Update || !strings.Contains(changes[0].Key.String(), route) {
		t.Errorf("k3sync plan after the route edit:%s; want one update of route %s", keys(changes), route)
	}
	out, _ := d.run(t, "diff", "-s", "kong.yaml")
	if summary(out) != "Created: 0 Updated: 1 Deleted: 0" || !strings.Contains(out, route) {
		t.Errorf("deck diff after the route edit: want one update of %s in:\n%s", route, out)
	}
}

// BenchmarkKongNoopPlan compares k3sync's plan with decK's `deck diff` on
// the same gateway state: -benchcompare.tenants generated tenants applied
// by k3sync to the Kong Admin API emulator (8 entities each: an upstream
// and its target, a service, 2 routes, a rate-limiting plugin, a consumer
// and its key-auth credential). decK diffs its own dump of the gateway;
// both find nothing to do.
//
//   - k3sync: one target plans again and again, as the daemon's poll
//     does; from its second plan on it remembers every tenant as having
//     nothing to do and skips their diffs (the memo is primed before
//     timing).
//   - k3sync-cold: a new target for every plan (empty memo, every tenant
//     read and diffed), as `k3sync plan` run from a shell, and as decK
//     runs.
//   - deck-diff: one `deck diff -s` process per diff.
//
// reads/op are the Admin API requests one diff sends. cpu-ms/op is the CPU
// time of one diff, client and emulator together (the emulator runs in
// the test process; for decK its process is added), which compares on a
// busy machine.
func BenchmarkKongNoopPlan(b *testing.B) {
	newDeck(b, "") // fails now when decK is missing
	emu, url := gatewayEmu(b)
	store := state.NewMemory()
	tg := kongTarget(b, url, store)
	req := request(b, generated(*tenants, nil))
	start := time.Now()
	applied := mustApply(b, tg, req)
	b.Logf("setup: k3sync applied %d entities of %d tenants in %s", applied, *tenants, time.Since(start).Round(time.Millisecond))
	if changes, err := tg.Plan(b.Context(), req); err != nil || len(changes) != 0 {
		b.Fatalf("k3sync plan after apply: %v,%s", err, keys(changes))
	}
	d := newDeck(b, url)
	d.run(b, "dump", "-o", "kong.yaml")
	entities := dumped(b, filepath.Join(d.dir, "kong.yaml"))
	// Connections are reused across the cold targets, as within one run.
	shared := http.DefaultTransport.(*http.Transport).Clone()
	shared.MaxIdleConnsPerHost = kong.DefaultConcurrency + 4
	b.Cleanup(shared.CloseIdleConnections)
	runtime.GC()

	planLoop := func(b *testing.B, fresh bool) {
		emu.ResetStats()
		plans := 0
		cpu := cpuTime()
		for b.Loop() {
			t := tg
			if fresh {
				t = kongTarget(b, url, store, kong.WithTransport(shared))
			}
			changes, err := t.Plan(b.Context(), req)
			if err != nil || len(changes) != 0 {
				b.Fatalf("k3sync plan: %v,%s", err, keys(changes))
			}
			plans++
		}
		cpu = cpuTime() - cpu
		if emu.Writes() != 0 {
			b.Fatalf("k3sync's no-op plans wrote: %v", emu.Stats())
		}
		b.ReportMetric(float64(emu.Reads())/float64(plans), "reads/op")
		b.ReportMetric(float64(cpu.Microseconds())/1000/float64(plans), "cpu-ms/op")
		b.ReportMetric(float64(entities), "entities")
	}
	b.Run("k3sync", func(b *testing.B) { planLoop(b, false) })
	b.Run("k3sync-cold", func(b *testing.B) { planLoop(b, true) })
	b.Run("deck-diff", func(b *testing.B) {
		emu.ResetStats()
		runs := 0
		var cpu time.Duration
		self := cpuTime()
		for b.Loop() {
			out, c := d.run(b, "diff", "-s", "kong.yaml")
			if summary(out) != clean {
				b.Fatalf("deck diff after k3sync applied: %q", summary(out))
			}
			cpu += c
			runs++
		}
		cpu += cpuTime() - self
		if emu.Writes() != 0 {
			b.Fatalf("deck diff wrote: %v", emu.Stats())
		}
		b.ReportMetric(float64(emu.Reads())/float64(runs), "reads/op")
		b.ReportMetric(float64(cpu.Microseconds())/1000/float64(runs), "cpu-ms/op")
		b.ReportMetric(float64(entities), "entities")
	})
}
