package render

import (
	"github.com/k3sync/k3sync/internal/model"
)

// Output is the desired state of a whole repo or of some tenants.
type Output struct {
	Tenants []*Tenant `json:"tenants"`
}

// Tenant is the desired state of one tenant across systems.
type Tenant struct {
	Name       string              `json:"name"`
	Kubernetes []*ClusterResources `json:"kubernetes,omitempty"`
	Kafka      *KafkaResources     `json:"kafka,omitempty"`
	Kong       *KongResources      `json:"kong,omitempty"`
}

// Repo renders every tenant of repo, or only those named in only.
func Repo(repo *model.Repo, only ...string) *Output {
	out := &Output{}
	for _, t := range repo.Tenants {
		if len(only) > 0 && !contains(only, t.Name) {
			continue
		}
		out.Tenants = append(out.Tenants, TenantResources(&repo.Platform, t))
	}
	return out
}

// TenantResources renders one tenant.
func TenantResources(p *model.Platform, t *model.Tenant) *Tenant {
	return tenant(p, t, false)
}

// TenantOnDemand renders one tenant like TenantResources, except that its
// Kubernetes objects are rendered when a cluster's target asks for them
// (ClusterResources.Desired) and let go once every cluster has released
// them (ClusterResources.Release). The tenant's model and the platform
// must not change while it is in use.
func TenantOnDemand(p *model.Platform, t *model.Tenant) *Tenant {
	return tenant(p, t, true)
}

func tenant(p *model.Platform, t *model.Tenant, onDemand bool) *Tenant {
	return &Tenant{
		Name:       t.Name,
		Kubernetes: kubernetes(p, t, onDemand),
		Kafka:      kafka(p, t),
		Kong:       kong(t),
	}
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}
