package reconcile

import (
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"

	"github.com/k3sync/k3sync/internal/loader"
	"github.com/k3sync/k3sync/internal/state"
	"github.com/k3sync/k3sync/internal/view"
)

// TestRevisionLoadedWithConfigOptions: the daemon judges a revision with
// the loader options from its configuration, so a tenant claiming k3sync's
// own namespace is an invalid revision, never applied.
func TestRevisionLoadedWithConfigOptions(t *testing.T) {
	repo := fstest.MapFS{
		"platform.cue":           {Data: []byte("package k3sync\n\nclusters: x: {region: \"r\", capacity: {cpu: \"1\", memory: \"1Gi\", pods: 10}}\nkafka: {}\ngateways: {}\npolicy: {}\n")},
		"tenants/ops/tenant.cue": {Data: []byte("package k3sync\n\nowners: [\"a\"]\nkubernetes: {clusters: [\"x\"], namespaces: \"ops-k3sync\": quota: {requests: {cpu: \"1\", memory: \"1Gi\"}, pods: 1}}\n")},
	}
	for _, tt := range []struct {
		name     string
		reserved []string
		want     []string
	}{
		{name: "no configuration"},
		{
			name:     "the state namespace",
			reserved: []string{"ops-k3sync"},
			want:     []string{`tenants/ops/tenant.cue:4:43: kubernetes.namespaces."ops-k3sync": namespace "ops-k3sync" is reserved (k3sync's own namespace): no tenant may claim it`},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := New(oneCommit{repo}, nil, state.NewMemory(), Options{Loader: loader.Options{ReservedNamespaces: tt.reserved}})
			if tt.want == nil {
				// A valid revision goes on to be applied: stop at the
				// engine-less plan by loading the same way instead.
				if _, err := loader.LoadWith(t.Context(), repo, r.opts.Loader); err != nil {
					t.Fatalf("valid repo rejected: %v", err)
				}
				return
			}
			r.applyRevision(t.Context(), view.Commit{Hash: "c1"}, nil, state.TriggerStartup)
			r.mu.Lock()
			got := r.snap.validationErrors
			r.mu.Unlock()
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("validation errors (-want +got):\n%s", diff)
			}
		})
	}
}
