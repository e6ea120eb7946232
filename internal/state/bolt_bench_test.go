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

// BenchmarkBoltSaveInventories saves an inventory entry of 14 objects for
// each of 1,000 tenants in the state file, one at a time and 16 at a
// time, as a cluster's target saves its tenants side by side. It reports
// the seconds per 1,000 saves.
func BenchmarkBoltSaveInventories(b *testing.B) {
	const tenants = 1000
	object := json.RawMessage(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x","labels":{"a":"b"}},"data":{"k":"` + strings.Repeat("v", 300) + `"}}`)
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
				entries := make(chan Entry)
				var wg sync.WaitGroup
				for range at {
					wg.Go(func() {
						for e := range entries {
							if err := s.Save(b.Context(), e); err != nil {
								b.Error(err)
							}
						}
					})
				}
				for i := range tenants {
					e := Entry{Tenant: fmt.Sprintf("tenant-%04d", i), Target: "kubernetes/x", Resources: map[string]json.RawMessage{}}
					for o := range 14 {
						e.Resources[fmt.Sprintf("v1/ConfigMap/%s/o%d-%d", e.Tenant, o, n)] = object
					}
					entries <- e
				}
				close(entries)
				wg.Wait()
			}
			b.ReportMetric(b.Elapsed().Seconds()/float64(n), "s/1000-saves")
		})
	}
}
