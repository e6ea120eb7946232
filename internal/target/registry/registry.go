// Package registry builds k3sync's targets from the configuration: one for
// every Kubernetes cluster, Kafka cluster and gateway the config names, in
// apply order, with the sinks that deliver generated credentials wired in.
// The daemon (`k3sync serve`) and the CLI (`k3sync plan/apply`) both build
// their targets here, so they drive the same targets the same way.
//
// Adding a system means a target package and one more loop in [Build];
// docs/architecture.md ("Adding a system") lists the other places.
//
// Nothing is contacted: the targets connect on their first plan.
package registry

import (
	"fmt"
	"maps"
	"slices"

	"k8s.io/client-go/kubernetes"

	"github.com/k3sync/k3sync/internal/apply"
	"github.com/k3sync/k3sync/internal/config"
	"github.com/k3sync/k3sync/internal/credentials"
	"github.com/k3sync/k3sync/internal/plan"
	"github.com/k3sync/k3sync/internal/state"
	kafkatarget "github.com/k3sync/k3sync/internal/target/kafka"
	kongtarget "github.com/k3sync/k3sync/internal/target/kong"
	k8starget "github.com/k3sync/k3sync/internal/target/kubernetes"
)

// Set is the targets built from one config.
type Set struct {
	// Targets in apply order: the Kubernetes clusters, then the Kafka
	// clusters, then the gateways, each group sorted by name.
	Targets []apply.Target
	// Clientsets are the Kubernetes clusters' clients by cluster name (the
	// daemon's leader election runs on one of them).
	Clientsets map[string]kubernetes.Interface

	// names are the configured targets per system.
	names   map[plan.System]map[string]bool
	closers []func()
}

// Build builds a target for every cluster, Kafka cluster and gateway of
// cfg, in that order, each group sorted by name; store keeps their
// inventory and last applied state. Generated credentials (Kafka SCRAM
// passwords, Kong keys) go to Secrets in the tenants' namespaces on the
// configured clusters (credentials.New); tenants returns the tenants of
// the current revision when a credential is delivered.
//
// On error, what was built is closed and the error, the target's own,
// names the target ("kafka main: tls ca: ...").
func Build(cfg *config.Config, store state.Store, tenants func() credentials.Tenants) (_ *Set, err error) {
	s := &Set{
		Clientsets: map[string]kubernetes.Interface{},
		names:      map[plan.System]map[string]bool{},
	}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	clusters := map[string]credentials.Cluster{}
	for _, name := range sortedKeys(cfg.Clusters) {
		t, err := k8starget.New(name, cfg.Clusters[name], store)
		if err != nil {
			return nil, err //nolint:wrapcheck // names the target
		}
		s.Clientsets[name] = t.Clientset()
		clusters[name] = t
		s.add(t)
	}
	secrets := credentials.New(tenants, clusters)
	for _, name := range sortedKeys(cfg.Kafka) {
		t, err := kafkatarget.New(name, cfg.Kafka[name], store, credentials.Kafka{Secrets: secrets})
		if err != nil {
			return nil, err //nolint:wrapcheck // names the target
		}
		s.closers = append(s.closers, t.Close)
		s.add(t)
	}
	for _, name := range sortedKeys(cfg.Gateways) {
		t, err := kongtarget.New(name, cfg.Gateways[name], store, credentials.Kong{Secrets: secrets})
		if err != nil {
			return nil, err //nolint:wrapcheck // names the target
		}
		s.add(t)
	}
	return s, nil
}

func (s *Set) add(t apply.Target) {
	if s.names[t.System()] == nil {
		s.names[t.System()] = map[string]bool{}
	}
	s.names[t.System()][t.Name()] = true
	s.Targets = append(s.Targets, t)
}

// Close closes what the targets hold open (the Kafka clients), in
// reverse order. It may be called more than once.
func (s *Set) Close() {
	for i := len(s.closers) - 1; i >= 0; i-- {
		s.closers[i]()
	}
	s.closers = nil
}

// Missing returns the systems the tenants use that the config does not
// name (a cluster, Kafka cluster or gateway without a target), once each,
// in the order the tenants use them. No target plans them: the CLI reports
// them with the plan's errors.
func (s *Set) Missing(tenants []plan.TenantRequest) []plan.TargetError {
	var out []plan.TargetError
	add := func(sys plan.System, name, what string) {
		if s.names[sys][name] {
			return
		}
		e := plan.TargetError{System: sys, Target: name, Message: fmt.Sprintf("%s %s is used by tenants but not in the config file", what, name)}
		if !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	for _, t := range tenants {
		d := t.Desired
		if d == nil {
			continue
		}
		for _, cr := range d.Kubernetes {
			add(plan.Kubernetes, cr.Cluster, "cluster")
		}
		if k := d.Kafka; k != nil {
			add(plan.Kafka, k.Cluster, "Kafka cluster")
		}
		if k := d.Kong; k != nil {
			add(plan.Kong, k.Gateway, "gateway")
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }
