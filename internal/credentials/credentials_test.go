package credentials

import (
	"errors"
	"os"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/k3sync/k3sync/internal/loader"
	"github.com/k3sync/k3sync/internal/model"
	"github.com/k3sync/k3sync/internal/testenv/kube"
)

func TestDeliverToEveryClusterOfTheTenant(t *testing.T) {
	repo, err := loader.Load(os.DirFS("../../examples/platform-repo"))
	if err != nil {
		t.Fatal(err)
	}
	cps := kube.StartT(t, 2)
	clients := map[string]kubernetes.Interface{}
	for i, name := range []string{"eu-west", "us-east"} {
		cs, err := kubernetes.NewForConfig(cps[i].RESTConfig())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cs.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "payments"}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		clients[name] = cs
	}
	s := New(func() Tenants { return repo }, clients)
	sink := Kafka{s}
	if err := sink.Deliver(t.Context(), "payments", "payments.api", "SCRAM-SHA-512", "first-password"); err != nil {
		t.Fatal(err)
	}
	// Rotation replaces the value in place.
	if err := sink.Deliver(t.Context(), "payments", "payments.api", "SCRAM-SHA-512", "second-password"); err != nil {
		t.Fatal(err)
	}
	for name, cs := range clients {
		sec, err := cs.CoreV1().Secrets("payments").Get(t.Context(), "kafka-user-payments.api", metav1.GetOptions{})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := string(sec.Data["password"]); got != "second-password" {
			t.Errorf("%s: password %q", name, got)
		}
		if sec.Labels[LabelCredential] != "kafka" || sec.Labels["k3sync.io/tenant"] != "payments" {
			t.Errorf("%s: labels %v", name, sec.Labels)
		}
	}

	// A tenant without namespaces cannot receive credentials; the error
	// says so and carries no secret.
	noNS := &model.Repo{Tenants: []*model.Tenant{{Name: "lonely"}}}
	err = New(func() Tenants { return noNS }, clients).DeliverKong(t.Context(), "lonely", "lonely-app", "the-key")
	if !errors.Is(err, ErrNoNamespace) || strings.Contains(err.Error(), "the-key") {
		t.Errorf("got %v", err)
	}
}
