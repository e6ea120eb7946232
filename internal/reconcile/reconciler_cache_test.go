package reconcile

import (
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"

	"github.com/k3sync/k3sync/internal/loader"
	"github.com/k3sync/k3sync/internal/state"
	"github.com/k3sync/k3sync/internal/view"
)

// TestRevisionEvaluatesChangedTenantsOnly: the reconciler loads each
// revision with its loader cache, so a commit that changes one tenant
// folder evaluates that folder only, and an unchanged tenant's error is
// still reported, at its line.
func TestRevisionEvaluatesChangedTenantsOnly(t *testing.T) {
	tenant := func(name, ns string) *fstest.MapFile {
		return &fstest.MapFile{Data: []byte("package k3sync\n\nowners: [\"a\"]\nkubernetes: {clusters: [\"x\"], namespaces: \"" + ns + "\": quota: {requests: {cpu: \"1\", memory: \"1Gi\"}, pods: 1}}\n")}
	}
	repo := fstest.MapFS{
		"platform.cue":           {Data: []byte("package k3sync\n\nclusters: x: {region: \"r\", capacity: {cpu: \"9\", memory: \"9Gi\", pods: 10}}\nkafka: {}\ngateways: {}\npolicy: {}\n")},
		"tenants/ops/tenant.cue": tenant("ops", "ops-k3sync"),
		"tenants/b/tenant.cue":   tenant("b", "b"),
		"tenants/c/tenant.cue":   tenant("c", "c"),
	}
	r := New(oneCommit{repo}, nil, state.NewMemory(), Options{Loader: loader.Options{ReservedNamespaces: []string{"ops-k3sync"}}})
	want := []string{`tenants/ops/tenant.cue:4:43: kubernetes.namespaces."ops-k3sync": namespace "ops-k3sync" is reserved (k3sync's own namespace): no tenant may claim it`}
	for i, rev := range []struct {
		edit      func()
		evaluated int
	}{
		{edit: func() {}, evaluated: 3},
		{edit: func() { repo["tenants/b/tenant.cue"] = tenant("b", "b-web") }, evaluated: 1},
		{edit: func() { repo["tenants/d/tenant.cue"] = tenant("d", "d") }, evaluated: 1},
	} {
		rev.edit()
		before := r.opts.Loader.Cache.Stats().Evaluated
		r.applyRevision(t.Context(), view.Commit{Hash: "c1"}, nil, state.TriggerStartup)
		if n := r.opts.Loader.Cache.Stats().Evaluated - before; n != rev.evaluated {
			t.Errorf("revision %d: evaluated %d tenant folders, want %d", i+1, n, rev.evaluated)
		}
		r.mu.Lock()
		got := r.snap.validationErrors
		r.mu.Unlock()
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("revision %d: validation errors (-want +got):\n%s", i+1, diff)
		}
	}
}
