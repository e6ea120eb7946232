package state

import (
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// BenchmarkBoltRecordRuns records a run for each of 1,000 tenants in the
// state file, as a first sync does: one at a time, as the reconciler did,
// and 16 at a time, as it does (runs added at the same time share a
// transaction and its fsync). It reports the seconds per 1,000 runs.
func BenchmarkBoltRecordRuns(b *testing.B) {
	const tenants = 1000
	for _, at := range []int{1, 16} {
		b.Run(fmt.Sprintf("%d-at-a-time", at), func(b *testing.B) {
			s, err := OpenBolt(filepath.Join(b.TempDir(), "state.db"), time.Second)
			if err != nil {
				b.Fatal(err)
			}
			defer func() { _ = s.Close() }()
			n := 0
			for b.Loop() {
				n++
				runs := make(chan Run)
				var wg sync.WaitGroup
				for range at {
					wg.Go(func() {
						for r := range runs {
							if err := s.AddRun(b.Context(), r); err != nil {
								b.Error(err)
							}
						}
					})
				}
				for i := range tenants {
					runs <- Run{ID: fmt.Sprintf("%04d-%04d", n, i), Tenant: fmt.Sprintf("tenant-%04d", i), Result: ResultSynced}
				}
				close(runs)
				wg.Wait()
			}
			b.ReportMetric(b.Elapsed().Seconds()/float64(n), "s/1000-runs")
		})
	}
}
