package dashboard_test

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/k3sync/k3sync/internal/config"
	"github.com/k3sync/k3sync/internal/kongemu"
	"github.com/k3sync/k3sync/internal/render"
	"github.com/k3sync/k3sync/internal/testenv/fixture"
	"github.com/k3sync/k3sync/internal/testenv/gitserver"
	"github.com/k3sync/k3sync/internal/testenv/kube"
)

// The setup below follows internal/daemon's end-to-end test: two real
// kube-apiservers, kfake, the Kong emulator and a Git smart-HTTP server
// holding the example platform repo.

// Tokens of the browser test's daemon.
const (
	e2eOperator = "e2e-operator-token-5f1c0a9d"
	e2eViewer   = "e2e-viewer-token-77ab13c2"
)

type peers struct {
	clusters map[string]kubernetes.Interface
	kafka    *kfake.Cluster
	kong     *kongemu.Server
	kongURL  string
	repo     *gitserver.Repo
	cfg      *config.Config
}

func startPeers(t *testing.T) *peers {
	t.Helper()
	p := &peers{clusters: map[string]kubernetes.Interface{}}
	cps := kube.StartT(t, 2)
	for i, name := range []string{"eu-west", "us-east"} {
		cs, err := kubernetes.NewForConfig(cps[i].RESTConfig())
		if err != nil {
			t.Fatal(err)
		}
		p.clusters[name] = cs
	}
	var err error
	if p.kafka, err = kfake.NewCluster(kfake.NumBrokers(3)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.kafka.Close)
	p.kong = kongemu.New(kongemu.Options{})
	if p.kongURL, err = p.kong.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	p.repo = gitserver.NewRepo(t, root, "platform.git")
	// The test presses "Sync now" on payments whatever the hour: the
	// example without its Sunday deny window.
	p.repo.CopyDir(fixture.ExampleDir(t))
	p.repo.Commit("Import the example platform repo")
	git := gitserver.NewHTTP(t, root)
	dir := t.TempDir()
	p.cfg = &config.Config{
		Clusters: map[string]config.Cluster{
			"eu-west": {Kubeconfig: cps[0].KubeconfigPath(), QPS: 200, Burst: 400},
			"us-east": {Kubeconfig: cps[1].KubeconfigPath(), QPS: 200, Burst: 400},
		},
		Kafka:    map[string]config.Kafka{"main": {Brokers: p.kafka.ListenAddrs()}},
		Gateways: map[string]config.Gateway{"edge": {AdminURL: p.kongURL}},
		State:    config.State{Path: filepath.Join(dir, "state.db")},
		Git:      config.Git{URL: git.RepoURL("platform.git"), Branch: "main", Interval: config.Duration{Duration: time.Second}, Dir: filepath.Join(dir, "clone")},
		Server: config.Server{Tokens: []config.Token{
			{Name: "e2e-operator", Role: "operator", Secret: config.Secret{TokenFile: writeSecret(t, dir, "operator.token", e2eOperator)}},
			{Name: "e2e-viewer", Role: "viewer", Secret: config.Secret{TokenFile: writeSecret(t, dir, "viewer.token", e2eViewer)}},
		}},
	}
	return p
}

func writeSecret(t *testing.T, dir, name, value string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(value+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// editQuota changes a tenant's ResourceQuota requests.cpu out of band, as
// another field manager would (kubectl edit).
func (p *peers) editQuota(t *testing.T, cluster, ns, cpu string) {
	t.Helper()
	cs := p.clusters[cluster]
	rq, err := cs.CoreV1().ResourceQuotas(ns).Get(t.Context(), render.QuotaName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rq.Spec.Hard[corev1.ResourceRequestsCPU] = resource.MustParse(cpu)
	if _, err := cs.CoreV1().ResourceQuotas(ns).Update(t.Context(), rq, metav1.UpdateOptions{FieldManager: "kubectl-edit"}); err != nil {
		t.Fatal(err)
	}
}

func (p *peers) quota(t *testing.T, cluster, ns string) string {
	t.Helper()
	rq, err := p.clusters[cluster].CoreV1().ResourceQuotas(ns).Get(t.Context(), render.QuotaName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	q := rq.Spec.Hard[corev1.ResourceRequestsCPU]
	return q.String()
}

// patchKong changes a Kong entity out of band through the Admin API.
func (p *peers) patchKong(t *testing.T, path, body string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPatch, p.kongURL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("PATCH %s: %s", path, resp.Status)
	}
}
