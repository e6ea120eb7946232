package credentials

import (
	"context"
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

// cluster is a real cluster's client with an inventory that owns the
// namespaces listed in owned (tenant/namespace).
type cluster struct {
	cs    kubernetes.Interface
	owned map[string]bool
}

func (c cluster) Clientset() kubernetes.Interface { return c.cs }

func (c cluster) OwnsNamespace(_ context.Context, tenant, namespace string) (bool, error) {
	return c.owned[tenant+"/"+namespace], nil
}

func TestDeliverToEveryClusterOfTheTenant(t *testing.T) {
	repo, err := loader.Load(os.DirFS("../../examples/platform-repo"))
	if err != nil {
		t.Fatal(err)
	}
	cps := kube.StartT(t, 2)
	clients := map[string]kubernetes.Interface{}
	clusters := map[string]Cluster{}
	for i, name := range []string{"eu-west", "us-east"} {
		cs, err := kubernetes.NewForConfig(cps[i].RESTConfig())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cs.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "payments"}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		clients[name] = cs
		clusters[name] = cluster{cs: cs, owned: map[string]bool{"payments/payments": true}}
	}
	s := New(func() Tenants { return repo }, clusters)
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
	err = New(func() Tenants { return noNS }, clusters).DeliverKong(t.Context(), "lonely", "lonely-app", "the-key")
	if !errors.Is(err, ErrNoNamespace) || strings.Contains(err.Error(), "the-key") {
		t.Errorf("got %v", err)
	}
}

// TestNoDeliveryToANamespaceNotOwned: a tenant whose home namespace was
// made by someone else (the plan blocks it) gets no Secret there: its
// credentials would be its owner's to read.
func TestNoDeliveryToANamespaceNotOwned(t *testing.T) {
	repo, err := loader.Load(os.DirFS("../../examples/platform-repo"))
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(kube.StartT(t, 1)[0].RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "payments"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// payments is on eu-west and us-east; both are this one cluster here.
	c := cluster{cs: cs, owned: map[string]bool{}}
	s := New(func() Tenants { return repo }, map[string]Cluster{"eu-west": c, "us-east": c})
	err = Kafka{s}.Deliver(t.Context(), "payments", "payments.api", "SCRAM-SHA-512", "the-password")
	if !errors.Is(err, ErrNotOwned) || strings.Contains(err.Error(), "the-password") {
		t.Fatalf("got %v, want ErrNotOwned without the password", err)
	}
	secrets, err := cs.CoreV1().Secrets("payments").List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, sec := range secrets.Items {
		if strings.HasPrefix(sec.Name, "kafka-user-") {
			t.Errorf("secret %s delivered into a namespace k3sync does not own", sec.Name)
		}
	}
}
