package daemon

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/k3sync/k3sync/internal/kongemu"
	"github.com/k3sync/k3sync/internal/render"
	"github.com/k3sync/k3sync/internal/server"
	"github.com/k3sync/k3sync/internal/state"
	"github.com/k3sync/k3sync/internal/testenv/gitserver"
	"github.com/k3sync/k3sync/internal/testenv/kube"
	"github.com/k3sync/k3sync/internal/testenv/repogen"
	"github.com/k3sync/k3sync/internal/view"
)

// soakDuration is how long BenchmarkSoak1000Tenants runs its load after
// the first sync: short by default so that `make bench` stays bounded;
// -soak.duration 30m is the soak of issue 19.
var soakDuration = flag.Duration("soak.duration", 2*time.Minute, "how long BenchmarkSoak1000Tenants runs its load")

// soakTenantsFlag shrinks the soak to try it out quickly.
var soakTenantsFlag = flag.Int("soak.tenants", 1000, "how many tenants BenchmarkSoak1000Tenants generates")

// The soak's rhythm.
const (
	soakCommitEvery = 10 * time.Second
	soakManualEvery = 20 * time.Second
	soakDriftEvery  = 30 * time.Second
	soakFaultEvery  = time.Minute
	soakFaultFor    = 15 * time.Second
	soakSampleEvery = 10 * time.Second
	// soakDriftSchedule is every tenant's drift check (policy revert).
	soakDriftSchedule = "@every 30s"
	// soakKubeTimeout is us-east's request timeout, so that a stalled
	// apiserver fails requests in seconds.
	soakKubeTimeout = 5 * time.Second
	soakRetention   = 604800000 // the generated topics' retention.ms
	// soakRevertWithin bounds how long a drift may stay live: several
	// drift checks, a fault's window, and a loaded machine (Kafka and
	// Kong drift were reverted within 15s to 2m6s on 2 busy cores).
	soakRevertWithin = 4 * time.Minute
	soakWebhookKey   = "soak-webhook-secret"
	soakOperatorKey  = "soak-operator-token"
)

// soakFault is one fault of the rotation: inject arms it and returns
// what clears it.
type soakFault struct {
	name   string
	inject func(p *soakPeers) (clear func())
}

var soakFaults = []soakFault{
	{"kubernetes us-east 500", func(p *soakPeers) func() {
		p.injectKube(kube.Fault{Method: http.MethodGet, Status: http.StatusInternalServerError})
		return p.proxy.ClearFaults
	}},
	{"kong 500", func(p *soakPeers) func() {
		p.kong.Inject(kongemu.Fault{Status: http.StatusInternalServerError})
		return p.kong.ClearFaults
	}},
	{"kafka REQUEST_TIMED_OUT", func(p *soakPeers) func() {
		h := p.kafka.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.CreateTopics, kmsg.IncrementalAlterConfigs, kmsg.AlterConfigs,
			kmsg.DescribeConfigs, kmsg.CreateACLs, kmsg.AlterClientQuotas}, Err: kerr.RequestTimedOut, Count: -1})
		return h.Remove
	}},
	{"kubernetes us-east 429 Retry-After", func(p *soakPeers) func() {
		p.injectKube(kube.Fault{Status: http.StatusTooManyRequests, RetryAfter: time.Second})
		return p.proxy.ClearFaults
	}},
	{"kong slow (300ms)", func(p *soakPeers) func() {
		p.kong.Inject(kongemu.Fault{Latency: 300 * time.Millisecond})
		return p.kong.ClearFaults
	}},
	{"kubernetes us-east stall", func(p *soakPeers) func() {
		p.injectKube(kube.Fault{Method: http.MethodGet, Latency: time.Minute})
		return p.proxy.ClearFaults
	}},
}

// soakPeers are the soak's peers and what it changed.
type soakPeers struct {
	b        *testing.B
	clusters map[string]kubernetes.Interface // direct, not through the proxy
	proxy    *kube.FaultProxy                // in front of us-east
	kafka    *kfake.Cluster
	kafkaW   atomic.Int64
	adm      *kadm.Client
	kong     *kongemu.Server
	kongURL  string
	repo     *gitserver.Repo
	listen   string
	api      *server.Client
	rnd      *rand.Rand

	// What Git says, per changed tenant.
	tenantCUE map[string]string // as generated
	labels    map[string]int    // tenant → version of its cost-center label
	retention map[string]int    // tenant → retention.ms of <tenant>.events
	head      string

	drifts []*soakDrift
}

// soakDrift is one out-of-band change the drift check must revert.
type soakDrift struct {
	what     string
	at       time.Time
	reverted time.Duration // 0 until seen reverted
	check    func() bool   // reports whether live is what Git says again
}

func (p *soakPeers) injectKube(f kube.Fault) {
	if _, err := p.proxy.Inject(f); err != nil {
		p.b.Fatal(err)
	}
}

// BenchmarkSoak1000Tenants runs `k3sync serve` on 1,000 generated tenants
// (two real kube-apiservers, us-east behind a fault proxy; kfake; the
// Kong emulator) for -soak.duration (default 2m; issue 19 asks for 30m)
// after its first sync, with every tenant's drift checked every 30s
// (policy revert), and meanwhile: a commit changing one random tenant
// (a namespace label or a topic's retention) every 10s, announced by a
// signed Gitea push webhook; a manual sync of a random tenant through the
// API every 20s; an out-of-band change (a deleted quota, a topic config,
// a Kong route's paths) every 30s; and a fault every minute for 15s
// (apiserver 500/429/stall, Kong 500/slow, Kafka REQUEST_TIMED_OUT).
//
// At the end, faults cleared and two full syncs later, it fails unless
// the last full sync planned nothing on the latest commit (0 lost
// changes), wrote nothing to Kafka and Kong, every committed change is
// live, every out-of-band change is reverted (and was, by the drift
// checks, within soakRevertWithin), and the live systems hold exactly what
// they held after the first sync (no duplicated Namespaces, Secrets,
// quotas, RoleBindings, topics, ACLs, SCRAM users, Kong entities). It
// reports the serve process's RSS and goroutines, sampled every 10s.
func BenchmarkSoak1000Tenants(b *testing.B) {
	for b.Loop() {
		soak(b)
	}
}

func soak(b *testing.B) {
	soakTenants := *soakTenantsFlag
	p := &soakPeers{b: b, clusters: map[string]kubernetes.Interface{}, rnd: rand.New(rand.NewPCG(19, 1000)),
		tenantCUE: map[string]string{}, labels: map[string]int{}, retention: map[string]int{}}
	bin := buildK3sync(b)
	cps := kube.StartT(b, 2)
	p.proxy = kube.StartFaultProxyT(b, cps[1])
	for i, name := range []string{"eu-west", "us-east"} {
		cs, err := kubernetes.NewForConfig(cps[i].RESTConfig())
		if err != nil {
			b.Fatal(err)
		}
		p.clusters[name] = cs
	}
	p.kafka = startKfake(b, &p.kafkaW)
	cl, err := kgo.NewClient(kgo.SeedBrokers(p.kafka.ListenAddrs()...))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(cl.Close)
	p.adm = kadm.NewClient(cl)
	p.kong = kongemu.New(kongemu.Options{})
	if p.kongURL, err = p.kong.Start(b.Context()); err != nil {
		b.Fatal(err)
	}

	root := b.TempDir()
	p.repo = gitserver.NewRepo(b, root, "platform.git")
	if err := repogen.WriteDir(p.repo.Work, repogen.Options{Tenants: soakTenants}); err != nil {
		b.Fatal(err)
	}
	platform := readFile(b, filepath.Join(p.repo.Work, "platform.cue"))
	policy := fmt.Sprintf("policy: defaults: {drift: \"revert\", driftSchedule: %q}\n", soakDriftSchedule)
	if !strings.Contains(platform, "policy: {}\n") {
		b.Fatal("repogen's platform.cue has no `policy: {}` to replace")
	}
	p.repo.WriteFile("platform.cue", strings.Replace(platform, "policy: {}\n", policy, 1))
	p.head = p.repo.Commit("Generated tenants")

	dir := b.TempDir()
	p.listen = freeAddr(b)
	for name, v := range map[string]string{"token": soakOperatorKey, "gitea": soakWebhookKey} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(v), 0o600); err != nil {
			b.Fatal(err)
		}
	}
	brokers, _ := json.Marshal(p.kafka.ListenAddrs())
	cfg := filepath.Join(dir, "k3sync.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`clusters:
  eu-west: {kubeconfig: %q, qps: 2000, burst: 4000, concurrency: 16}
  us-east: {kubeconfig: %q, qps: 2000, burst: 4000, concurrency: 16, timeout: %s}
kafka:
  main: {brokers: %s}
gateways:
  edge: {adminURL: %q}
state: {path: %q}
git: {url: %q, branch: %s, interval: 1m, dir: %q}
server:
  listen: %q
  tokens: [{name: soak, role: operator, tokenFile: %q}]
  webhooks: {gitea: {secretFile: %q}}
`, cps[0].KubeconfigPath(), p.proxy.KubeconfigPath(), soakKubeTimeout, brokers, p.kongURL, filepath.Join(dir, "state.db"),
		p.repo.FileURL(), gitserver.Branch, filepath.Join(dir, "clone"), p.listen,
		filepath.Join(dir, "token"), filepath.Join(dir, "gitea"))), 0o600); err != nil {
		b.Fatal(err)
	}
	p.api = &server.Client{URL: "http://" + p.listen, Token: soakOperatorKey, HTTP: &http.Client{Timeout: time.Minute}}

	cmd := startServe(b, bin, cfg)
	pid := cmd.Process.Pid
	waitFor(b, 15*time.Minute, "the first sync", func() bool {
		return httpStatus(b.Context(), "http://"+p.listen+"/readyz") == http.StatusOK
	})
	// The first sync of each tenant is done; wait for the queue of the
	// first poll to drain (a full sync waits behind it).
	p.fullSync(30 * time.Minute)
	baseline := p.live()
	if baseline["kong consumers"] != soakTenants || baseline["kong key-auths"] != soakTenants {
		b.Fatalf("after the first sync: %v; want %d consumers with one key-auth each", baseline, soakTenants)
	}
	b.Logf("live after the first sync: %v", baseline)

	var rss, gor []float64
	sample := func() {
		rss = append(rss, vmRSS(b, pid))
		gor = append(gor, p.metric("go_goroutines"))
	}
	sample()
	var loopRSS []float64 // the samples during the load
	var commits, manual, manualBusy, faults int
	start := time.Now()
	next := map[string]time.Time{
		"commit": start.Add(soakCommitEvery), "manual": start.Add(soakManualEvery), "drift": start.Add(soakDriftEvery / 2),
		"fault": start.Add(soakFaultEvery / 2), "sample": start.Add(soakSampleEvery),
	}
	var clearFault func()
	var faultEnds time.Time
	for now := time.Now(); now.Sub(start) < *soakDuration; now = time.Now() {
		if clearFault != nil && now.After(faultEnds) {
			clearFault()
			clearFault = nil
		}
		if now.After(next["fault"]) {
			f := soakFaults[faults%len(soakFaults)]
			b.Logf("%s: fault %q for %s", now.Sub(start).Round(time.Second), f.name, soakFaultFor)
			clearFault = f.inject(p)
			faultEnds = now.Add(soakFaultFor)
			faults++
			next["fault"] = next["fault"].Add(soakFaultEvery)
		}
		if now.After(next["commit"]) {
			p.commitChange(commits)
			commits++
			next["commit"] = next["commit"].Add(soakCommitEvery)
		}
		if now.After(next["manual"]) {
			if p.manualSync() {
				manual++
			} else {
				manualBusy++
			}
			next["manual"] = next["manual"].Add(soakManualEvery)
		}
		if now.After(next["drift"]) {
			p.drift(len(p.drifts))
			next["drift"] = next["drift"].Add(soakDriftEvery)
		}
		if now.After(next["sample"]) {
			sample()
			loopRSS = append(loopRSS, rss[len(rss)-1])
			p.checkDrifts()
			next["sample"] = next["sample"].Add(soakSampleEvery)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if clearFault != nil {
		clearFault()
	}
	p.checkDrifts()
	revertedByDaemon := 0
	var slowest time.Duration
	for _, d := range p.drifts {
		if d.reverted > 0 {
			revertedByDaemon++
			slowest = max(slowest, d.reverted)
			b.Logf("drift reverted within %s: %s", d.reverted.Round(time.Second), d.what)
		} else if age := time.Since(d.at); age > soakRevertWithin {
			b.Errorf("drift not reverted by the drift checks in %s: %s", age.Round(time.Second), d.what)
		} else {
			b.Logf("drift not reverted yet before the final sync (%s ago): %s", age.Round(time.Second), d.what)
		}
	}

	// The end: two full syncs of the latest commit; the second must find
	// nothing to do.
	p.fullSync(15 * time.Minute)
	k0, ko0 := p.kafkaW.Load(), p.kong.Writes()
	last := p.fullSync(15 * time.Minute)
	sample()
	var pending []string
	for _, r := range last.Runs {
		if r.Revision != p.head {
			b.Errorf("%s: the final sync ran revision %.12s, not the latest commit %.12s", r.Tenant, r.Revision, p.head)
		}
		if r.Result != state.ResultSynced || len(r.Changes) > 0 {
			pending = append(pending, fmt.Sprintf("%s: %s, %d changes %s", r.Tenant, r.Result, len(r.Changes), soakChanges(r)))
		}
	}
	if len(last.Runs) != soakTenants {
		b.Errorf("the final sync ran %d tenants, want %d", len(last.Runs), soakTenants)
	}
	if len(pending) > 0 {
		b.Errorf("%d tenants had changes left after the soak (lost changes or unreverted drift), e.g.:\n%s",
			len(pending), strings.Join(pending[:min(len(pending), 10)], "\n"))
	}
	if k, ko := p.kafkaW.Load()-k0, p.kong.Writes()-ko0; k != 0 || ko != 0 {
		b.Errorf("the final no-op sync wrote: kafka %d requests, kong %d", k, ko)
	}
	p.checkCommitted()
	p.checkDrifts()
	for _, d := range p.drifts {
		if d.reverted == 0 {
			b.Errorf("drift still live after the final sync: %s", d.what)
		}
	}
	if diff := cmp.Diff(baseline, p.live()); diff != "" {
		b.Errorf("live systems after the soak (-after the first sync +at the end):\n%s", diff)
	}

	// A failed benchmark prints no metrics: log them too.
	var figures []string
	report := func(v float64, unit string) {
		b.ReportMetric(v, unit)
		figures = append(figures, fmt.Sprintf("%.1f %s", v, unit))
	}
	report(rss[0], "rss-start-MiB")
	report(rss[len(rss)-1], "rss-end-MiB")
	report(slices.Max(rss), "rss-max-MiB")
	if q := len(loopRSS) / 4; q > 0 {
		// RSS swings with the sync or drift check in flight when it is
		// sampled; the floor of the first and the last quarter of the
		// load is what a leak would raise.
		report(slices.Min(loopRSS[:q]), "rss-floor-first-MiB")
		report(slices.Min(loopRSS[len(loopRSS)-q:]), "rss-floor-last-MiB")
	}
	report(gor[0], "goroutines-start")
	report(gor[len(gor)-1], "goroutines-end")
	report(slices.Max(gor), "goroutines-max")
	report(float64(commits), "commits")
	report(float64(manual), "manual-syncs")
	report(float64(faults), "faults")
	report(float64(len(p.drifts)), "drifts")
	report(float64(revertedByDaemon), "drifts-reverted")
	report(slowest.Seconds(), "drift-revert-max-s")
	report(vmHWM(b, pid), "rss-peak-MiB")
	b.Logf("figures: %s", strings.Join(figures, ", "))
	b.Logf("soak %s: RSS MiB %v; goroutines %v; %d manual syncs refused busy", *soakDuration, soakRound(rss), gor, manualBusy)
	_ = cmd.Process.Signal(syscall.SIGTERM)
	_ = cmd.Wait()
}

// fullSync triggers a sync of every tenant through the API and waits for
// it.
func (p *soakPeers) fullSync(limit time.Duration) view.Sync {
	p.b.Helper()
	ctx, cancel := context.WithTimeout(p.b.Context(), limit)
	defer cancel()
	var sy view.Sync
	var err error
	for {
		sy, err = p.api.Trigger(ctx, view.TriggerRequest{Who: "soak"})
		var ae *server.APIError
		if err == nil || !errors.As(err, &ae) || ae.StatusCode != http.StatusTooManyRequests {
			break
		}
		time.Sleep(time.Second)
	}
	if err != nil {
		p.b.Fatal(err)
	}
	done, err := p.api.Wait(ctx, sy.ID, time.Second, nil)
	if err != nil {
		p.b.Fatal(err)
	}
	if done.Error != "" {
		p.b.Fatalf("full sync %s: %s", done.ID, done.Error)
	}
	return done
}

// commitChange commits one change to a random tenant, alternately its
// namespace's cost-center label and its events topic's retention, and
// sends Gitea's push webhook.
func (p *soakPeers) commitChange(n int) {
	b := p.b
	tenant := repogen.TenantName(p.rnd.IntN(*soakTenantsFlag))
	file := "tenants/" + tenant + "/tenant.cue"
	if _, ok := p.tenantCUE[tenant]; !ok {
		p.tenantCUE[tenant] = readFile(b, filepath.Join(p.repo.Work, file))
	}
	if n%2 == 0 {
		p.labels[tenant]++
	} else {
		p.retention[tenant] = soakRetention + 1000*(n+1)
	}
	cue := p.tenantCUE[tenant]
	if v, ok := p.labels[tenant]; ok {
		cue = replaceOnce(b, cue, fmt.Sprintf(`"cost-center": %q`, tenant), fmt.Sprintf(`"cost-center": "%s-v%d"`, tenant, v))
	}
	if v, ok := p.retention[tenant]; ok {
		cue = replaceOnce(b, cue, fmt.Sprintf(`"retention.ms": %d`, soakRetention), fmt.Sprintf(`"retention.ms": %d`, v))
	}
	p.repo.WriteFile(file, cue)
	p.head = p.repo.Commit(fmt.Sprintf("Soak change %d of %s", n, tenant))
	body := []byte(`{"ref": "refs/heads/` + gitserver.Branch + `"}`)
	mac := hmac.New(sha256.New, []byte(soakWebhookKey))
	mac.Write(body)
	req, _ := http.NewRequestWithContext(b.Context(), http.MethodPost, "http://"+p.listen+"/hooks/gitea", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Gitea-Event", "push")
	req.Header.Set("X-Gitea-Delivery", strconv.Itoa(n))
	req.Header.Set("X-Gitea-Signature", hex.EncodeToString(mac.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatalf("gitea webhook: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		b.Errorf("gitea push webhook: %s", resp.Status)
	}
}

// manualSync asks for a sync of a random tenant; false when the queue
// was full (429), which is the API's documented answer under load.
func (p *soakPeers) manualSync() bool {
	tenant := repogen.TenantName(p.rnd.IntN(*soakTenantsFlag))
	ctx, cancel := context.WithTimeout(p.b.Context(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, p.api.URL+"/api/v1/tenants/"+url.PathEscape(tenant)+"/sync", strings.NewReader(`{"who": "soak"}`))
	req.Header.Set("Authorization", "Bearer "+soakOperatorKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.b.Errorf("manual sync of %s: %v", tenant, err)
		return false
	}
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusAccepted:
		return true
	case http.StatusTooManyRequests:
		return false
	}
	p.b.Errorf("manual sync of %s: %s %s", tenant, resp.Status, raw)
	return false
}

// drift changes a random tenant out of band, in turn: deletes its quota
// on eu-west, sets its events topic's retention, or changes its read
// route's paths.
func (p *soakPeers) drift(n int) {
	b := p.b
	ctx := b.Context()
	tenant := repogen.TenantName(p.rnd.IntN(*soakTenantsFlag))
	d := &soakDrift{at: time.Now()}
	switch n % 3 {
	case 0:
		d.what = "quota of namespace " + tenant + " on eu-west deleted"
		quotas := p.clusters["eu-west"].CoreV1().ResourceQuotas(tenant)
		if err := quotas.Delete(ctx, render.QuotaName, metav1.DeleteOptions{}); err != nil {
			b.Fatalf("drift: %v", err)
		}
		d.check = func() bool {
			_, err := quotas.Get(ctx, render.QuotaName, metav1.GetOptions{})
			if err != nil && !apierrors.IsNotFound(err) {
				b.Logf("drift check: %v", err)
			}
			return err == nil
		}
	case 1:
		topic := tenant + ".events"
		d.what = "retention.ms of topic " + topic + " set to 1234"
		v := "1234"
		rs, err := p.adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.ms", Value: &v}}, topic)
		if err == nil {
			var r kadm.AlterConfigsResponse
			r, err = rs.On(topic, nil)
			if err == nil {
				err = r.Err
			}
		}
		if err != nil {
			b.Fatalf("drift: %v", err)
		}
		d.check = func() bool { return p.topicRetention(topic) == p.wantRetention(tenant) }
	case 2:
		route := tenant + "-read"
		d.what = "paths of Kong route " + route + " changed"
		if code := p.kongCall(http.MethodPatch, "/routes/"+route, `{"paths": ["/drifted"]}`, nil); code != http.StatusOK {
			b.Fatalf("drift: PATCH route %s: %d", route, code)
		}
		d.check = func() bool {
			var r struct{ Paths []string }
			return p.kongCall(http.MethodGet, "/routes/"+route, "", &r) == http.StatusOK && slices.Equal(r.Paths, []string{"/" + tenant})
		}
	}
	p.drifts = append(p.drifts, d)
}

// checkDrifts marks the drifts seen reverted.
func (p *soakPeers) checkDrifts() {
	for _, d := range p.drifts {
		if d.reverted == 0 && d.check() {
			d.reverted = time.Since(d.at)
		}
	}
}

// checkCommitted checks that every committed change is live.
func (p *soakPeers) checkCommitted() {
	b := p.b
	for tenant, v := range p.labels {
		want := fmt.Sprintf("%s-v%d", tenant, v)
		for name, cs := range p.clusters {
			ns, err := cs.CoreV1().Namespaces().Get(b.Context(), tenant, metav1.GetOptions{})
			if err != nil {
				b.Fatal(err)
			}
			if got := ns.Labels["cost-center"]; got != want {
				b.Errorf("lost change: namespace %s on %s has cost-center %q, Git says %q", tenant, name, got, want)
			}
		}
	}
	for tenant := range p.retention {
		if got, want := p.topicRetention(tenant+".events"), p.wantRetention(tenant); got != want {
			b.Errorf("lost change: topic %s.events has retention.ms %q, Git says %q", tenant, got, want)
		}
	}
}

func (p *soakPeers) wantRetention(tenant string) string {
	if v, ok := p.retention[tenant]; ok {
		return strconv.Itoa(v)
	}
	return strconv.Itoa(soakRetention)
}

func (p *soakPeers) topicRetention(topic string) string {
	rcs, err := p.adm.DescribeTopicConfigs(p.b.Context(), topic)
	if err != nil {
		p.b.Logf("describe %s: %v", topic, err)
		return ""
	}
	for _, rc := range rcs {
		for _, c := range rc.Configs {
			if c.Key == "retention.ms" && c.Value != nil {
				return *c.Value
			}
		}
	}
	return ""
}

func (p *soakPeers) kongCall(method, path, body string, out any) int {
	req, _ := http.NewRequestWithContext(p.b.Context(), method, p.kongURL+path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.b.Logf("%s %s: %v", method, path, err)
		return 0
	}
	defer resp.Body.Close()
	if out != nil {
		_ = json.NewDecoder(resp.Body).Decode(out)
	}
	return resp.StatusCode
}

// live counts what exists, with faultPeers.live's countLive: Namespaces, Secrets
// in them, quotas and RoleBindings on both clusters; topics, ACLs and
// SCRAM users; Kong's entities.
func (p *soakPeers) live() map[string]int {
	return countLive(p.b, p.clusters, p.adm, p.kong)
}

// metric reads one unlabelled sample of the serve process's /metrics.
func (p *soakPeers) metric(name string) float64 {
	return metricValue(p.b, "http://"+p.listen+"/metrics", name)
}

// vmRSS is a process's resident set, in MiB.
func vmRSS(b *testing.B, pid int) float64 { return procStatusMiB(b, pid, "VmRSS:") }

func httpStatus(ctx context.Context, u string) int {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func replaceOnce(b *testing.B, s, old, new string) string {
	if !strings.Contains(s, old) {
		b.Fatalf("generated tenant has no %s", old)
	}
	return strings.Replace(s, old, new, 1)
}

func soakChanges(r state.Run) string {
	var out []string
	for _, c := range r.Changes[:min(len(r.Changes), 3)] {
		s := fmt.Sprintf("%s %s/%s", c.Action, c.Kind, c.Name)
		if c.Error != "" {
			s += ": " + c.Error
		}
		out = append(out, s)
	}
	if r.Message != "" {
		out = append(out, r.Message)
	}
	return "[" + strings.Join(out, "; ") + "]"
}

func soakRound(xs []float64) []float64 {
	out := make([]float64, len(xs))
	for i, x := range xs {
		out[i] = float64(int(x*10)) / 10
	}
	return out
}
