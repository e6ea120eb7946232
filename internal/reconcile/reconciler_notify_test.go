package reconcile

import (
	"context"
	"encoding/json"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/k3sync/k3sync/internal/apply"
	"github.com/k3sync/k3sync/internal/notify"
	"github.com/k3sync/k3sync/internal/plan"
	"github.com/k3sync/k3sync/internal/state"
	"github.com/k3sync/k3sync/internal/view"
)

// notes records the events the reconciler notifies.
type notes struct {
	mu  sync.Mutex
	evs []notify.Event
}

func (n *notes) Notify(ev notify.Event) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.evs = append(n.evs, ev)
}

func (n *notes) of(t notify.Type) []notify.Event {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []notify.Event
	for _, ev := range n.evs {
		if ev.Type == t {
			out = append(out, ev)
		}
	}
	return out
}

func (n *notes) all() []notify.Event {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.evs)
}

const notifyPlatform = "package k3sync\n\nclusters: x: {region: \"r\", capacity: {cpu: \"1\", memory: \"1Gi\", pods: 10}}\nkafka: {}\ngateways: {}\npolicy: {}\n"

// TestFailedApplyNotifiesOncePerRun: a failing apply makes exactly one
// sync.failed event per run, with the tenant, its owners, the revision,
// the trigger, the failed change and the count.
func TestFailedApplyNotifiesOncePerRun(t *testing.T) {
	repo := fstest.MapFS{
		"platform.cue":         {Data: []byte(notifyPlatform)},
		"tenants/a/tenant.cue": {Data: []byte("package k3sync\n\nowners: [\"team-a\"]\n")},
	}
	rec := &notes{}
	r := New(oneCommit{repo}, &flaky{fails: 5, done: make(chan struct{})}, state.NewMemory(),
		Options{Notifier: rec, RetryMin: time.Hour, Interval: time.Hour})
	r.PollOnce(t.Context())
	failed := rec.of(notify.SyncFailed)
	if len(failed) != 1 {
		t.Fatalf("%d sync.failed events after one failed run, want 1: %+v", len(failed), rec.all())
	}
	ev := failed[0]
	if ev.Tenant != "a" || !slices.Equal(ev.Owners, []string{"team-a"}) || ev.Revision != "c1" || ev.Trigger != "poll" ||
		ev.Count != 1 || !strings.Contains(ev.Message, "apiserver unavailable") || ev.Time.IsZero() {
		t.Errorf("event %+v", ev)
	}
	// The retry is another run: one more event.
	r.retry(t.Context(), []string{"a"})
	if n := len(rec.of(notify.SyncFailed)); n != 2 {
		t.Errorf("%d sync.failed events after two failed runs, want 2", n)
	}
	if n := len(rec.all()); n != 2 {
		t.Errorf("other events: %+v", rec.all())
	}
}

// drifting plans the drifted ConfigMaps it is told of.
type drifting struct {
	mu      sync.Mutex
	drifted []string
}

func (d *drifting) set(names ...string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.drifted = names
}

func (d *drifting) Plan(context.Context, plan.Request) *plan.Plan {
	d.mu.Lock()
	defer d.mu.Unlock()
	p := &plan.Plan{}
	for _, name := range d.drifted {
		p.Changes = append(p.Changes, plan.Change{Key: plan.Key{Tenant: "a", System: plan.Kubernetes, Target: "x", Kind: "ConfigMap", Namespace: "a", Name: name},
			Action: plan.Update, Drift: true})
	}
	return p
}

func (d *drifting) Apply(_ context.Context, req plan.Request, _ plan.ApplyOptions) *apply.Report {
	rep := &apply.Report{}
	for _, c := range req.Checked.Changes {
		rep.Results = append(rep.Results, plan.Result{Change: c})
	}
	return rep
}

// TestDriftNotifiesWhenFirstSeen: drift makes one event when a resource
// is first found drifted; a check that finds the same drift again makes
// none; a resource newly drifted makes one more, naming only it.
func TestDriftNotifiesWhenFirstSeen(t *testing.T) {
	repo := fstest.MapFS{
		"platform.cue":         {Data: []byte(notifyPlatform)},
		"tenants/a/tenant.cue": {Data: []byte("package k3sync\n\nowners: [\"team-a\"]\n")},
	}
	rec := &notes{}
	eng := &drifting{}
	r := New(oneCommit{repo}, eng, state.NewMemory(), Options{Notifier: rec, RetryMin: time.Hour, Interval: time.Hour})
	r.PollOnce(t.Context())
	if evs := rec.all(); len(evs) != 0 {
		t.Fatalf("events with nothing drifted: %+v", evs)
	}
	eng.set("cm1")
	r.CheckDrift(t.Context(), "")
	drift := rec.of(notify.DriftDetected)
	if len(drift) != 1 {
		t.Fatalf("%d drift events, want 1: %+v", len(drift), rec.all())
	}
	if ev := drift[0]; ev.Tenant != "a" || ev.Count != 1 || !slices.Equal(ev.Resources, []string{"kubernetes/x/ConfigMap/a/cm1"}) ||
		!slices.Equal(ev.Owners, []string{"team-a"}) || ev.Revision != "c1" {
		t.Errorf("event %+v", ev)
	}
	r.CheckDrift(t.Context(), "")
	r.CheckDrift(t.Context(), "")
	if n := len(rec.of(notify.DriftDetected)); n != 1 {
		t.Fatalf("%d drift events after identical checks, want 1", n)
	}
	eng.set("cm1", "cm2")
	r.CheckDrift(t.Context(), "")
	drift = rec.of(notify.DriftDetected)
	if len(drift) != 2 || drift[1].Count != 1 || !slices.Equal(drift[1].Resources, []string{"kubernetes/x/ConfigMap/a/cm2"}) {
		t.Errorf("a newly drifted resource: %+v", drift)
	}
	if n := len(rec.of(notify.SyncFailed)) + len(rec.of(notify.SyncBlocked)); n != 0 {
		t.Errorf("unexpected sync events: %+v", rec.all())
	}
}

// TestInvalidRevisionNotifiesOnce: an invalid revision is notified once,
// however many polls find it, and as its tenant's when the first error
// is in a tenant folder.
func TestInvalidRevisionNotifiesOnce(t *testing.T) {
	repo := fstest.MapFS{
		"platform.cue":         {Data: []byte(notifyPlatform)},
		"tenants/a/tenant.cue": {Data: []byte("package k3sync\n\nowners: 5\n")},
	}
	rec := &notes{}
	r := New(oneCommit{repo}, &drifting{}, state.NewMemory(), Options{Notifier: rec, Interval: time.Hour})
	for range 3 {
		r.PollOnce(t.Context())
	}
	evs := rec.of(notify.RevisionInvalid)
	if len(evs) != 1 {
		t.Fatalf("%d revision.invalid events after 3 polls, want 1: %+v", len(evs), rec.all())
	}
	if ev := evs[0]; ev.Revision != "c1" || ev.Count < 1 || ev.Message == "" || ev.Tenant != "a" {
		t.Errorf("event %+v", ev)
	}
}

// commits is a source whose head the test moves.
type commits struct {
	mu   sync.Mutex
	head string
	fss  map[string]fs.FS
}

func (c *commits) move(h string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.head = h
}

func (c *commits) Fetch(context.Context) (view.Commit, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return view.Commit{Hash: c.head}, nil
}
func (c *commits) FS(h string) (fs.FS, error) { return c.fss[h], nil }
func (c *commits) Changed(string, string) ([]string, error) {
	return []string{"tenants/b/tenant.cue"}, nil
}

// offboarding plans the deletion of tenant b's namespace once told b is
// gone, and fails it, so that its offboarding stays pending.
type offboarding struct {
	mu   sync.Mutex
	gone bool
}

func (o *offboarding) Plan(context.Context, plan.Request) *plan.Plan {
	o.mu.Lock()
	defer o.mu.Unlock()
	p := &plan.Plan{}
	if o.gone {
		p.Changes = []plan.Change{{Key: plan.Key{Tenant: "b", System: plan.Kubernetes, Target: "x", Kind: "Namespace", Name: "b"}, Action: plan.Delete}}
	}
	return p
}

func (o *offboarding) Apply(_ context.Context, req plan.Request, _ plan.ApplyOptions) *apply.Report {
	rep := &apply.Report{}
	for _, c := range req.Checked.Changes {
		rep.Results = append(rep.Results, plan.Result{Change: c, Err: context.DeadlineExceeded})
	}
	return rep
}

// TestRemovedTenantNotifiesOnce: a tenant folder that disappears, whose
// offboarding is planned, is notified once, with the owners it had,
// however many syncs plan its offboarding again.
func TestRemovedTenantNotifiesOnce(t *testing.T) {
	both := fstest.MapFS{
		"platform.cue":         {Data: []byte(notifyPlatform)},
		"tenants/a/tenant.cue": {Data: []byte("package k3sync\n\nowners: [\"team-a\"]\n")},
		"tenants/b/tenant.cue": {Data: []byte("package k3sync\n\nowners: [\"team-b\"]\n")},
	}
	onlyA := fstest.MapFS{"platform.cue": both["platform.cue"], "tenants/a/tenant.cue": both["tenants/a/tenant.cue"]}
	src := &commits{head: "c1", fss: map[string]fs.FS{"c1": both, "c2": onlyA}}
	eng := &offboarding{}
	rec := &notes{}
	r := New(src, eng, state.NewMemory(), Options{Notifier: rec, RetryMin: time.Hour, Interval: time.Hour})
	r.PollOnce(t.Context())
	src.move("c2")
	eng.mu.Lock()
	eng.gone = true
	eng.mu.Unlock()
	r.PollOnce(t.Context())
	for range 2 {
		r.runSync(t.Context(), &view.Sync{Request: view.TriggerRequest{Who: "test"}})
	}
	removed := rec.of(notify.TenantRemoved)
	if len(removed) != 1 {
		t.Fatalf("%d tenant.removed events, want 1: %+v", len(removed), rec.all())
	}
	if ev := removed[0]; ev.Tenant != "b" || !slices.Equal(ev.Owners, []string{"team-b"}) || ev.Revision != "c2" || ev.Count != 1 ||
		!strings.Contains(ev.Message, "1 to delete") {
		t.Errorf("event %+v", ev)
	}
	// Its runs (blocked by the mass-deletion guard or failed) are told too,
	// each with b's remembered owners.
	for _, ev := range rec.all() {
		if ev.Tenant == "b" && !slices.Equal(ev.Owners, []string{"team-b"}) {
			t.Errorf("event of b without its owners: %+v", ev)
		}
	}
}

// TestFailedApplyReachesAWebhook: through the real notifier, a failed
// run arrives at a webhook as one signed CloudEvent; the retry that fails
// the same way is the same event, deduplicated.
func TestFailedApplyReachesAWebhook(t *testing.T) {
	repo := fstest.MapFS{
		"platform.cue":         {Data: []byte(notifyPlatform)},
		"tenants/a/tenant.cue": {Data: []byte("package k3sync\n\nowners: [\"team-a\"]\n")},
	}
	var mu sync.Mutex
	var bodies [][]byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		if !notify.Verify([]byte("key"), b, req.Header.Get(notify.SignatureHeader)) {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		mu.Lock()
		bodies = append(bodies, b)
		mu.Unlock()
	}))
	defer srv.Close()
	n, err := notify.New([]notify.Sink{{Name: "audit", Kind: "webhook", URL: srv.URL, HMACKey: []byte("key")}},
		[]notify.Route{{Events: []notify.Type{notify.SyncFailed}, Sinks: []string{"audit"}, Owners: []string{"team-a"}}},
		notify.Options{Instance: "test", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	r := New(oneCommit{repo}, &flaky{fails: 5, done: make(chan struct{})}, state.NewMemory(),
		Options{Notifier: n, RetryMin: time.Hour, Interval: time.Hour})
	r.PollOnce(t.Context())
	r.retry(t.Context(), []string{"a"})
	for deadline := time.Now().Add(10 * time.Second); n.Stats().Delivered+n.Stats().Failed < 1; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("nothing delivered: %+v", n.Stats())
		}
	}
	time.Sleep(50 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if st := n.Stats(); len(bodies) != 1 || st.Deduped != 1 || st.Failed != 0 {
		t.Fatalf("%d deliveries, stats %+v; want 1 delivered, 1 deduplicated", len(bodies), st)
	}
	var ce notify.CloudEvent
	if err := json.Unmarshal(bodies[0], &ce); err != nil {
		t.Fatal(err)
	}
	if ce.Type != "io.k3sync.sync.failed" || ce.Subject != "a" || ce.Source != "k3sync/test" || ce.Data.Revision != "c1" || ce.Data.Count != 1 {
		t.Errorf("event %+v", ce)
	}
}
