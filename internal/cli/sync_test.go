package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/cobra"

	"github.com/k3sync/k3sync/internal/config"
	"github.com/k3sync/k3sync/internal/plan"
	"github.com/k3sync/k3sync/internal/server"
	"github.com/k3sync/k3sync/internal/state"
	"github.com/k3sync/k3sync/internal/view"
)

// syncBackend is a fake reconciler for the command's tests: every sync it
// queues is queued, then running, then done with runs.
type syncBackend struct {
	mu        sync.Mutex
	runs      []state.Run
	syncErr   string
	triggered []view.TriggerRequest
	polls     int
}

func (b *syncBackend) Trigger(_ context.Context, req view.TriggerRequest) (view.Sync, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if req.Tenant != "" && req.Tenant != "payments" && req.Tenant != "checkout" {
		return view.Sync{}, fmt.Errorf("tenant %q: %w", req.Tenant, server.ErrNotFound)
	}
	b.triggered = append(b.triggered, req)
	return view.Sync{ID: "s1", Request: req, Phase: view.Queued}, nil
}

func (b *syncBackend) Sync(_ context.Context, id string) (view.Sync, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if id != "s1" {
		return view.Sync{}, fmt.Errorf("sync %q: %w", id, server.ErrNotFound)
	}
	b.polls++
	s := view.Sync{ID: id, Request: b.triggered[len(b.triggered)-1]}
	switch {
	case b.polls == 1:
		s.Phase = view.Queued
	case b.polls <= 3:
		s.Phase = view.Running
	default:
		s.Phase, s.Runs, s.Error = view.Done, b.runs, b.syncErr
	}
	return s, nil
}

func (b *syncBackend) Overview(context.Context) (view.Overview, error) { return view.Overview{}, nil }
func (b *syncBackend) Tenant(_ context.Context, name string) (view.Tenant, error) {
	return view.Tenant{}, fmt.Errorf("tenant %q: %w", name, server.ErrNotFound)
}
func (b *syncBackend) Plans(context.Context) (map[string]*plan.Plan, error) { return nil, nil }
func (b *syncBackend) Drift(context.Context) ([]state.Drift, error)         { return nil, nil }
func (b *syncBackend) History(context.Context, string, int) ([]state.Run, error) {
	return nil, nil
}
func (b *syncBackend) Suspend(context.Context, string, bool, string) error { return nil }
func (b *syncBackend) Ready() error                                        { return nil }

const syncToken = "operator-secret-token"

func syncServer(t *testing.T, b *syncBackend) string {
	t.Helper()
	dir := t.TempDir()
	tokens := map[string]string{"operator": syncToken, "viewer": "viewer-secret-token"}
	var cfg config.Server
	for _, role := range []string{"operator", "viewer"} {
		p := filepath.Join(dir, role)
		if err := os.WriteFile(p, []byte(tokens[role]), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg.Tokens = append(cfg.Tokens, config.Token{Name: "ci-" + role, Role: role, Secret: config.Secret{TokenFile: p}})
	}
	s, err := server.New(cfg, b, nil)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return ts.URL
}

// runSync runs `k3sync sync` under a root that reads K3SYNC_* like the
// real one.
func runSync(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	root := &cobra.Command{Use: "k3sync", SilenceUsage: true, SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error { return flagsFromEnv(cmd.Flags()) }}
	root.AddCommand(NewSyncCommand())
	var o, e bytes.Buffer
	root.SetOut(&o)
	root.SetErr(&e)
	root.SetArgs(append([]string{"sync", "--poll-interval", "1ms"}, args...))
	err := root.ExecuteContext(t.Context())
	var ee exitError
	switch {
	case err == nil:
		code = ExitOK
	case errors.As(err, &ee):
		code = ee.code
	default:
		fmt.Fprintln(&e, "k3sync:", err)
		code = ExitError
	}
	return o.String(), e.String(), code
}

var syncT0 = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

func syncedRun(tenant string) state.Run {
	return state.Run{ID: tenant + "-1", Tenant: tenant, Revision: "abc123def4567890", Trigger: state.TriggerManual, Who: "ci-operator",
		Started: syncT0, Finished: syncT0.Add(time.Second), Result: state.ResultSynced, Summary: plan.Summary{Create: 2}}
}

func failedRun() state.Run {
	r := syncedRun("payments")
	r.Result = state.ResultFailed
	r.Summary = plan.Summary{Update: 1}
	r.Changes = []plan.Result{{
		Change: plan.Change{Key: plan.Key{Tenant: "payments", System: plan.Kafka, Target: "main", Kind: "Topic", Name: "payments.orders"}, Action: plan.Update,
			Fields: []plan.FieldChange{{Path: "configs.sasl", After: "s3cret", Sensitive: true}}},
		Error: "partitions: cannot decrease from 6 to 3",
	}}
	return r
}

func TestSyncCommandSynced(t *testing.T) {
	b := &syncBackend{runs: []state.Run{syncedRun("checkout"), syncedRun("payments")}}
	t.Setenv(TokenEnv, syncToken)
	t.Setenv(EnvPrefix+"SERVER", syncServer(t, b))
	stdout, stderr, code := runSync(t)
	if code != ExitOK {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	want := `TENANT    RESULT  REVISION      SUMMARY
checkout  synced  abc123def456  2 to create, 0 to update, 0 to delete, 0 to orphan, 0 blocked
payments  synced  abc123def456  2 to create, 0 to update, 0 to delete, 0 to orphan, 0 blocked

Synced 2 of 2 tenants.
`
	if diff := cmp.Diff(want, stdout); diff != "" {
		t.Errorf("stdout (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff("sync s1: queued\nsync s1: running\nsync s1: done\n", stderr); diff != "" {
		t.Errorf("stderr (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]view.TriggerRequest{{Who: "ci-operator"}}, b.triggered); diff != "" {
		t.Errorf("triggers (-want +got):\n%s", diff)
	}
}

func TestSyncCommandFailed(t *testing.T) {
	b := &syncBackend{runs: []state.Run{syncedRun("checkout"), failedRun()}}
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(syncToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := runSync(t, "--server", syncServer(t, b), "--token-file", tokenFile, "--tenant", "payments", "--allow-mass-deletion")
	if code != ExitError {
		t.Fatalf("exit %d, want 1\n%s%s", code, stdout, stderr)
	}
	want := `TENANT    RESULT  REVISION      SUMMARY
checkout  synced  abc123def456  2 to create, 0 to update, 0 to delete, 0 to orphan, 0 blocked
payments  failed  abc123def456  0 to create, 1 to update, 0 to delete, 0 to orphan, 0 blocked

error: payments: update kafka/main/Topic/payments.orders: partitions: cannot decrease from 6 to 3

Synced 1 of 2 tenants.
`
	if diff := cmp.Diff(want, stdout); diff != "" {
		t.Errorf("stdout (-want +got):\n%s", diff)
	}
	if strings.Contains(stderr, "k3sync:") {
		t.Errorf("a failed run is not a command error: %s", stderr)
	}
	if diff := cmp.Diff([]view.TriggerRequest{{Tenant: "payments", Who: "ci-operator", AllowMassDeletion: true}}, b.triggered); diff != "" {
		t.Errorf("triggers (-want +got):\n%s", diff)
	}
}

func TestSyncCommandJSON(t *testing.T) {
	b := &syncBackend{runs: []state.Run{failedRun()}}
	t.Setenv(TokenEnv, syncToken)
	stdout, _, code := runSync(t, "--server", syncServer(t, b), "--output", "json")
	if code != ExitError {
		t.Fatalf("exit %d, want 1", code)
	}
	var s view.Sync
	if err := json.Unmarshal([]byte(stdout), &s); err != nil {
		t.Fatalf("%v\n%s", err, stdout)
	}
	if s.Phase != view.Done || len(s.Runs) != 1 || s.Runs[0].Result != state.ResultFailed {
		t.Errorf("sync %+v", s)
	}
	if strings.Contains(stdout, "s3cret") {
		t.Errorf("output shows a sensitive value:\n%s", stdout)
	}
}

func TestSyncCommandSyncError(t *testing.T) {
	b := &syncBackend{syncErr: "revision abc123 is invalid"}
	t.Setenv(TokenEnv, syncToken)
	stdout, _, code := runSync(t, "--server", syncServer(t, b))
	if code != ExitError {
		t.Fatalf("exit %d, want 1", code)
	}
	if diff := cmp.Diff("Sync s1 could not run: revision abc123 is invalid\n", stdout); diff != "" {
		t.Errorf("stdout (-want +got):\n%s", diff)
	}
}

// TestSyncCommandEscapesDaemonText: the sync's error, a run's message and
// a change's error come from tenants' input and targets' answers; the
// terminal shows their escape sequences and bidi overrides as escapes,
// never runs them.
func TestSyncCommandEscapesDaemonText(t *testing.T) {
	run := failedRun()
	run.Message = "payments kong/edge: \x1b[2J\x1b[Hfake \u202eoutput"
	run.Changes[0].Error = "route \x1b[31mred\x1b[0m"
	b := &syncBackend{runs: []state.Run{run}, syncErr: "x\x1b]0;owned\x07"}
	t.Setenv(TokenEnv, syncToken)
	stdout, stderr, code := runSync(t, "--server", syncServer(t, b))
	if code != ExitError {
		t.Fatalf("exit %d, want 1\n%s%s", code, stdout, stderr)
	}
	want := `Sync s1 could not run: x\x1b]0;owned\x07
TENANT    RESULT  REVISION      SUMMARY
payments  failed  abc123def456  0 to create, 1 to update, 0 to delete, 0 to orphan, 0 blocked

error: payments: failed: payments kong/edge: \x1b[2J\x1b[Hfake \u202eoutput
error: payments: update kafka/main/Topic/payments.orders: route \x1b[31mred\x1b[0m

Synced 0 of 1 tenants.
`
	if diff := cmp.Diff(want, stdout); diff != "" {
		t.Errorf("stdout (-want +got):\n%s", diff)
	}
	if strings.ContainsAny(stdout+stderr, "\x1b\x07\u202e") {
		t.Errorf("control or bidi characters reach the terminal: %q", stdout)
	}
}

func TestSyncCommandNoWait(t *testing.T) {
	b := &syncBackend{}
	t.Setenv(TokenEnv, syncToken)
	url := syncServer(t, b)
	stdout, stderr, code := runSync(t, "--server", url, "--no-wait")
	if code != ExitOK {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	if diff := cmp.Diff("Sync s1 queued; follow it at "+url+"/api/v1/syncs/s1\n", stdout); diff != "" {
		t.Errorf("stdout (-want +got):\n%s", diff)
	}
	if b.polls != 0 {
		t.Errorf("--no-wait polled %d times", b.polls)
	}
}

func TestSyncCommandErrors(t *testing.T) {
	url := syncServer(t, &syncBackend{})
	viewerFile := filepath.Join(t.TempDir(), "viewer")
	if err := os.WriteFile(viewerFile, []byte("viewer-secret-token"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		env  string
		args []string
		want string
	}{
		{"no token", "", []string{"--server", url},
			"k3sync: no API token: pass --token-file FILE or set K3SYNC_TOKEN (tokens are not accepted as a flag value)\n"},
		{"token as a flag", syncToken, []string{"--server", url, "--token", syncToken},
			"k3sync: unknown flag: --token\n"},
		{"wrong token", "nope", []string{"--server", url},
			"k3sync: trigger sync: 401 Unauthorized: invalid token (check the token in --token-file or K3SYNC_TOKEN)\n"},
		{"viewer token", "", []string{"--server", url, "--token-file", viewerFile},
			"k3sync: trigger sync: 403 Forbidden: token ci-viewer has role viewer; POST /api/v1/sync needs operator (triggering a sync needs a token with the operator role)\n"},
		{"unknown tenant", syncToken, []string{"--server", url, "--tenant", "nobody"},
			"k3sync: trigger sync: 404 Not Found: tenant \"nobody\": not found\n"},
		{"no server", syncToken, nil,
			"k3sync: --server is required (or K3SYNC_SERVER)\n"},
		{"bad server", syncToken, []string{"--server", "k3sync.example.com"},
			"k3sync: --server \"k3sync.example.com\": want an http or https URL\n"},
		{"bad output", syncToken, []string{"--server", url, "--output", "yaml"},
			"k3sync: invalid argument \"yaml\" for \"--output\" flag: unknown output format \"yaml\" (want text or json)\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(TokenEnv, tt.env)
			t.Setenv(EnvPrefix+"SERVER", "")
			_, stderr, code := runSync(t, tt.args...)
			if code != ExitError {
				t.Errorf("exit %d, want 1", code)
			}
			if diff := cmp.Diff(tt.want, stderr); diff != "" {
				t.Errorf("stderr (-want +got):\n%s", diff)
			}
			if strings.Contains(stderr, syncToken) {
				t.Errorf("stderr shows the token")
			}
		})
	}
}
