package daemon

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/k3sync/k3sync/internal/config"
	"github.com/k3sync/k3sync/internal/state"
	"github.com/k3sync/k3sync/internal/testenv/kube"
)

// TestStateClientRates: the client of the state's Secrets has rates of
// its own, state.qps and state.burst, 50 and 100 when unset, whatever the
// cluster's qps (which bounds the applies) says; client-go's 5 QPS held
// a first sync of many tenants behind its state writes for minutes.
func TestStateClientRates(t *testing.T) {
	kubeconfig := kube.UnreachableKubeconfigT(t)
	for _, tc := range []struct {
		name  string
		state config.State
		qps   float32
	}{
		{"default", config.State{}, stateQPS},
		{"set", config.State{QPS: 7, Burst: 9}, 7},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := &config.Config{Clusters: map[string]config.Cluster{"c": {Kubeconfig: kubeconfig, QPS: 1, Burst: 1}}}
			cfg.State = tc.state
			cfg.State.Backend, cfg.State.Namespace, cfg.State.Cluster = "kubernetes", "k3sync", "c"
			cs, err := stateClient(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if got := cs.CoreV1().RESTClient().GetRateLimiter().QPS(); got != tc.qps {
				t.Errorf("the state client sends %v requests a second; want %v", got, tc.qps)
			}
		})
	}
}

// BenchmarkKubeStateRecordRuns records a run for each of 100 tenants in
// the Kubernetes state backend on a real apiserver, as the reconciler
// does after a sync (16 tenants at a time; a read and a write of each
// tenant's journal Secret), through the state client k3sync builds: with
// client-go's default rates (5 QPS, burst 10, before state.qps) and with
// the state's default. It reports the seconds per 100 runs.
func BenchmarkKubeStateRecordRuns(b *testing.B) {
	cp := kube.StartT(b, 1)[0]
	cs := kube.ClientsetT(b, cp)
	kube.NamespaceT(b, cs, "k3sync")
	const tenants = 100
	for _, tc := range []struct {
		name  string
		rates config.State
	}{
		{"client-go-5qps", config.State{QPS: 5, Burst: 10}},
		{"state-default", config.State{}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			cfg := &config.Config{Clusters: map[string]config.Cluster{"c": {Kubeconfig: cp.KubeconfigPath()}}}
			cfg.State = tc.rates
			cfg.State.Backend, cfg.State.Namespace, cfg.State.Cluster = "kubernetes", "k3sync", "c"
			store, err := OpenState(cfg, 0)
			if err != nil {
				b.Fatal(err)
			}
			n := 0
			for b.Loop() {
				n++
				runs := make(chan state.Run)
				var wg sync.WaitGroup
				for range 16 {
					wg.Go(func() {
						for r := range runs {
							if err := store.AddRun(b.Context(), r); err != nil {
								b.Error(err)
							}
						}
					})
				}
				at := time.Now().UTC()
				for i := range tenants {
					runs <- state.Run{ID: fmt.Sprintf("%s-%d-%03d", tc.name, n, i), Tenant: fmt.Sprintf("t%03d", i), Result: state.ResultSynced, Started: at, Finished: at}
				}
				close(runs)
				wg.Wait()
			}
			b.ReportMetric(b.Elapsed().Seconds()/float64(n), "s/100-runs")
		})
	}
}

// BenchmarkDaemonKubeState1000Tenants is BenchmarkDaemon1000Tenants's
// first sync and no-op poll with the state in Secrets on one of the two
// apiservers (backend kubernetes, as replicas on Kubernetes keep it), at
// the state client's default rates and with state.qps 200: every
// tenant's inventory written once per target and its run recorded. state-requests counts the
// apiserver's GET, PUT and POST of Secrets during the first sync: the
// state's (the credential deliveries are server-side applies).
func BenchmarkDaemonKubeState1000Tenants(b *testing.B) {
	for _, qps := range []float32{0, 200} {
		name := "default-rates"
		if qps != 0 {
			name = fmt.Sprintf("state.qps=%v", qps)
		}
		b.Run(name, func(b *testing.B) { benchmarkDaemonKubeState(b, qps) })
	}
}

func benchmarkDaemonKubeState(b *testing.B, qps float32) {
	for b.Loop() {
		p := startPeers(b, 1000)
		kube.NamespaceT(b, p.clusters["us-east"], "k3sync")
		p.cfg.State = config.State{Backend: "kubernetes", Namespace: "k3sync", Cluster: "us-east", QPS: qps, Burst: 2 * int(qps)}
		d, err := New(p.cfg, Options{})
		if err != nil {
			b.Fatal(err)
		}
		requests0 := secretRequests(b, p.clusters["us-east"])
		start := time.Now()
		d.Reconciler.PollOnce(b.Context())
		first := time.Since(start)
		if err := d.Reconciler.Ready(); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(secretRequests(b, p.clusters["us-east"])-requests0, "state-requests")
		start = time.Now()
		d.Reconciler.PollOnce(b.Context())
		b.ReportMetric(first.Seconds(), "first-sync-s")
		b.ReportMetric(time.Since(start).Seconds(), "noop-poll-s")
		d.Close()
	}
}

// secretRequests sums the apiserver's apiserver_request_total of GET, PUT
// and POST of Secrets.
func secretRequests(b *testing.B, cs kubernetes.Interface) float64 {
	raw, err := cs.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(b.Context())
	if err != nil {
		b.Fatal(err)
	}
	n := 0.0
	for _, line := range strings.Split(string(raw), "\n") {
		if !strings.HasPrefix(line, "apiserver_request_total{") || !strings.Contains(line, `resource="secrets"`) {
			continue
		}
		if !strings.Contains(line, `verb="GET"`) && !strings.Contains(line, `verb="PUT"`) && !strings.Contains(line, `verb="POST"`) {
			continue
		}
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err == nil {
			n += v
		}
	}
	return n
}
