package metrics

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestForge(t *testing.T) {
	reg := prometheus.NewRegistry()
	f := NewForge(reg)
	f.ForgeRateLimited()
	f.ForgeStatusDropped("superseded")
	f.ForgeStatusDropped("superseded")
	f.ForgeStatusDropped("overflow")
	var none *Forge
	none.ForgeRateLimited()
	none.ForgeStatusDropped("overflow")
	want := `
# HELP k3sync_forge_rate_limited_total Rate limit answers of the forge (429, GitHub's 403 with rate limit headers); calls wait them out.
# TYPE k3sync_forge_rate_limited_total counter
k3sync_forge_rate_limited_total 1
# HELP k3sync_forge_statuses_dropped_total Commit statuses never posted: superseded by a newer one of the same commit and context, or overflow of the bounded queue.
# TYPE k3sync_forge_statuses_dropped_total counter
k3sync_forge_statuses_dropped_total{reason="overflow"} 1
k3sync_forge_statuses_dropped_total{reason="superseded"} 2
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
}
