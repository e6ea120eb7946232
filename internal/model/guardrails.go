package model

import (
	"fmt"
	"time"
)

// Guardrails bound what tenants may ask of each system (policy.guardrails).
type Guardrails struct {
	Kubernetes KubernetesGuardrails `json:"kubernetes"`
	Kafka      KafkaGuardrails      `json:"kafka"`
	Kong       KongGuardrails       `json:"kong"`
}

// KubernetesGuardrails bound tenants on Kubernetes.
type KubernetesGuardrails struct {
	// ReservedNamespaces are names, or prefixes ending in "-*", no tenant
	// may claim (on top of default and kube-*).
	ReservedNamespaces []string `json:"reservedNamespaces"`
	// ReservedTenants are tenant names no one may use (on top of
	// default, kube, k3sync and system).
	ReservedTenants []string `json:"reservedTenants"`
	// AllowedClusterRoles are the ClusterRoles access grants may bind.
	AllowedClusterRoles []string `json:"allowedClusterRoles"`
	// GroupPattern, when set, is a regular expression every group must
	// match; "{tenant}" stands for the tenant's name.
	GroupPattern string `json:"groupPattern,omitempty"`
	// AllowedLabelKeys and AllowedAnnotationKeys are keys (or prefixes
	// ending in "/") allowed despite a reserved prefix.
	AllowedLabelKeys      []string `json:"allowedLabelKeys"`
	AllowedAnnotationKeys []string `json:"allowedAnnotationKeys"`
	// ReservedKeyDomains are label and annotation key domains, beyond
	// Kubernetes' own, whose keys are reserved like kubernetes.io's.
	ReservedKeyDomains []string `json:"reservedKeyDomains"`
}

// KafkaGuardrails bound tenants on Kafka.
type KafkaGuardrails struct {
	// AllowedClusterOperations are the operations ACLs may name on the
	// cluster resource.
	AllowedClusterOperations []string `json:"allowedClusterOperations"`
	// AllowedTopicOperations are the operations allow ACLs may name on
	// the tenant's topics.
	AllowedTopicOperations []string `json:"allowedTopicOperations"`
	// WildcardHostOnly allows only "*" as an ACL host.
	WildcardHostOnly bool `json:"wildcardHostOnly"`
	// MaxQuota caps every user's client quota; a set ceiling makes that
	// quota required.
	MaxQuota KafkaQuota `json:"maxQuota"`
	// MaxTopicConfigs caps integer topic configs by key: a topic may set
	// one at most this high and not below 0 (Kafka's "unlimited").
	MaxTopicConfigs map[string]int64 `json:"maxTopicConfigs"`
	// MinTopicConfigs are floors on integer topic configs by key: a
	// topic may set one no lower (negative values, Kafka's "unlimited",
	// are the ceilings' concern).
	MinTopicConfigs map[string]int64 `json:"minTopicConfigs"`
}

// KongGuardrails bound tenants on Kong.
type KongGuardrails struct {
	// AllowedRouteHosts are host patterns ("{tenant}" for the tenant's
	// name, one leading or trailing "*" label) route hosts must match.
	AllowedRouteHosts []string `json:"allowedRouteHosts"`
	// AllowedPlugins are the plugins tenants may attach.
	AllowedPlugins []string `json:"allowedPlugins"`
	// AllowedServiceCIDRs and AllowedServiceHosts admit service, target
	// and plugin hosts that are refused by default (non-global IPs,
	// localhost, metadata, cluster names outside the tenant).
	AllowedServiceCIDRs []string `json:"allowedServiceCIDRs"`
	AllowedServiceHosts []string `json:"allowedServiceHosts"`
	// ClusterDomain is the cluster's DNS domain (cluster.local).
	ClusterDomain string `json:"clusterDomain"`
}

// InputLimits bound what k3sync reads and evaluates of the tenant folders
// (policy.input). The loader enforces the sizes and counts; the evaluation
// sandbox enforces EvalTimeout and MaxEvalMemory.
type InputLimits struct {
	// MaxFileBytes bounds one tenant .cue file.
	MaxFileBytes int64 `json:"maxFileBytes"`
	// MaxFilesPerTenant bounds the .cue files of one tenant folder.
	MaxFilesPerTenant int `json:"maxFilesPerTenant"`
	// MaxEntriesPerTenant bounds the entries of any kind listed in one
	// tenant folder.
	MaxEntriesPerTenant int `json:"maxEntriesPerTenant"`
	// MaxTenantBytes bounds all .cue files of one tenant together.
	MaxTenantBytes int64 `json:"maxTenantBytes"`
	// MaxRepoBytes bounds all tenant .cue files of the repo together.
	MaxRepoBytes int64 `json:"maxRepoBytes"`
	// EvalTimeout is how long evaluating one tenant may take, as a Go
	// duration ("10s"); see EvalTimeoutDuration.
	EvalTimeout string `json:"evalTimeout"`
	// MaxEvalMemory is the bytes of memory evaluating one tenant may use.
	MaxEvalMemory int64 `json:"maxEvalMemory"`
}

// EvalTimeoutDuration is EvalTimeout parsed; the schema admits only Go
// durations, so an error means the limits did not come from the loader.
func (l InputLimits) EvalTimeoutDuration() (time.Duration, error) {
	d, err := time.ParseDuration(l.EvalTimeout)
	if err != nil {
		return 0, fmt.Errorf("policy.input.evalTimeout: %w", err)
	}
	return d, nil
}
