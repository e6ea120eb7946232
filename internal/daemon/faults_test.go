package daemon

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/scram"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/k3sync/k3sync/internal/config"
	"github.com/k3sync/k3sync/internal/kongemu"
	"github.com/k3sync/k3sync/internal/render"
	"github.com/k3sync/k3sync/internal/server"
	k8starget "github.com/k3sync/k3sync/internal/target/kubernetes"
	"github.com/k3sync/k3sync/internal/testenv/gitserver"
	"github.com/k3sync/k3sync/internal/testenv/kube"
	"github.com/k3sync/k3sync/internal/view"
)

// The Kafka login of the fault matrix (kfake's superuser).
const (
	faultKafkaUser     = "k3sync"
	faultKafkaPassword = "fault-matrix-secret"
	// faultKubeTimeout is us-east's request timeout: short, so that a
	// stalled apiserver fails the run in seconds, and longer than the
	// Retry-After waits, which client-go counts in it.
	faultKubeTimeout = 5 * time.Second
)

// faultPeers are the peers of TestFaultMatrix: the example repo's two
// clusters (us-east behind a fault proxy), kfake with SASL, the Kong
// emulator, and a daemon with its API served over HTTP.
type faultPeers struct {
	clusters map[string]kubernetes.Interface // direct, not through the proxy
	proxy    *kube.FaultProxy                // in front of us-east
	kafka    *kfake.Cluster
	adm      *kadm.Client
	kafkaW   atomic.Int64
	kong     *kongemu.Server
	kongURL  string
	repo     *gitserver.Repo
	cfg      *config.Config
	password string // the file k3sync reads its Kafka password from

	d       *Daemon
	now     func() time.Time             // the daemons' clock, kept across restarts
	handler atomic.Pointer[http.Handler] // the API of d
	api     *httptest.Server
	token   string
	touches int
}

func startFaultPeers(t *testing.T) *faultPeers {
	t.Helper()
	p := &faultPeers{clusters: map[string]kubernetes.Interface{}}
	cps := kube.StartT(t, 2)
	p.proxy = kube.StartFaultProxyT(t, cps[1])
	for i, name := range []string{"eu-west", "us-east"} {
		cs, err := kubernetes.NewForConfig(cps[i].RESTConfig())
		if err != nil {
			t.Fatal(err)
		}
		p.clusters[name] = cs
	}
	p.kafka = startKfake(t, &p.kafkaW, kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-512", faultKafkaUser, faultKafkaPassword))
	cl, err := kgo.NewClient(kgo.SeedBrokers(p.kafka.ListenAddrs()...),
		kgo.SASL(scram.Auth{User: faultKafkaUser, Pass: faultKafkaPassword}.AsSha512Mechanism()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	p.adm = kadm.NewClient(cl)
	p.kong = kongemu.New(kongemu.Options{})
	if p.kongURL, err = p.kong.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	p.repo = gitserver.NewRepo(t, root, "platform.git")
	p.repo.CopyDir(exampleRepo)
	p.repo.Commit("Import the platform repo")
	git := gitserver.NewHTTP(t, root)
	dir := t.TempDir()
	p.password = filepath.Join(dir, "kafka-password")
	p.setPassword(t, faultKafkaPassword)
	p.token = "fault-matrix-viewer"
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte(p.token), 0o600); err != nil {
		t.Fatal(err)
	}
	const qps = 2000
	p.cfg = &config.Config{
		Clusters: map[string]config.Cluster{
			"eu-west": {Kubeconfig: cps[0].KubeconfigPath(), QPS: qps, Burst: 2 * qps, Concurrency: 16},
			"us-east": {Kubeconfig: p.proxy.KubeconfigPath(), QPS: qps, Burst: 2 * qps, Concurrency: 16,
				Timeout: config.Duration{Duration: faultKubeTimeout}},
		},
		Kafka: map[string]config.Kafka{"main": {Brokers: p.kafka.ListenAddrs(), SASL: &config.SASL{
			Mechanism: "SCRAM-SHA-512", Username: faultKafkaUser, Secret: config.Secret{PasswordFile: p.password},
		}}},
		Gateways: map[string]config.Gateway{"edge": {AdminURL: p.kongURL}},
		State:    config.State{Path: filepath.Join(dir, "state.db")},
		Git:      config.Git{URL: git.RepoURL("platform.git"), Branch: "main", Interval: config.Duration{Duration: time.Hour}, Dir: filepath.Join(dir, "clone")},
		Server:   config.Server{Tokens: []config.Token{{Name: "viewer", Role: "viewer", Secret: config.Secret{TokenFile: tokenFile}}}},
	}
	p.api = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		(*p.handler.Load()).ServeHTTP(w, r)
	}))
	t.Cleanup(p.api.Close)
	p.newDaemon(t)
	return p
}

// newDaemon (re)starts the daemon on the same state, as a restart of
// `k3sync serve` does: new clients, new connections, new logins.
func (p *faultPeers) newDaemon(t *testing.T) {
	t.Helper()
	if p.d != nil {
		p.d.Close()
	}
	if p.now == nil {
		p.now = weekdayClock()
	}
	d, err := New(p.cfg, Options{Now: p.now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	srv, err := server.New(p.cfg.Server, d.Reconciler, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := srv.Handler()
	p.d = d
	p.handler.Store(&h)
}

func (p *faultPeers) setPassword(t *testing.T, password string) {
	t.Helper()
	if err := os.WriteFile(p.password, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

// sync commits a platform change (which plans every tenant again) and
// polls, as the daemon does on a push. While the run is under way the API
// must keep answering; sync returns how many API calls it made then.
func (p *faultPeers) sync(t *testing.T) int {
	t.Helper()
	p.touches++
	p.repo.WriteFile("platform.cue", readFile(t, filepath.Join(p.repo.Work, "platform.cue"))+fmt.Sprintf("\n// Touch %d.\n", p.touches))
	p.repo.Commit(fmt.Sprintf("Touch the platform (%d)", p.touches))
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.d.Reconciler.PollOnce(t.Context())
	}()
	answered := 0
	for {
		select {
		case <-done:
			if code, body := p.get(t, "/api/v1/overview"); code != http.StatusOK {
				t.Errorf("after the sync, GET /api/v1/overview: %d %s", code, body)
			}
			return answered
		case <-time.After(200 * time.Millisecond):
		}
		if code, body := p.get(t, "/api/v1/overview"); code != http.StatusOK {
			t.Errorf("during the sync, GET /api/v1/overview: %d %s", code, body)
		} else {
			answered++
		}
	}
}

func (p *faultPeers) get(t *testing.T, path string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.api.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+p.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Status
}

// writes counts the writes every system received so far.
func (p *faultPeers) writes() (k8s, kafka, kong int64) {
	for _, t := range p.d.Targets() {
		if kt, ok := t.(*k8starget.Target); ok {
			k8s += kt.Stats().Writes.Load()
		}
	}
	return k8s, p.kafkaW.Load(), int64(p.kong.Writes())
}

// live counts what exists in every system: the objects k3sync manages in
// both clusters and the Secrets in their namespaces, Kafka's topics, ACL
// bindings and SCRAM users, and Kong's entities. Equal counts before a
// fault and after the recovery mean nothing was duplicated or lost.
func (p *faultPeers) live(t *testing.T) map[string]int {
	t.Helper()
	return countLive(t, p.clusters, p.adm, p.kong)
}

// countLive is faultPeers.live for any test or benchmark.
func countLive(t testing.TB, clusters map[string]kubernetes.Interface, adm *kadm.Client, kong *kongemu.Server) map[string]int {
	t.Helper()
	ctx := t.Context()
	out := map[string]int{}
	managed := metav1.ListOptions{LabelSelector: render.LabelManagedBy + "=" + render.ManagedBy}
	for name, cs := range clusters {
		nss, err := cs.CoreV1().Namespaces().List(ctx, managed)
		if err != nil {
			t.Fatal(err)
		}
		out[name+" namespaces"] = len(nss.Items)
		ours := map[string]bool{}
		for _, ns := range nss.Items {
			ours[ns.Name] = true
		}
		secrets, err := cs.CoreV1().Secrets("").List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range secrets.Items {
			if ours[s.Namespace] {
				out[name+" secrets"]++
			}
		}
		quotas, err := cs.CoreV1().ResourceQuotas("").List(ctx, managed)
		if err != nil {
			t.Fatal(err)
		}
		out[name+" quotas"] = len(quotas.Items)
		rbs, err := cs.RbacV1().RoleBindings("").List(ctx, managed)
		if err != nil {
			t.Fatal(err)
		}
		out[name+" rolebindings"] = len(rbs.Items)
	}
	topics, err := adm.ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out["kafka topics"] = len(topics.Names())
	acls, err := adm.DescribeACLs(ctx, kadm.NewACLs().AnyResource().Allow().AllowHosts().Operations(kadm.OpAny).ResourcePatternType(kadm.ACLPatternAny))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range acls {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
		out["kafka acls"] += len(r.Described)
	}
	users, err := adm.DescribeUserSCRAMs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out["kafka scram users"] = len(users)
	for _, e := range []string{"services", "routes", "plugins", "consumers", "key-auths", "upstreams", "targets"} {
		out["kong "+e] = kong.Count(e)
	}
	return out
}

// runMessage is what an operator reads of a run: its message and every
// change's error.
func runMessage(r view.Tenant) string {
	if len(r.History) == 0 {
		return ""
	}
	msg := []string{r.History[0].Message}
	for _, c := range r.History[0].Changes {
		if c.Error != "" {
			msg = append(msg, c.Error)
		}
	}
	return strings.Join(msg, "; ")
}

// faultRow is one (system × fault) of the matrix.
type faultRow struct {
	name string
	// prepare makes work for the apply before the fault (out-of-band
	// deletes that the next sync recreates); nil for read faults.
	prepare func(t *testing.T, p *faultPeers)
	// inject arms the fault and returns what clears it and how many
	// requests it took.
	inject func(t *testing.T, p *faultPeers) (clear func(), hits func() int)
	// failed are the tenants the fault must fail (msg, a regular
	// expression, matching their run's message);
	// every other active tenant must not fail. None: the fault is
	// absorbed (retried) and the sync converges at once.
	failed []string
	msg    string
	// after checks more once the fault is cleared and the sync converged.
	after func(t *testing.T, p *faultPeers, injected time.Time)
}

// exampleActive are the example repo's tenants that sync (analytics is
// suspended by its file).
var exampleActive = []string{"checkout", "payments", "search"}

// TestFaultMatrix injects, one at a time, the faults each peer can show
// during a sync of the example repo's tenants on two clusters, Kafka and
// Kong, then clears it. For every fault: the daemon's API keeps
// answering; only the tenants on the failing system fail, with the peer's
// error in their run; the next sync converges; a sync after that writes
// nothing anywhere (the inventory agrees with the live systems); and what
// exists live is what existed before the fault, nothing duplicated or
// lost.
func TestFaultMatrix(t *testing.T) {
	p := startFaultPeers(t)
	ctx := t.Context()
	p.sync(t)
	o, err := p.d.Reconciler.Overview(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := states(o); got["checkout"] != view.Synced || got["payments"] != view.Synced || got["search"] != view.Synced {
		t.Fatalf("the first sync: %v", got)
	}
	baseline := p.live(t)
	t.Logf("live before the faults: %v", baseline)

	usEastNamespaces := func(t *testing.T, p *faultPeers) []string {
		l, err := p.clusters["us-east"].CoreV1().Namespaces().List(t.Context(), metav1.ListOptions{LabelSelector: render.LabelManagedBy + "=" + render.ManagedBy})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, ns := range l.Items {
			out = append(out, ns.Name)
		}
		return out
	}
	// deleteQuotas removes k3sync's quota from every namespace on
	// us-east, out of band: the next sync recreates them.
	deleteQuotas := func(t *testing.T, p *faultPeers) {
		for _, ns := range usEastNamespaces(t, p) {
			err := p.clusters["us-east"].CoreV1().ResourceQuotas(ns).Delete(t.Context(), render.QuotaName, metav1.DeleteOptions{})
			if err != nil {
				t.Logf("delete quota of %s: %v", ns, err)
			}
		}
	}
	deleteTopics := func(t *testing.T, p *faultPeers) {
		rs, err := p.adm.DeleteTopics(t.Context(), "checkout.carts", "payments.transactions")
		if err == nil {
			err = rs.Error()
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	type injector = func(t *testing.T, p *faultPeers) (func(), func() int)
	onKube := func(f kube.Fault) injector {
		return func(t *testing.T, p *faultPeers) (func(), func() int) {
			hits, err := p.proxy.Inject(f)
			if err != nil {
				t.Fatal(err)
			}
			return p.proxy.ClearFaults, hits
		}
	}
	onKong := func(fs ...kongemu.Fault) injector {
		return func(_ *testing.T, p *faultPeers) (func(), func() int) {
			var all []func() int
			for _, f := range fs {
				all = append(all, p.kong.Inject(f))
			}
			return p.kong.ClearFaults, func() int {
				n := 0
				for _, h := range all {
					n += h()
				}
				return n
			}
		}
	}
	onKafka := func(f kfake.Fault) injector {
		return func(_ *testing.T, p *faultPeers) (func(), func() int) {
			h := p.kafka.Fault(f)
			return h.Remove, h.Hits
		}
	}
	onUSEast := []string{"payments", "search"}
	kafkaTenants := []string{"checkout", "payments"}

	rows := []faultRow{
		{
			name:   "kubernetes/500",
			inject: onKube(kube.Fault{Method: http.MethodGet, Status: http.StatusInternalServerError}),
			failed: onUSEast, msg: "fault injected: 500",
		},
		{
			name:   "kubernetes/429 Retry-After",
			inject: onKube(kube.Fault{Method: http.MethodGet, Count: 2, Status: http.StatusTooManyRequests, RetryAfter: time.Second}),
			after: func(t *testing.T, p *faultPeers, injected time.Time) {
				checkRetryAfter(t, p.proxy.Requests(), injected, time.Second)
			},
		},
		{
			name:   "kubernetes/stall beyond the client timeout",
			inject: onKube(kube.Fault{Method: http.MethodGet, Latency: time.Minute}),
			failed: onUSEast, msg: `Client\.Timeout exceeded|context deadline exceeded`,
		},
		{
			name:    "kubernetes/reset in the middle of an apply",
			prepare: deleteQuotas,
			inject:  onKube(kube.Fault{Method: http.MethodPatch, Skip: 1, Reset: true}),
			failed:  onUSEast, msg: `connection reset|broken pipe|EOF`,
		},
		{
			name:   "kong/500",
			inject: onKong(kongemu.Fault{Method: http.MethodGet, Status: http.StatusInternalServerError}),
			failed: exampleActive, msg: "500",
		},
		{
			name:   "kong/429 Retry-After",
			inject: onKong(kongemu.Fault{Method: http.MethodGet, Count: 2, Status: http.StatusTooManyRequests, RetryAfter: time.Second}),
		},
		{
			name:   "kong/slow",
			inject: onKong(kongemu.Fault{Latency: 200 * time.Millisecond}),
		},
		{
			name: "kong/dropped connection during the apply",
			prepare: func(t *testing.T, p *faultPeers) {
				for _, r := range []string{"checkout-web", "payments-public"} {
					deleteKong(t, p.kongURL+"/routes/"+r)
				}
			},
			inject: onKong(kongemu.Fault{Method: http.MethodPost, Drop: true}, kongemu.Fault{Method: http.MethodPut, Drop: true}),
			failed: []string{"checkout", "payments"}, msg: `EOF|connection reset`,
		},
		{
			name:    "kafka/NOT_CONTROLLER",
			prepare: deleteTopics,
			inject:  onKafka(kfake.Fault{Keys: []kmsg.Key{kmsg.CreateTopics}, Err: kerr.NotController, Count: 3}),
		},
		{
			name:    "kafka/request timed out",
			prepare: deleteTopics,
			inject:  onKafka(kfake.Fault{Keys: []kmsg.Key{kmsg.CreateTopics}, Err: kerr.RequestTimedOut, Count: -1}),
			failed:  kafkaTenants, msg: "REQUEST_TIMED_OUT",
		},
		{
			name: "kafka/SASL login fails",
			inject: func(t *testing.T, p *faultPeers) (func(), func() int) {
				p.setPassword(t, "not-the-password")
				// kfake closes the connection on a wrong password; a
				// Kafka broker answers this.
				var refuse atomic.Bool
				var refused atomic.Int64
				refuse.Store(true)
				p.kafka.ControlKey(kmsg.SASLAuthenticate.Int16(), func(req kmsg.Request) (kmsg.Response, error, bool) {
					p.kafka.KeepControl()
					if !refuse.Load() {
						return nil, nil, false
					}
					refused.Add(1)
					resp := req.(*kmsg.SASLAuthenticateRequest).ResponseKind().(*kmsg.SASLAuthenticateResponse)
					resp.SetVersion(req.GetVersion())
					resp.ErrorCode = kerr.SaslAuthenticationFailed.Code
					resp.ErrorMessage = kmsg.StringPtr("Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512")
					return resp, nil, true
				})
				p.newDaemon(t) // new connections, new logins
				return func() {
					p.setPassword(t, faultKafkaPassword)
					refuse.Store(false)
				}, func() int { return int(refused.Load()) }
			},
			failed: kafkaTenants, msg: "SASL_AUTHENTICATION_FAILED",
		},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			if row.prepare != nil {
				row.prepare(t, p)
			}
			injected := time.Now()
			clear, hits := row.inject(t, p)
			answered := p.sync(t)
			clear()
			if hits() == 0 {
				t.Fatal("no request met the fault")
			}
			o, err := p.d.Reconciler.Overview(ctx)
			if err != nil {
				t.Fatal(err)
			}
			got := states(o)
			for _, name := range exampleActive {
				tv, err := p.d.Reconciler.Tenant(ctx, name)
				if err != nil {
					t.Fatal(err)
				}
				msg := runMessage(tv)
				if slices.Contains(row.failed, name) {
					if got[name] != view.Failed || !regexp.MustCompile(row.msg).MatchString(msg) {
						t.Errorf("%s: %s, run message %q; want failed with %q", name, got[name], msg, row.msg)
					}
				} else if got[name] == view.Failed {
					t.Errorf("%s failed, but it has nothing on the failing system: %q", name, msg)
				}
			}
			t.Logf("during the fault (%d requests faulted): %v, %d API calls answered", hits(), got, answered)

			// Recovery: the next sync converges.
			if row.failed != nil {
				p.sync(t)
				o, err = p.d.Reconciler.Overview(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if got := states(o); got["checkout"] != view.Synced || got["payments"] != view.Synced || got["search"] != view.Synced {
					t.Errorf("after the fault was cleared: %v", got)
				}
			}
			// Then nothing is left to do: a sync writes nothing.
			k0, ka0, ko0 := p.writes()
			p.sync(t)
			if k, ka, ko := p.writes(); k != k0 || ka != ka0 || ko != ko0 {
				t.Errorf("a sync after the recovery wrote: kubernetes %d, kafka %d, kong %d", k-k0, ka-ka0, ko-ko0)
			}
			for _, name := range exampleActive {
				tv, err := p.d.Reconciler.Tenant(ctx, name)
				if err != nil {
					t.Fatal(err)
				}
				if len(tv.History) > 0 && tv.History[0].Result != "synced" {
					t.Errorf("%s: last run %s %q after the recovery", name, tv.History[0].Result, runMessage(tv))
				}
			}
			if diff := cmp.Diff(baseline, p.live(t)); diff != "" {
				t.Errorf("live systems after the recovery (-before +after):\n%s", diff)
			}
			if row.after != nil {
				row.after(t, p, injected)
			}
		})
	}
}

// checkRetryAfter checks that every request the proxy answered 429 since
// from was sent again no sooner than wait later.
func checkRetryAfter(t *testing.T, reqs []kube.Request, from time.Time, wait time.Duration) {
	t.Helper()
	n := 0
	for i, r := range reqs {
		if r.Time.Before(from) || r.Status != http.StatusTooManyRequests {
			continue
		}
		n++
		next := -1
		for j := i + 1; j < len(reqs); j++ {
			if reqs[j].Method == r.Method && reqs[j].Path == r.Path && reqs[j].Query == r.Query {
				next = j
				break
			}
		}
		switch {
		case next < 0:
			t.Errorf("%s %s answered 429 was never sent again", r.Method, r.Path)
		case reqs[next].Time.Sub(r.Time) < wait:
			t.Errorf("%s %s sent again %s after a 429 with Retry-After %s", r.Method, r.Path, reqs[next].Time.Sub(r.Time), wait)
		}
	}
	if n == 0 {
		t.Error("no request was answered 429")
	}
}

func deleteKong(t *testing.T, url string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodDelete, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE %s: %s", url, resp.Status)
	}
}
