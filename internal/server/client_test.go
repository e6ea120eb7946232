package server_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/k3sync/k3sync/internal/server"
	"github.com/k3sync/k3sync/internal/view"
)

func testClient(t *testing.T, b *fakeBackend, token string) *server.Client {
	t.Helper()
	ts := httptest.NewServer(newServer(t, b, nil).Handler())
	t.Cleanup(ts.Close)
	return &server.Client{URL: ts.URL + "/", Token: token, HTTP: ts.Client()}
}

func TestClientTriggerWait(t *testing.T) {
	b := newFakeBackend()
	b.syncs["sync-1"] = []view.Sync{
		{Phase: view.Queued},
		{Phase: view.Running},
		{Phase: view.Running},
		{Phase: view.Done, Runs: b.runs},
	}
	c := testClient(t, b, operatorToken)
	s, err := c.Trigger(t.Context(), view.TriggerRequest{Tenant: "payments", AllowMassDeletion: true, Who: "ignored"})
	if err != nil {
		t.Fatal(err)
	}
	if s.ID != "sync-1" || s.Phase != view.Queued {
		t.Fatalf("trigger: %+v", s)
	}
	var phases []view.SyncPhase
	done, err := c.Wait(t.Context(), s.ID, time.Millisecond, func(s view.Sync) { phases = append(phases, s.Phase) })
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]view.SyncPhase{view.Queued, view.Running, view.Running, view.Done}, phases); diff != "" {
		t.Errorf("phases (-want +got):\n%s", diff)
	}
	if len(done.Runs) != 1 || done.Runs[0].Changes[0].Fields[0].After != "(sensitive)" {
		t.Errorf("done: %+v", done)
	}
	want := []view.TriggerRequest{{Tenant: "payments", Who: "alice", AllowMassDeletion: true}}
	if diff := cmp.Diff(want, b.triggered); diff != "" {
		t.Errorf("triggers (-want +got):\n%s", diff)
	}
}

func TestClientErrors(t *testing.T) {
	b := newFakeBackend()

	_, err := testClient(t, b, "").Overview(t.Context())
	if !server.IsUnauthorized(err) {
		t.Errorf("no token: %v", err)
	}
	_, err = testClient(t, b, viewerToken).Trigger(t.Context(), view.TriggerRequest{})
	var ae *server.APIError
	if !errors.As(err, &ae) || ae.StatusCode != 403 {
		t.Errorf("viewer trigger: %v", err)
	}
	if want := "trigger sync: 403 Forbidden: token ci-viewer has role viewer; POST /api/v1/sync needs operator"; err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	_, err = testClient(t, b, viewerToken).Sync(t.Context(), "nope")
	if !errors.Is(err, server.ErrNotFound) {
		t.Errorf("unknown sync: %v", err)
	}
	o, err := testClient(t, b, viewerToken).Overview(t.Context())
	if err != nil || o.Revision.Hash != "abc123" {
		t.Errorf("overview: %+v %v", o, err)
	}

	// Waiting on a sync that never ends stops with the context.
	b.syncs["stuck"] = []view.Sync{{ID: "stuck", Phase: view.Running}}
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	s, err := testClient(t, b, viewerToken).Wait(ctx, "stuck", 5*time.Millisecond, nil)
	if !errors.Is(err, context.DeadlineExceeded) || s.Phase != view.Running {
		t.Errorf("wait: %+v %v", s, err)
	}
}
