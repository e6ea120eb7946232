package daemon

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/k3sync/k3sync/internal/testenv/kube"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/k3sync/k3sync/internal/kongemu"
	"github.com/k3sync/k3sync/internal/testenv/gitserver"
	"github.com/k3sync/k3sync/internal/testenv/repogen"
)

// BenchmarkServeBinary1000Tenants runs the k3sync binary (`k3sync serve`)
// on 1,000 generated tenants against real peers in other processes or
// this one, and reports the time to its first completed sync and the
// binary's own peak RSS (VmHWM), which the in-process benchmark cannot
// separate from the peers.
func BenchmarkServeBinary1000Tenants(b *testing.B) {
	for b.Loop() {
		bin := buildK3sync(b)
		cps := kube.StartT(b, 2)
		kc, err := kfake.NewCluster(kfake.NumBrokers(3))
		if err != nil {
			b.Fatal(err)
		}
		kongURL, err := kongemu.New(kongemu.Options{}).Start(b.Context())
		if err != nil {
			b.Fatal(err)
		}
		root := b.TempDir()
		repo := gitserver.NewRepo(b, root, "platform.git")
		if err := repogen.WriteDir(repo.Work, repogen.Options{Tenants: 1000}); err != nil {
			b.Fatal(err)
		}
		repo.Commit("Generated tenants")
		dir := b.TempDir()
		listen := freeAddr(b)
		brokers, _ := json.Marshal(kc.ListenAddrs())
		cfg := filepath.Join(dir, "k3sync.yaml")
		if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`clusters:
  eu-west: {kubeconfig: %q, qps: 2000, burst: 4000, concurrency: 16}
  us-east: {kubeconfig: %q, qps: 2000, burst: 4000, concurrency: 16}
kafka:
  main: {brokers: %s}
gateways:
  edge: {adminURL: %q}
state: {path: %q}
git: {url: %q, interval: 1h, dir: %q}
server: {listen: %q}
`, cps[0].KubeconfigPath(), cps[1].KubeconfigPath(), brokers, kongURL, filepath.Join(dir, "state.db"),
			repo.FileURL(), filepath.Join(dir, "clone"), listen)), 0o600); err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		cmd := startServe(b, bin, cfg)
		waitFor(b, 10*time.Minute, "the first sync", func() bool {
			req, _ := http.NewRequestWithContext(b.Context(), http.MethodGet, "http://"+listen+"/readyz", nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return false
			}
			resp.Body.Close()
			return resp.StatusCode == http.StatusOK
		})
		b.ReportMetric(time.Since(start).Seconds(), "first-sync-s")
		b.ReportMetric(vmHWM(b, cmd.Process.Pid), "serve-peak-rss-MiB")
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		kc.Close()
	}
}

func vmHWM(b *testing.B, pid int) float64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 64)
			return kb / 1024
		}
	}
	return 0
}
