package state

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// BenchmarkBoltRecordRuns records a run for each of 1,000 tenants in the
// state file, as a first sync does: one at a time, as the reconciler did,
// and 16 at a time, as it does (runs added at the same time share a
// transaction and its fsync). It reports the seconds per 1,000 runs.
func BenchmarkBoltRecordRuns(b *testing.B) {
	benchmarkSideBySide(b, "runs", func(s *Bolt, n, i int) error {
		return s.AddRun(b.Context(), Run{ID: fmt.Sprintf("%04d-%04d", n, i), Tenant: fmt.Sprintf("tenant-%04d", i), Result: ResultSynced})
	})
}

// BenchmarkBoltSaveInventories saves an inventory entry of 14 objects for
// each of 1,000 tenants in the state file, one at a time and 16 at a
// time, as a cluster's target saves its tenants side by side. It reports
// the seconds per 1,000 saves.
func BenchmarkBoltSaveInventories(b *testing.B) {
	object := json.RawMessage(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x","labels":{"a":"b"}},"data":{"k":"` + strings.Repeat("v", 300) + `"}}`)
	benchmarkSideBySide(b, "saves", func(s *Bolt, n, i int) error {
		e := Entry{Tenant: fmt.Sprintf("tenant-%04d", i), Target: "kubernetes/x", Resources: map[string]json.RawMessage{}}
		for o := range 14 {
			e.Resources[fmt.Sprintf("v1/ConfigMap/%s/o%d-%d", e.Tenant, o, n)] = object
		}
		return s.Save(b.Context(), e)
	})
}

// benchmarkSideBySide runs write for each of 1,000 tenants (i) in every
// round (n) on a new state file, one tenant at a time and 16 at a time,
// and reports the seconds per 1,000 writes.
func benchmarkSideBySide(b *testing.B, what string, write func(s *Bolt, n, i int) error) {
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
				work := make(chan int)
				var wg sync.WaitGroup
				for range at {
					wg.Go(func() {
						for i := range work {
							if err := write(s, n, i); err != nil {
								b.Error(err)
							}
						}
					})
				}
				for i := range tenants {
					work <- i
				}
				close(work)
				wg.Wait()
			}
			b.ReportMetric(b.Elapsed().Seconds()/float64(n), "s/1000-"+what)
		})
	}
}
