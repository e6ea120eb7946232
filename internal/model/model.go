package model

import (
	"sort"
)

// Repo is a loaded and validated platform repo.
type Repo struct {
	Platform Platform
	// Tenants sorted by name.
	Tenants []*Tenant
}

// Tenant returns the tenant with the given name, or nil.
func (r *Repo) Tenant(name string) *Tenant {
	i := sort.Search(len(r.Tenants), func(i int) bool { return r.Tenants[i].Name >= name })
	if i < len(r.Tenants) && r.Tenants[i].Name == name {
		return r.Tenants[i]
	}
	return nil
}

// Platform is platform.cue.
type Platform struct {
	Clusters map[string]Cluster      `json:"clusters"`
	Kafka    map[string]KafkaCluster `json:"kafka"`
	Gateways map[string]Gateway      `json:"gateways"`
	Policy   Policy                  `json:"policy"`
}

// Cluster is a logical Kubernetes cluster.
type Cluster struct {
	Name     string   `json:"name"`
	Region   string   `json:"region"`
	Capacity Capacity `json:"capacity"`
}

// Capacity bounds the sum of the tenants' quotas on a cluster.
type Capacity struct {
	CPU    string `json:"cpu"`
	Memory string `json:"memory"`
	Pods   int64  `json:"pods"`
}

// KafkaCluster is a Kafka cluster tenants may place topics on.
type KafkaCluster struct {
	Name    string `json:"name"`
	Brokers int32  `json:"brokers"`
	// TieredStorage: the brokers run tiered storage, so topics may enable
	// it (remote.storage.enable).
	TieredStorage bool        `json:"tieredStorage,omitempty"`
	Limits        KafkaLimits `json:"limits"`
}

// KafkaLimits bounds what tenants may ask of a Kafka cluster.
type KafkaLimits struct {
	MaxPartitionsPerTopic int32    `json:"maxPartitionsPerTopic"`
	MaxReplicationFactor  int16    `json:"maxReplicationFactor"`
	AllowedConfigKeys     []string `json:"allowedConfigKeys"`
}

// Gateway is a Kong gateway.
type Gateway struct {
	Name string `json:"name"`
}

// Policy is the platform policy.
type Policy struct {
	Defaults PolicyDefaults `json:"defaults"`
	Limits   PolicyLimits   `json:"limits"`
	Deletion PolicyDeletion `json:"deletion"`
	// Adoption lets tenants adopt what exists and no tenant owns
	// (policies.adopt).
	Adoption bool `json:"adoption"`
	// Guardrails bound what tenants may ask of each system.
	Guardrails Guardrails `json:"guardrails"`
	// Input bounds the tenant folders k3sync reads and evaluates.
	Input InputLimits `json:"input"`
}

// PolicyDefaults are what tenants get unless they say otherwise.
type PolicyDefaults struct {
	Drift            DriftPolicy      `json:"drift"`
	DriftSchedule    string           `json:"driftSchedule"`
	NetworkIsolation NetworkIsolation `json:"networkIsolation"`
	Topic            TopicDefaults    `json:"topic"`
}

// TopicDefaults are the partitions and replication of a topic that sets none.
type TopicDefaults struct {
	Partitions  int32 `json:"partitions"`
	Replication int16 `json:"replication"`
}

// PolicyLimits bound each tenant.
type PolicyLimits struct {
	MaxNamespacesPerTenant int `json:"maxNamespacesPerTenant"`
	MaxTopicsPerTenant     int `json:"maxTopicsPerTenant"`
	MaxServicesPerTenant   int `json:"maxServicesPerTenant"`
}

// PolicyDeletion says what may be deleted when it disappears from Git.
type PolicyDeletion struct {
	AllowNamespaceDeletion bool `json:"allowNamespaceDeletion"`
	AllowTopicDeletion     bool `json:"allowTopicDeletion"`
	MaxDeletesPerPlan      int  `json:"maxDeletesPerPlan"`
}

// DriftPolicy is what to do about drift.
type DriftPolicy string

// Drift policies.
const (
	DriftReport DriftPolicy = "report"
	DriftRevert DriftPolicy = "revert"
)

// NetworkIsolation is a tenant's network isolation level.
type NetworkIsolation string

// Network isolation levels.
const (
	IsolationNone      NetworkIsolation = "none"
	IsolationTenant    NetworkIsolation = "tenant"
	IsolationNamespace NetworkIsolation = "namespace"
)

// Protection says whether a resource removed from Git may be deleted.
type Protection string

// Protections.
const (
	Protect Protection = "protect"
	Allow   Protection = "allow"
)
