package kong

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/k3sync/k3sync/internal/kongemu"
	"github.com/k3sync/k3sync/internal/plan"
	"github.com/k3sync/k3sync/internal/state"
)

// TestGatewayFailsMidApply: the Admin API fails one tenant's service
// create with a 503 in the middle of an apply. That tenant's changes fail
// with the gateway's answer (the service's, and what hangs off it as not
// attempted); every other tenant is applied; the apply's error is the
// changes' (an ApplyError), not the whole gateway's. Once the gateway
// recovers, the next apply converges: an empty plan, nothing duplicated,
// every key delivered once.
func TestGatewayFailsMidApply(t *testing.T) {
	emu, url := emulator(t, kongemu.Options{})
	d := example(t)
	sink := newSink()
	tg := newTarget(t, url, state.NewMemory(), sink)

	// go-kong creates a service with PUT /services/{id}; Kong also takes
	// POST /services. Whichever it sends first fails.
	put := emu.Inject(kongemu.Fault{Method: http.MethodPut, Path: "/services/", Count: 1, Status: http.StatusServiceUnavailable})
	post := emu.Inject(kongemu.Fault{Method: http.MethodPost, Path: "/services", Count: 1, Status: http.StatusServiceUnavailable})
	results, err := tg.Apply(t.Context(), d.Request(), plan.ApplyOptions{})
	emu.ClearFaults()
	if put()+post() == 0 {
		t.Fatal("no service create reached the fault")
	}
	var ae *plan.ApplyError
	if !errors.As(err, &ae) {
		t.Fatalf("apply error %v, want an ApplyError of the failed changes", err)
	}
	failed := map[string]bool{}
	for _, r := range results {
		if r.Err != nil {
			failed[r.Tenant] = true
		}
	}
	if len(failed) != 1 {
		t.Fatalf("tenants with failed changes: %v, want exactly the one whose service create failed", failed)
	}
	for _, r := range results {
		switch {
		case failed[r.Tenant] && r.Kind == KindService && r.Err != nil && !strings.Contains(r.Err.Error(), "503"):
			t.Errorf("%s: %v, want the gateway's 503", r.Key, r.Err)
		case !failed[r.Tenant] && r.Err != nil:
			t.Errorf("%s of a tenant the fault did not touch: %v", r.Key, r.Err)
		}
	}

	// Recovered: the next apply makes what failed, and only that.
	mustApply(t, tg, d.Request())
	if again := mustPlan(t, tg, d.Request()); len(again) != 0 {
		t.Fatalf("plan after recovery:\n%s", planText(t, again))
	}
	for entity, want := range exampleCounts {
		if got := emu.Count(entity); got != want {
			t.Errorf("after recovery: %d %s, want %d (nothing duplicated)", got, entity, want)
		}
	}
	if got := len(sink.all()); got != 2 {
		t.Errorf("%d keys delivered, want 2: one per key-auth consumer", got)
	}
}
