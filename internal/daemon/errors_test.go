package daemon

import (
	"path/filepath"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/k3sync/k3sync/internal/view"
)

// TestTargetFailureMarksOnlyItsTenants: when the Kafka cluster refuses
// k3sync's reads, the tenants on it are failed with Kafka's error and the
// tenant without Kafka (search) is not.
func TestTargetFailureMarksOnlyItsTenants(t *testing.T) {
	p, d := startDaemon(t)
	ctx := t.Context()
	rec := d.Reconciler
	rec.PollOnce(ctx)
	p.kafka.ControlKey(kmsg.DescribeACLs.Int16(), func(req kmsg.Request) (kmsg.Response, error, bool) {
		p.kafka.KeepControl()
		resp := req.(*kmsg.DescribeACLsRequest).ResponseKind().(*kmsg.DescribeACLsResponse)
		resp.SetVersion(req.GetVersion())
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return resp, nil, true
	})
	// A platform change plans every tenant again.
	p.repo.WriteFile("platform.cue", readFile(t, filepath.Join(p.repo.Work, "platform.cue"))+"\n// Reviewed.\n")
	p.repo.Commit("Touch the platform")
	rec.PollOnce(ctx)
	o, err := rec.Overview(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := states(o)
	for name, want := range map[string]view.State{"search": view.Synced, "payments": view.Failed, "checkout": view.Failed} {
		if got[name] != want {
			t.Errorf("%s: %s, want %s (all: %v)", name, got[name], want, got)
		}
	}
	tv, err := rec.Tenant(ctx, "search")
	if err != nil {
		t.Fatal(err)
	}
	if len(tv.History) > 0 && tv.History[0].Result == "failed" {
		t.Errorf("search has a failed run for Kafka, which it does not use: %+v", tv.History[0])
	}
}
