// Package credentials delivers the secrets k3sync generates — Kafka SCRAM
// passwords, Kong key-auth keys — to the tenant, as Kubernetes Secrets in
// the tenant's own namespace on every cluster of the tenant.
//
// # Where
//
// The tenant's home namespace is the namespace named like the tenant, or
// its first namespace in name order. Credentials go there only where
// k3sync's inventory lists that namespace as the tenant's: a namespace
// that existed before (blocked, not owned) never receives them. Secrets are named kafka-user-<user>
// and kong-consumer-<consumer> and written with server-side apply by the
// field manager k3sync-credentials, so a re-delivery (rotation) replaces
// the value in place.
//
// # Never shown
//
// Values go from the generator to the Secret and nowhere else: not to
// logs, errors, plans or state.
package credentials

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	applycorev1 "k8s.io/client-go/applyconfigurations/core/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/k3sync/k3sync/internal/model"
	"github.com/k3sync/k3sync/internal/render"
)

// FieldManager writes the credential Secrets.
const FieldManager = "k3sync-credentials"

// LabelCredential marks a Secret k3sync delivered, with its kind.
const LabelCredential = "k3sync.io/credential"

// Tenants looks tenants up in the current revision.
type Tenants interface {
	Tenant(name string) *model.Tenant
}

// Cluster is one cluster credentials are delivered to (the Kubernetes
// target of that cluster).
type Cluster interface {
	Clientset() kubernetes.Interface
	// OwnsNamespace reports whether k3sync's inventory lists namespace as
	// the tenant's on this cluster.
	OwnsNamespace(ctx context.Context, tenant, namespace string) (bool, error)
}

// Secrets delivers credentials as Kubernetes Secrets.
type Secrets struct {
	tenants  func() Tenants
	clusters map[string]Cluster
}

// New returns a Secrets sink; tenants returns the current revision's
// tenants, clusters the clusters by logical name.
func New(tenants func() Tenants, clusters map[string]Cluster) *Secrets {
	return &Secrets{tenants: tenants, clusters: clusters}
}

// ErrNotOwned: the tenant's home namespace exists but k3sync does not own
// it for the tenant (someone else made it; the plan shows it blocked).
// Delivering there would hand the tenant's credentials to its owner.
var ErrNotOwned = errors.New("the namespace is not the tenant's in k3sync's inventory: credentials are only delivered to namespaces k3sync created for the tenant")

// ErrNoNamespace: the tenant has no namespace to receive its credentials.
var ErrNoNamespace = errors.New("tenant has no Kubernetes namespace to deliver credentials to")

// HomeNamespace is where a tenant's credentials go.
func HomeNamespace(t *model.Tenant) (string, bool) {
	if t == nil || t.Kubernetes == nil || len(t.Kubernetes.Namespaces) == 0 {
		return "", false
	}
	if _, ok := t.Kubernetes.Namespaces[t.Name]; ok {
		return t.Name, true
	}
	names := make([]string, 0, len(t.Kubernetes.Namespaces))
	for n := range t.Kubernetes.Namespaces {
		names = append(names, n)
	}
	sort.Strings(names)
	return names[0], true
}

// KafkaSecretName is the Secret of a Kafka user.
func KafkaSecretName(user string) string { return "kafka-user-" + user }

// KongSecretName is the Secret of a Kong consumer's key.
func KongSecretName(consumer string) string { return "kong-consumer-" + consumer }

// DeliverKafka writes a SCRAM user's password (the Kafka target's sink).
func (s *Secrets) DeliverKafka(ctx context.Context, tenant, user, mechanism, password string) error {
	return s.deliver(ctx, tenant, "kafka", KafkaSecretName(user), map[string]string{
		"username": user, "password": password, "mechanism": mechanism,
	})
}

// DeliverKong writes a consumer's key-auth key (the Kong target's sink).
func (s *Secrets) DeliverKong(ctx context.Context, tenant, consumer, key string) error {
	return s.deliver(ctx, tenant, "kong", KongSecretName(consumer), map[string]string{
		"consumer": consumer, "key": key,
	})
}

func (s *Secrets) deliver(ctx context.Context, tenant, kind, name string, data map[string]string) error {
	t := s.tenants().Tenant(tenant)
	ns, ok := HomeNamespace(t)
	if !ok {
		return fmt.Errorf("deliver %s secret %s of tenant %s: %w", kind, name, tenant, ErrNoNamespace)
	}
	clusters := slices.Clone(t.Kubernetes.Clusters)
	slices.Sort(clusters)
	var errs []error
	for _, cl := range clusters {
		c, ok := s.clusters[cl]
		if !ok {
			errs = append(errs, fmt.Errorf("deliver %s secret %s/%s: cluster %s is not configured", kind, ns, name, cl))
			continue
		}
		owned, err := c.OwnsNamespace(ctx, tenant, ns)
		if err == nil && !owned {
			err = ErrNotOwned
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("deliver %s secret %s/%s on cluster %s: %w", kind, ns, name, cl, err))
			continue
		}
		cs := c.Clientset()
		sec := applycorev1.Secret(name, ns).
			WithLabels(map[string]string{render.LabelManagedBy: render.ManagedBy, render.LabelTenant: tenant, LabelCredential: kind}).
			WithType(corev1.SecretTypeOpaque).
			WithStringData(data)
		if _, err := cs.CoreV1().Secrets(ns).Apply(ctx, sec, metav1.ApplyOptions{FieldManager: FieldManager, Force: true}); err != nil {
			// The API error names the Secret, never its data.
			errs = append(errs, fmt.Errorf("deliver %s secret %s/%s on cluster %s: %w", kind, ns, name, cl, err))
		}
	}
	return errors.Join(errs...)
}

// Kafka adapts Secrets to the Kafka target's sink.
type Kafka struct{ *Secrets }

// Deliver implements the Kafka target's CredentialSink.
func (k Kafka) Deliver(ctx context.Context, tenant, user, mechanism, password string) error {
	return k.DeliverKafka(ctx, tenant, user, mechanism, password)
}

// Kong adapts Secrets to the Kong target's sink.
type Kong struct{ *Secrets }

// Deliver implements the Kong target's CredentialSink.
func (k Kong) Deliver(ctx context.Context, tenant, consumer, key string) error {
	return k.DeliverKong(ctx, tenant, consumer, key)
}
