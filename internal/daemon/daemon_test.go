package daemon

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/k3sync/k3sync/internal/config"
	"github.com/k3sync/k3sync/internal/kongemu"
	"github.com/k3sync/k3sync/internal/plan"
	"github.com/k3sync/k3sync/internal/reconcile"
	"github.com/k3sync/k3sync/internal/render"
	k8starget "github.com/k3sync/k3sync/internal/target/kubernetes"
	"github.com/k3sync/k3sync/internal/testenv/gitserver"
	kafkaenv "github.com/k3sync/k3sync/internal/testenv/kafka"
	"github.com/k3sync/k3sync/internal/testenv/kube"
	"github.com/k3sync/k3sync/internal/testenv/repogen"
	"github.com/k3sync/k3sync/internal/testenv/syncbuf"
	"github.com/k3sync/k3sync/internal/view"
)

const exampleRepo = "../../examples/platform-repo"

// peers are every system the example repo uses, real or protocol-real.
type peers struct {
	clusters map[string]kubernetes.Interface
	// kafka is the Kafka cluster "main" (kfake), unless the peers were
	// started withKafkaBroker: then broker is, behind a counting proxy.
	kafka     *kfake.Cluster
	broker    *kafkaenv.Cluster
	kafkaWrts atomic.Int64
	kong      *kongemu.Server
	kongURL   string
	repo      *gitserver.Repo
	cfg       *config.Config
}

// kafkaWriteKeys are the Kafka requests that change the cluster.
var kafkaWriteKeys = map[int16]bool{
	kmsg.CreateTopics.Int16(): true, kmsg.DeleteTopics.Int16(): true, kmsg.CreatePartitions.Int16(): true,
	kmsg.IncrementalAlterConfigs.Int16(): true, kmsg.AlterConfigs.Int16(): true, kmsg.CreateACLs.Int16(): true,
	kmsg.DeleteACLs.Int16(): true, kmsg.AlterClientQuotas.Int16(): true, kmsg.AlterUserSCRAMCredentials.Int16(): true,
}

// peerOption chooses a peer other than the default.
type peerOption func(*peerOptions)

type peerOptions struct {
	broker *kafkaenv.Options
}

// withKafkaBroker makes the Kafka cluster "main" a real Apache Kafka
// cluster started with opts (SASL_PLAINTEXT, SCRAM-SHA-512, the
// StandardAuthorizer), which k3sync reaches as its super user through a
// proxy that counts the writes (kafkaProxy). Without it, main is kfake.
func withKafkaBroker(opts kafkaenv.Options) peerOption {
	return func(o *peerOptions) { o.broker = &opts }
}

// startKfake starts a 3-broker kfake cluster until the test ends, counting
// the write requests it gets (kafkaWriteKeys) in writes.
func startKfake(t testing.TB, writes *atomic.Int64, opts ...kfake.Opt) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(3)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	c.Control(func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		if kafkaWriteKeys[req.Key()] {
			writes.Add(1)
		}
		return nil, nil, false
	})
	return c
}

// startPeers starts every peer; with tenants > 0 the repo holds that many
// generated tenants instead of the example.
func startPeers(t testing.TB, tenants int, opts ...peerOption) *peers {
	t.Helper()
	var o peerOptions
	for _, opt := range opts {
		opt(&o)
	}
	p := &peers{clusters: map[string]kubernetes.Interface{}}
	var kafkaCfg config.Kafka
	if o.broker != nil {
		// Before the apiservers: 3 JVMs start faster on idle cores.
		p.broker = kafkaenv.StartT(t, *o.broker)
		t.Logf("kafka broker(s) started in %s", p.broker.StartupTime().Round(time.Millisecond))
		proxy := startKafkaProxy(t, p.broker.Bootstrap(), func(key int16) {
			if kafkaWriteKeys[key] {
				p.kafkaWrts.Add(1)
			}
		})
		user, password := p.broker.AdminUser()
		file := filepath.Join(t.TempDir(), "kafka-password")
		if err := os.WriteFile(file, []byte(password+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		kafkaCfg = config.Kafka{Brokers: proxy.Addrs(), SASL: &config.SASL{
			Mechanism: p.broker.Mechanism(), Username: user, Secret: config.Secret{PasswordFile: file},
		}}
	}
	cps := kube.StartT(t, 2)
	for i, name := range []string{"eu-west", "us-east"} {
		cs, err := kubernetes.NewForConfig(cps[i].RESTConfig())
		if err != nil {
			t.Fatal(err)
		}
		p.clusters[name] = cs
	}
	var err error
	if p.broker == nil {
		p.kafka = startKfake(t, &p.kafkaWrts)
		kafkaCfg = config.Kafka{Brokers: p.kafka.ListenAddrs()}
	}
	p.kong = kongemu.New(kongemu.Options{})
	if p.kongURL, err = p.kong.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	p.repo = gitserver.NewRepo(t, root, "platform.git")
	if tenants > 0 {
		if err := repogen.WriteDir(p.repo.Work, repogen.Options{Tenants: tenants}); err != nil {
			t.Fatal(err)
		}
	} else {
		p.repo.CopyDir(exampleRepo)
	}
	p.repo.Commit("Import the platform repo")
	git := gitserver.NewHTTP(t, root)
	dir := t.TempDir()
	// Local apiservers take far more than client-go's default 5 QPS; the
	// limit is what a user tunes per cluster.
	const qps = 2000
	p.cfg = &config.Config{
		Clusters: map[string]config.Cluster{
			"eu-west": {Kubeconfig: cps[0].KubeconfigPath(), QPS: qps, Burst: 2 * int(qps), Concurrency: 16},
			"us-east": {Kubeconfig: cps[1].KubeconfigPath(), QPS: qps, Burst: 2 * int(qps), Concurrency: 16},
		},
		Kafka:    map[string]config.Kafka{"main": kafkaCfg},
		Gateways: map[string]config.Gateway{"edge": {AdminURL: p.kongURL}},
		State:    config.State{Path: filepath.Join(dir, "state.db")},
		Git:      config.Git{URL: git.RepoURL("platform.git"), Branch: "main", Interval: config.Duration{Duration: time.Hour}, Dir: filepath.Join(dir, "clone")},
	}
	return p
}

// startDaemon starts every peer with the example repo and a daemon on
// them whose clock runs from a weekday (see weekdayClock).
func startDaemon(t *testing.T, opts ...peerOption) (*peers, *Daemon) {
	t.Helper()
	p := startPeers(t, 0, opts...)
	d, err := New(p.cfg, Options{Now: weekdayClock()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	return p, d
}

func (p *peers) writes(d *Daemon) (k8s, kafka, kong int64) {
	for _, t := range d.Targets() {
		if kt, ok := t.(*k8starget.Target); ok {
			k8s += kt.Stats().Writes.Load()
		}
	}
	return k8s, p.kafkaWrts.Load(), int64(p.kong.Writes())
}

// weekdayClock runs from a Tuesday noon (UTC): the example repo's payments
// tenant has a deny sync window over weekends, which must not make the
// tests depend on the day they run.
func weekdayClock() func() time.Time {
	base, start := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC), time.Now()
	return func() time.Time { return base.Add(time.Since(start)) }
}

func fileHash(t testing.TB, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

func states(o view.Overview) map[string]view.State {
	out := map[string]view.State{}
	for _, t := range o.Tenants {
		out[t.Name] = t.State
	}
	return out
}

// TestEndToEnd follows the example repo through a commit, a no-op
// revision, out-of-band edits in every system, a drift check with the
// revert policy, and an invalid commit.
func TestEndToEnd(t *testing.T) {
	p, d := startDaemon(t)
	ctx := t.Context()
	rec := d.Reconciler

	// Commit → poll → apply to two clusters, Kafka and Kong.
	rec.PollOnce(ctx)
	o, err := rec.Overview(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]view.State{"analytics": view.Suspended, "checkout": view.Synced, "payments": view.Synced, "search": view.Synced}
	if got := states(o); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("after the first sync: %v, want %v", got, want)
	}
	for name, cs := range p.clusters {
		if _, err := cs.CoreV1().Namespaces().Get(ctx, "search", metav1.GetOptions{}); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	adm := kadm.NewClient(mustKgo(t, p.kafka.ListenAddrs()))
	topics, err := adm.ListTopics(ctx)
	if err != nil || !topics.Has("payments.transactions") || topics.Has("analytics.sessions") {
		t.Errorf("kafka topics: %v (%v); analytics is suspended", topics.Names(), err)
	}
	if n := p.kong.Count("services"); n != 3 {
		t.Errorf("kong services: %d, want 3", n)
	}
	if err := rec.Ready(); err != nil {
		t.Errorf("not ready after the first sync: %v", err)
	}

	// A commit that changes a tenant's file but nothing any system sees
	// is planned and writes nothing: not to Kubernetes, Kafka or Kong, not
	// to the state file.
	k0, ka0, ko0 := p.writes(d)
	h0 := fileHash(t, p.cfg.State.Path)
	for _, tenant := range []string{"payments", "search"} {
		f := "tenants/" + tenant + "/tenant.cue"
		p.repo.WriteFile(f, readFile(t, filepath.Join(p.repo.Work, f))+"\n// Reviewed by the platform team.\n")
	}
	p.repo.Commit("Review payments and search")
	rec.PollOnce(ctx)
	if k, ka, ko := p.writes(d); k != k0 || ka != ka0 || ko != ko0 {
		t.Errorf("no-op revision wrote: kubernetes %d, kafka %d, kong %d", k-k0, ka-ka0, ko-ko0)
	}
	if fileHash(t, p.cfg.State.Path) != h0 {
		t.Error("no-op revision wrote to the state file")
	}

	// Out-of-band edits in every system.
	for _, ns := range []string{"payments", "checkout"} {
		cs := p.clusters["eu-west"]
		rq, err := cs.CoreV1().ResourceQuotas(ns).Get(ctx, render.QuotaName, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		rq.Spec.Hard[corev1.ResourceRequestsCPU] = resource.MustParse("1")
		if _, err := cs.CoreV1().ResourceQuotas(ns).Update(ctx, rq, metav1.UpdateOptions{FieldManager: "kubectl-edit"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "retention.ms", Value: kadm.StringPtr("1000")}}, "payments.transactions"); err != nil {
		t.Fatal(err)
	}
	patchKong(t, p.kongURL+"/routes/payments-public", `{"paths":["/payments/hijacked"]}`)

	// The next scheduled check reports every drift and reverts payments'
	// (drift policy revert); checkout only reports.
	rec.CheckDrift(ctx, "")
	drift, err := rec.Drift(ctx)
	if err != nil {
		t.Fatal(err)
	}
	bySystem := map[string]map[plan.System]bool{}
	for _, dr := range drift {
		for _, it := range dr.Items {
			if bySystem[dr.Tenant] == nil {
				bySystem[dr.Tenant] = map[plan.System]bool{}
			}
			bySystem[dr.Tenant][it.System] = true
		}
	}
	if got := fmt.Sprint(bySystem); got != "map[checkout:map[kubernetes:true] payments:map[kafka:true kong:true kubernetes:true]]" {
		t.Errorf("drift report by tenant and system: %s", got)
	}
	quota := func(ns string) string {
		rq, err := p.clusters["eu-west"].CoreV1().ResourceQuotas(ns).Get(ctx, render.QuotaName, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		q := rq.Spec.Hard[corev1.ResourceRequestsCPU]
		return q.String()
	}
	if got := quota("payments"); got != "8" {
		t.Errorf("payments quota not reverted: %s", got)
	}
	if got := quota("checkout"); got != "1" {
		t.Errorf("checkout (report policy) was changed: %s", got)
	}
	rc, err := adm.DescribeTopicConfigs(ctx, "payments.transactions")
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := rc.On("payments.transactions", nil); !hasConfig(v.Configs, "retention.ms", "604800000") {
		t.Errorf("kafka retention.ms not reverted")
	}
	if !strings.Contains(getKong(t, p.kongURL+"/routes/payments-public"), `"/payments"`) {
		t.Error("kong route not reverted")
	}
	o, _ = rec.Overview(ctx)
	if got := states(o); got["checkout"] != view.Drifted || got["payments"] != view.Synced {
		t.Errorf("after the check: %v", got)
	}
	// A second check keeps when checkout's drift was first seen.
	first := firstSeen(t, rec, "checkout")
	rec.CheckDrift(ctx, "")
	if again := firstSeen(t, rec, "checkout"); !again.Equal(first) {
		t.Errorf("first-seen moved from %s to %s", first, again)
	}

	// An invalid commit is reported with its position and changes nothing.
	good := o.Revision.Hash
	p.repo.WriteFile("tenants/search/tenant.cue", "package k3sync\n\nowners: []\n")
	p.repo.Commit("Break search")
	k0, ka0, ko0 = p.writes(d)
	rec.PollOnce(ctx)
	o, _ = rec.Overview(ctx)
	if len(o.ValidationErrors) == 0 || !strings.HasPrefix(o.ValidationErrors[0], "tenants/search/tenant.cue:3:9: owners:") {
		t.Errorf("validation errors: %q", o.ValidationErrors)
	}
	if k, ka, ko := p.writes(d); k != k0 || ka != ka0 || ko != ko0 {
		t.Error("an invalid commit was applied")
	}
	if _, err := p.clusters["us-east"].CoreV1().Namespaces().Get(ctx, "search-indexer", metav1.GetOptions{}); err != nil {
		t.Errorf("the last valid revision's resources are gone: %v", err)
	}
	if o.Revision.Hash == good {
		t.Error("overview does not show the newest revision")
	}
}

func firstSeen(t *testing.T, rec *reconcile.Reconciler, tenant string) time.Time {
	t.Helper()
	drift, err := rec.Drift(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range drift {
		if d.Tenant == tenant && len(d.Items) > 0 {
			return d.Items[0].FirstSeen
		}
	}
	t.Fatalf("no drift for %s", tenant)
	return time.Time{}
}

func mustKgo(t testing.TB, brokers []string) *kgo.Client {
	t.Helper()
	c, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func hasConfig(cs []kadm.Config, key, value string) bool {
	for _, c := range cs {
		if c.Key == key && c.Value != nil && *c.Value == value {
			return true
		}
	}
	return false
}

func patchKong(t *testing.T, url, body string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPatch, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("PATCH %s: %s", url, resp.Status)
	}
}

func getKong(t *testing.T, url string) string {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestDaemonLogsThroughItsLogger: every line the daemon logs, the Git
// poller's included, goes to the logger it was given, in that logger's
// format; none goes to the process's default logger as plain text.
func TestDaemonLogsThroughItsLogger(t *testing.T) {
	p := startPeers(t, 0)
	var out syncbuf.Buffer
	d, err := New(p.cfg, Options{Now: weekdayClock(), Logger: slog.New(slog.NewJSONHandler(&out, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	d.Reconciler.PollOnce(t.Context())
	msgs := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var rec struct{ Msg string }
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("not a JSON log line: %q", line)
		}
		msgs[rec.Msg] = true
	}
	for _, want := range []string{"git branch moved", "revision applied"} {
		if !msgs[want] {
			t.Errorf("no %q in the daemon's log; got %v", want, msgs)
		}
	}
}
