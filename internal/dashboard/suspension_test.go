package dashboard_test

import (
	"strings"
	"testing"
	"time"

	"github.com/k3sync/k3sync/internal/state"
)

// TestOperatorEntriesInHistory: an operator's suspend in a tenant's
// history (no result: it is not a sync) shows as an operator entry saying
// who did it, on the tenant's page and in the overview's recent syncs.
func TestOperatorEntriesInHistory(t *testing.T) {
	e := newEnv(t)
	c, _ := e.login(viewerToken)
	at := time.Date(2026, 5, 1, 11, 30, 0, 0, time.UTC)
	op := state.Suspension{Tenant: "payments", Suspended: true, Who: "alice", At: at, ID: "run-9", Revision: "fedcba9876543210"}.Entry()
	e.fb.update(func(f *fakeBackend) {
		f.runs = append([]state.Run{op}, f.runs...)
		p := f.tenants["payments"]
		p.History = append([]state.Run{op}, p.History...)
		f.tenants["payments"] = p
	})
	for path, want := range map[string][]string{
		"/tenants/payments": {
			`<tr data-run="run-9" data-result="">`,
			`<span class="badge s-unknown" data-result="">operator</span>`,
			`operator <span class="muted">by</span> alice`,
			`<div class="msg-line">suspended by alice</div>`,
			`<tr data-run="run-2" data-result="failed">`,
		},
		"/": {
			`<span class="badge s-unknown" data-result="">operator</span>`,
			`<span class="muted">— suspended by alice</span>`,
			`operator by alice`,
		},
	} {
		body := e.do(req{path: path, cookie: c}).Body.String()
		for _, w := range want {
			if !strings.Contains(body, w) {
				t.Errorf("%s does not contain %s", path, w)
			}
		}
	}
}
