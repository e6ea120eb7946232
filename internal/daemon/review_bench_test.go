package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/k3sync/k3sync/internal/config"
	"github.com/k3sync/k3sync/internal/forge"
	"github.com/k3sync/k3sync/internal/kongemu"
	"github.com/k3sync/k3sync/internal/review"
	"github.com/k3sync/k3sync/internal/server"
	"github.com/k3sync/k3sync/internal/testenv/gitea"
	"github.com/k3sync/k3sync/internal/testenv/gitserver"
	"github.com/k3sync/k3sync/internal/testenv/kube"
	"github.com/k3sync/k3sync/internal/testenv/repogen"
)

// reviewTenantsFlag shrinks BenchmarkPullRequest1000Tenants to try it out
// quickly.
var reviewTenantsFlag = flag.Int("review.tenants", 1000, "how many tenants BenchmarkPullRequest1000Tenants generates")

// BenchmarkPullRequest1000Tenants measures issue 18's pull request path
// against a real Gitea: after the first sync of 1,000 generated tenants,
// 10 pull requests, one after another, each change one tenant's
// namespace label on its own branch. For each, the time runs from the
// arrival of Gitea's pull_request webhook at the daemon's server to the
// later of the k3sync/plan status on the head and the plan comment,
// both timed when Gitea answered them (through a recording proxy in
// front of Gitea's API). It reports the median as ms/pr (target ≤ 1 s),
// min and max, and the medians to the final status and to the pending
// status the loop posts before it plans.
func BenchmarkPullRequest1000Tenants(b *testing.B) {
	const prs = 10
	if *reviewTenantsFlag < prs {
		b.Fatalf("-review.tenants %d: each of the %d pull requests changes a tenant of its own; at least %d", *reviewTenantsFlag, prs, prs)
	}
	for b.Loop() {
		took, toStatus, toPending := pullRequestLatencies(b, *reviewTenantsFlag, prs)
		slices.Sort(took)
		slices.Sort(toStatus)
		slices.Sort(toPending)
		b.ReportMetric(medianMs(took), "ms/pr")
		b.ReportMetric(float64(took[0].Milliseconds()), "min-ms/pr")
		b.ReportMetric(float64(took[prs-1].Milliseconds()), "max-ms/pr")
		b.ReportMetric(medianMs(toStatus), "webhook-to-status-ms")
		b.ReportMetric(medianMs(toPending), "webhook-to-pending-ms")
	}
}

// medianMs is the median of sorted d in milliseconds.
func medianMs(d []time.Duration) float64 {
	n := len(d)
	if n%2 == 1 {
		return float64(d[n/2].Milliseconds())
	}
	return float64((d[n/2-1] + d[n/2]).Milliseconds()) / 2
}

// pullRequestLatencies sets up Gitea with a generated repo of tenants and
// the daemon as serve runs it, opens prs pull requests one after another
// and returns, for each, the time from the webhook's arrival to the later
// of the final status and the comment, to the final status and to the
// pending one.
func pullRequestLatencies(b *testing.B, tenants, prs int) (took, toStatus, toPending []time.Duration) {
	b.Helper()
	ctx, cancel := context.WithCancel(b.Context())
	defer cancel()

	g := gitea.StartT(b)
	repo, err := g.CreateRepo(ctx, "platform")
	if err != nil {
		b.Fatal(err)
	}
	// ~1,000 files are one git push, not one contents API call.
	local := gitserver.NewRepo(b, b.TempDir(), "platform.git")
	if err := repogen.WriteDir(local.Work, repogen.Options{Tenants: tenants}); err != nil {
		b.Fatal(err)
	}
	local.Commit(fmt.Sprintf("Import %d generated tenants", tenants))
	pushToGitea(b, local.Work, g, repo.FullName)

	cps := kube.StartT(b, 2)
	kafka, err := kfake.NewCluster(kfake.NumBrokers(3))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(kafka.Close)
	kongURL, err := kongemu.New(kongemu.Options{}).Start(ctx)
	if err != nil {
		b.Fatal(err)
	}

	api := newForgeRecorder(b, g.URL)
	b.Setenv(reviewTokenEnv, g.AdminToken)
	b.Setenv(reviewSecretEnv, reviewSecret)
	dir := b.TempDir()
	const qps = 2000
	cfg := &config.Config{
		Clusters: map[string]config.Cluster{
			"eu-west": {Kubeconfig: cps[0].KubeconfigPath(), QPS: qps, Burst: 2 * qps, Concurrency: 16},
			"us-east": {Kubeconfig: cps[1].KubeconfigPath(), QPS: qps, Burst: 2 * qps, Concurrency: 16},
		},
		Kafka:    map[string]config.Kafka{"main": {Brokers: kafka.ListenAddrs()}},
		Gateways: map[string]config.Gateway{"edge": {AdminURL: kongURL}},
		State:    config.State{Path: filepath.Join(dir, "state.db")},
		Git:      config.Git{URL: g.GitURL(repo.FullName), Branch: "main", Interval: config.Duration{Duration: time.Hour}, Dir: filepath.Join(dir, "clone")},
		Server:   config.Server{Webhooks: config.Webhooks{Gitea: config.Secret{SecretEnv: reviewSecretEnv}}},
		Forge: config.Forge{
			Kind: config.ForgeGitea, URL: api.url, Repo: repo.FullName, Token: config.Secret{TokenEnv: reviewTokenEnv},
			DashboardURL: dashboard, Interval: config.Duration{Duration: time.Hour},
		},
	}
	d, err := New(cfg, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	start := time.Now()
	d.Reconciler.PollOnce(ctx)
	if err := d.Ready(); err != nil {
		b.Fatal(err)
	}
	b.Logf("first sync of %d tenants: %s", tenants, time.Since(start).Round(time.Millisecond))

	srv, err := server.New(cfg.Server, d.Reconciler, d.Hooks())
	if err != nil {
		b.Fatal(err)
	}
	hooks := &hookRecorder{next: srv.Handler(), arrived: map[int]time.Time{}}
	_, stop := serveWithGitea(b, d, hooks, g, repo.FullName)
	defer stop()

	if f := os.Getenv("K3SYNC_PROF"); f != "" {
		pf, err := os.Create(f)
		if err != nil {
			b.Fatal(err)
		}
		defer func() { _ = pf.Close() }()
		if err := pprof.StartCPUProfile(pf); err != nil {
			b.Fatal(err)
		}
		defer pprof.StopCPUProfile()
	}

	var each []string // one line: benchmark logs keep 10 lines
	step := max(tenants/prs, 1)
	for i := range prs {
		name := repogen.TenantName((step * i) % tenants)
		file := "tenants/" + name + "/tenant.cue"
		src, err := os.ReadFile(filepath.Join(local.Work, filepath.FromSlash(file)))
		if err != nil {
			b.Fatal(err)
		}
		changed := strings.Replace(string(src), `"cost-center": "`+name+`"`, `"cost-center": "`+name+`-b"`, 1)
		if changed == string(src) {
			b.Fatalf("%s: the generated tenant changed shape; nothing to edit", file)
		}
		branch := fmt.Sprintf("label-%s", name)
		head, err := g.CommitFiles(ctx, repo.FullName, gitea.Commit{NewBranch: branch, Message: "Relabel " + name, Files: map[string]string{file: changed}})
		if err != nil {
			b.Fatal(err)
		}
		pr, err := g.CreatePullRequest(ctx, repo.FullName, branch, "main", "Relabel "+name)
		if err != nil {
			b.Fatal(err)
		}
		number := int(pr.Number)
		webhook, pending, status, comment := api.await(b, hooks, number, head, 2*time.Minute)
		last := status
		if comment.After(last) {
			last = comment
		}
		took = append(took, last.Sub(webhook))
		each = append(each, fmt.Sprintf("#%d %s/%s/%s", number, pending.Sub(webhook).Round(time.Millisecond), comment.Sub(webhook).Round(time.Millisecond), status.Sub(webhook).Round(time.Millisecond)))
		toStatus = append(toStatus, status.Sub(webhook))
		if !pending.IsZero() {
			toPending = append(toPending, pending.Sub(webhook))
		}

		// What the author sees on the pull request.
		sts, err := g.ListStatuses(ctx, repo.FullName, head)
		if err != nil {
			b.Fatal(err)
		}
		at := slices.IndexFunc(sts, func(s gitea.CommitStatus) bool { return s.Context == forge.ContextPlan })
		if want := "2 changes: 0 to create, 2 to update"; at < 0 || sts[at].State != "success" || !strings.HasPrefix(sts[at].Description, want) {
			b.Fatalf("#%d (%s): plan status %+v, want success %q…", number, name, sts, want)
		}
		cs, err := g.ListComments(ctx, repo.FullName, pr.Number)
		if err != nil {
			b.Fatal(err)
		}
		cs = slices.DeleteFunc(cs, func(c gitea.Comment) bool { return !strings.Contains(c.Body, review.Marker) })
		if len(cs) != 1 || !strings.Contains(cs[0].Body, "Tenants changed: `"+name+"`") || !strings.Contains(cs[0].Body, `metadata.labels.cost-center: "`+name+`" → "`+name+`-b"`) {
			b.Fatalf("#%d (%s): %d plan comments, want 1 naming the tenant and its new label: %+v", number, name, len(cs), cs)
		}
	}
	b.Logf("from the webhook to pending status/comment/final status: %s", strings.Join(each, ", "))
	if len(toPending) != prs {
		b.Fatalf("%d of %d pull requests got a pending status first", len(toPending), prs)
	}
	return took, toStatus, toPending
}

// pushToGitea force-pushes the main branch of the work tree dir to repo
// on g over HTTP, with the admin's token as the password. The token never
// reaches a log: git's output is redacted, and the URL is not printed.
func pushToGitea(b *testing.B, dir string, g *gitea.Server, repo string) {
	b.Helper()
	cmd := exec.CommandContext(b.Context(), "git", "push", "--quiet", "--force", g.GitURL(repo), "main:main")
	cmd.Dir = dir
	cmd.Env = []string{
		"HOME=" + b.TempDir(), "PATH=" + os.Getenv("PATH"), "LANG=C",
		"GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "GIT_TERMINAL_PROMPT=0",
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		redacted := strings.ReplaceAll(string(out), g.AdminToken, "<token>")
		redacted = strings.ReplaceAll(redacted, url.QueryEscape(g.AdminToken), "<token>")
		b.Fatalf("git push to %s: %v\n%s", g.URL+"/"+repo+".git", err, redacted)
	}
}

// hookRecorder notes when the first pull_request delivery for each pull
// request arrives, before the server's handler sees it.
type hookRecorder struct {
	next http.Handler

	mu      sync.Mutex
	arrived map[int]time.Time
	notify  chan struct{}
}

func (h *hookRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	at := time.Now()
	if r.URL.Path == "/hooks/gitea" && r.Header.Get("X-Gitea-Event") == "pull_request" {
		body, err := io.ReadAll(io.LimitReader(r.Body, 4<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		var ev struct {
			Number int `json:"number"`
		}
		if json.Unmarshal(body, &ev) == nil && ev.Number > 0 {
			h.mu.Lock()
			if _, ok := h.arrived[ev.Number]; !ok {
				h.arrived[ev.Number] = at
			}
			notify := h.notify
			h.mu.Unlock()
			poke(notify)
		}
	}
	h.next.ServeHTTP(w, r)
}

func (h *hookRecorder) arrival(number int) (time.Time, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	at, ok := h.arrived[number]
	return at, ok
}

// forgeRecorder is a reverse proxy in front of Gitea's API that notes
// when Gitea answered the daemon's plan statuses (pending and final, by
// commit) and plan comments (by pull request) successfully.
type forgeRecorder struct {
	url    string
	proxy  *httputil.ReverseProxy
	notify chan struct{}

	mu       sync.Mutex
	pending  map[string]time.Time // first pending status, by commit
	statuses map[string]time.Time // first final status, by commit
	comments map[int]time.Time    // first, by pull request
}

var (
	statusPath  = regexp.MustCompile(`^/api/v1/repos/[^/]+/[^/]+/statuses/([0-9a-f]{40})$`)
	commentPath = regexp.MustCompile(`^/api/v1/repos/[^/]+/[^/]+/issues/([0-9]+)/comments$`)
)

func newForgeRecorder(b *testing.B, giteaURL string) *forgeRecorder {
	b.Helper()
	target, err := url.Parse(giteaURL)
	if err != nil {
		b.Fatal(err)
	}
	f := &forgeRecorder{
		proxy:    httputil.NewSingleHostReverseProxy(target),
		notify:   make(chan struct{}, 1),
		pending:  map[string]time.Time{},
		statuses: map[string]time.Time{},
		comments: map[int]time.Time{},
	}
	hs := httptest.NewServer(f)
	b.Cleanup(hs.Close)
	f.url = hs.URL
	return f
}

func (f *forgeRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var posted struct {
		State string `json:"state"`
	}
	status := r.Method == http.MethodPost && statusPath.MatchString(r.URL.Path)
	if status {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		_ = json.Unmarshal(body, &posted)
	}
	rw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
	f.proxy.ServeHTTP(rw, r)
	at := time.Now()
	if rw.code >= 300 {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case status:
		sha := statusPath.FindStringSubmatch(r.URL.Path)[1]
		seen := f.statuses
		if posted.State == string(forge.Pending) {
			seen = f.pending
		}
		if _, ok := seen[sha]; !ok {
			seen[sha] = at
		}
	case r.Method == http.MethodPost && commentPath.MatchString(r.URL.Path):
		n, _ := strconv.Atoi(commentPath.FindStringSubmatch(r.URL.Path)[1])
		if _, ok := f.comments[n]; !ok {
			f.comments[n] = at
		}
	default:
		return
	}
	poke(f.notify)
}

// await waits up to limit for the webhook of pull request number, the
// plan status on head and the plan comment, and returns when each came.
func (f *forgeRecorder) await(b *testing.B, hooks *hookRecorder, number int, head string, limit time.Duration) (webhook, pending, status, comment time.Time) {
	b.Helper()
	hooks.mu.Lock()
	hooks.notify = f.notify
	hooks.mu.Unlock()
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	for {
		var hooked, posted, commented bool
		webhook, hooked = hooks.arrival(number)
		f.mu.Lock()
		pending = f.pending[head]
		status, posted = f.statuses[head]
		comment, commented = f.comments[number]
		f.mu.Unlock()
		if hooked && posted && commented {
			return webhook, pending, status, comment
		}
		select {
		case <-f.notify:
		case <-deadline.C:
			b.Fatalf("pull request #%d (head %s) after %s: webhook arrived %t, final plan status posted %t, plan comment posted %t", number, head[:12], limit, hooked, posted, commented)
		}
	}
}

// poke wakes a waiter on c without blocking.
func poke(c chan struct{}) {
	if c == nil {
		return
	}
	select {
	case c <- struct{}{}:
	default:
	}
}

// statusWriter remembers the status code of an answer.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

// Flush keeps the proxy's streaming working.
func (w *statusWriter) Flush() {
	if fl, ok := w.ResponseWriter.(http.Flusher); ok {
		fl.Flush()
	}
}
