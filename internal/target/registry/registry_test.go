package registry

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/k3sync/k3sync/internal/config"
	"github.com/k3sync/k3sync/internal/credentials"
	"github.com/k3sync/k3sync/internal/kongemu"
	"github.com/k3sync/k3sync/internal/model"
	"github.com/k3sync/k3sync/internal/plan"
	"github.com/k3sync/k3sync/internal/render"
	"github.com/k3sync/k3sync/internal/state"
	"github.com/k3sync/k3sync/internal/testenv/kube"
)

func noTenants() credentials.Tenants { return &model.Repo{} }

// TestBuild builds the targets of a config naming a real apiserver, a
// kfake Kafka cluster and the Kong emulator.
func TestBuild(t *testing.T) {
	cp := kube.StartT(t, 1)[0]
	kc, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kc.Close)
	kongURL, err := kongemu.New(kongemu.Options{}).Start(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	cfg := &config.Config{
		Clusters: map[string]config.Cluster{"eu-west": {Kubeconfig: cp.KubeconfigPath()}},
		Kafka:    map[string]config.Kafka{"main": {Brokers: kc.ListenAddrs()}},
		Gateways: map[string]config.Gateway{"edge": {AdminURL: kongURL}},
	}

	t.Run("targets in apply order", func(t *testing.T) {
		set, err := Build(cfg, state.NewMemory(), noTenants)
		if err != nil {
			t.Fatal(err)
		}
		defer set.Close()
		var got []string
		for _, tg := range set.Targets {
			got = append(got, string(tg.System())+"/"+tg.Name())
		}
		if want := []string{"kubernetes/eu-west", "kafka/main", "kong/edge"}; !slices.Equal(got, want) {
			t.Fatalf("targets %v, want %v", got, want)
		}
		cs, ok := set.Clientsets["eu-west"]
		if !ok || len(set.Clientsets) != 1 {
			t.Fatalf("clientsets %v, want eu-west only", set.Clientsets)
		}
		// The clientset reaches the cluster (leader election uses it).
		if _, err := cs.Discovery().ServerVersion(); err != nil {
			t.Fatalf("eu-west clientset: %v", err)
		}
		set.Close() // twice is harmless
	})

	t.Run("missing", func(t *testing.T) {
		set, err := Build(cfg, state.NewMemory(), noTenants)
		if err != nil {
			t.Fatal(err)
		}
		defer set.Close()
		tenants := []plan.TenantRequest{
			{Desired: &render.Tenant{
				Name:       "payments",
				Kubernetes: []*render.ClusterResources{{Cluster: "eu-west"}},
				Kafka:      &render.KafkaResources{Cluster: "main"},
				Kong:       &render.KongResources{Gateway: "edge"},
			}},
			{Desired: &render.Tenant{
				Name:       "search",
				Kubernetes: []*render.ClusterResources{{Cluster: "eu-west"}, {Cluster: "us-east"}},
				Kong:       &render.KongResources{Gateway: "west"},
			}},
			{Desired: &render.Tenant{Name: "shop", Kong: &render.KongResources{Gateway: "west"}}},
			{Desired: &render.Tenant{Name: "ledger", Kafka: &render.KafkaResources{Cluster: "main"}}},
		}
		got := set.Missing(tenants)
		want := []plan.TargetError{
			{System: plan.Kubernetes, Target: "us-east", Message: "cluster us-east is used by tenants but not in the config file"},
			{System: plan.Kong, Target: "west", Message: "gateway west is used by tenants but not in the config file"},
		}
		if !slices.Equal(got, want) {
			t.Fatalf("missing %+v, want %+v", got, want)
		}
		if got := set.Missing(tenants[:1]); len(got) != 0 {
			t.Errorf("all configured: missing %+v", got)
		}
	})

	t.Run("invalid Kafka cluster", func(t *testing.T) {
		bad := *cfg
		bad.Kafka = map[string]config.Kafka{
			"main":   {Brokers: kc.ListenAddrs()},
			"secure": {Brokers: kc.ListenAddrs(), TLS: &config.TLS{CAFile: filepath.Join(t.TempDir(), "no-such-ca.pem")}},
		}
		set, err := Build(&bad, state.NewMemory(), noTenants)
		if err == nil {
			set.Close()
			t.Fatal("built a Kafka target whose CA file does not exist")
		}
		if set != nil {
			t.Errorf("got a set with the error")
		}
		if msg := err.Error(); !strings.HasPrefix(msg, "kafka secure: tls ca: ") {
			t.Errorf("error %q does not name the Kafka cluster first", msg)
		}
	})
}
