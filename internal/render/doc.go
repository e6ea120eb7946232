// Package render turns the tenant model into the desired resources of each
// system and target: Kubernetes objects per cluster, Kafka topics, ACLs,
// quotas and users per Kafka cluster, Kong entities per gateway.
//
// # Determinism
//
// Rendering is a pure function of the repo: no I/O, no clock, no random
// values. Output order is stable (kinds in dependency order, then names),
// so renders can be golden-tested and diffed across commits.
//
// # On demand
//
// The daemon renders a tenant's Kubernetes objects only when a cluster's
// target plans or applies it (TenantOnDemand, ClusterResources.Desired),
// and the target lets them go tenant by tenant (ClusterResources.Release):
// since rendering is deterministic, rendering again gives the same
// objects, and a sync of a thousand tenants never holds all of them. The
// CLI and the pull request loop render up front (TenantResources).
//
// # Canonical values
//
// Values are written the way the target stores them, so a server's
// normalisation never shows up as a change: Kubernetes quantities in their
// canonical form ("4096Mi" → "4Gi", "2500m" → "2500m", "1000m" → "1"), Kafka
// configs as Kafka's strings, Kong targets with their port.
//
// # Ownership marks
//
// Every rendered resource carries k3sync's marks: on Kubernetes the labels
// k3sync.io/tenant and app.kubernetes.io/managed-by=k3sync, on Kong the tags
// "k3sync" and "k3sync-tenant:<name>". Secrets (SCRAM passwords, key-auth
// keys) are never rendered; only the fact that they exist.
package render

// Ownership labels and tags.
const (
	LabelTenant    = "k3sync.io/tenant"
	LabelManagedBy = "app.kubernetes.io/managed-by"
	ManagedBy      = "k3sync"
	TagManaged     = "k3sync"
	TagTenantPref  = "k3sync-tenant:"
)

// Names of the per-namespace objects k3sync renders (a tenant's quota and
// limit range may name theirs: quota.name, limitRange.name).
const (
	QuotaName          = "tenant-quota"
	LimitRangeName     = "tenant-limits"
	NetworkPolicyName  = "k3sync-isolation"
	ServiceAccountName = "deployer"
)
