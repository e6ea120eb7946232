// Package repogen generates valid platform repos of any size, for
// benchmarks and load tests: every tenant uses every feature.
package repogen

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing/fstest"
)

// Options shape a generated repo.
type Options struct {
	// Tenants is the number of tenants.
	Tenants int
	// Clusters are the logical clusters every tenant is placed on
	// (default eu-west and us-east).
	Clusters []string
}

// Generate returns a repo with opts.Tenants tenants named t0000, t0001, ….
func Generate(opts Options) fstest.MapFS {
	if len(opts.Clusters) == 0 {
		opts.Clusters = []string{"eu-west", "us-east"}
	}
	fsys := fstest.MapFS{"platform.cue": {Data: []byte(platform(opts))}}
	for i := range opts.Tenants {
		name := TenantName(i)
		fsys["tenants/"+name+"/tenant.cue"] = &fstest.MapFile{Data: []byte(tenant(name, opts.Clusters))}
	}
	return fsys
}

// TenantName is the name of the i-th generated tenant.
func TenantName(i int) string { return fmt.Sprintf("t%04d", i) }

// WriteDir writes a generated repo into dir.
func WriteDir(dir string, opts Options) error {
	for name, f := range Generate(opts) {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fmt.Errorf("repogen: %w", err)
		}
		if err := os.WriteFile(p, f.Data, 0o644); err != nil {
			return fmt.Errorf("repogen: %w", err)
		}
	}
	return nil
}

func platform(opts Options) string {
	var b strings.Builder
	b.WriteString("package k3sync\n\nclusters: {\n")
	for _, c := range opts.Clusters {
		// Room for every tenant's quota.
		fmt.Fprintf(&b, "\t%q: {region: %q, capacity: {cpu: \"%d\", memory: \"%dGi\", pods: %d}}\n", c, c, 4*opts.Tenants+1, 8*opts.Tenants+1, 40*opts.Tenants+1)
	}
	b.WriteString("}\nkafka: main: {brokers: 3, limits: maxPartitionsPerTopic: 48}\ngateways: edge: {}\npolicy: {}\n")
	return b.String()
}

func tenant(name string, clusters []string) string {
	quoted := make([]string, len(clusters))
	for i, c := range clusters {
		quoted[i] = fmt.Sprintf("%q", c)
	}
	r := strings.NewReplacer("TENANT", name, "CLUSTERS", strings.Join(quoted, ", "))
	return r.Replace(`package k3sync

owners: ["team-TENANT@example.com"]

kubernetes: {
	clusters: [CLUSTERS]
	namespaces: {
		TENANT: {
			labels: "cost-center": "TENANT"
			quota: {requests: {cpu: "1500m", memory: "3Gi"}, limits: {cpu: "3", memory: "6Gi"}, pods: 20}
			limitRange: default: {cpu: "250m", memory: "256Mi"}
		}
		"TENANT-jobs": quota: {requests: {cpu: "2", memory: "4096Mi"}, pods: 10}
	}
	access: [{group: "TENANT-devs", role: "edit"}, {group: "TENANT-oncall", role: "admin", namespaces: ["TENANT"]}]
}

kafka: {
	cluster: "main"
	topics: {
		"TENANT.events": {partitions: 6, configs: {"retention.ms": 604800000, "cleanup.policy": "delete"}}
		"TENANT.state": configs: "cleanup.policy": "compact"
		"TENANT.dlq": {partitions: 1, deletion: "allow"}
	}
	users: "TENANT.app": {
		acls: [
			{resource: "topic", name: "TENANT.", pattern: "prefixed", operations: ["read", "write", "describe"]},
			{resource: "group", name: "TENANT.", pattern: "prefixed", operations: ["read"]},
		]
		quota: producerByteRate: 1048576
	}
}

kong: {
	gateway: "edge"
	upstreams: "TENANT-api": targets: [{target: "api.TENANT.svc:8080"}]
	services: "TENANT-api": {
		url: "http://TENANT-api:8080"
		routes: {
			"TENANT-read": {paths: ["/TENANT"], methods: ["GET"]}
			"TENANT-write": {paths: ["/TENANT/write"], methods: ["POST"]}
		}
		plugins: "rate-limiting": config: {minute: 100, policy: "local"}
	}
	consumers: "TENANT-client": {keyAuth: true}
}
`)
}
