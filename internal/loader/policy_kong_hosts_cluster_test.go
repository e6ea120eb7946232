package loader

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestKongShortClusterNames: Kong resolves a name of fewer than five dots
// through the pod's DNS search path (ndots:5) first, and CoreDNS answers
// <port>.<proto>.<service>.<namespace> (via "svc.<domain>") and
// <x>.<dashed-ip>.<namespace>.pod (via "<domain>", any address with "pods
// insecure"), whatever the number of labels. Service URLs, upstream
// targets and plugin hosts of tenant a must stay in a's namespaces; a
// public name of any length still goes through.
func TestKongShortClusterNames(t *testing.T) {
	const other = `package k3sync

owners: ["team@example.com"]
kubernetes: {
	clusters: ["eu-west"]
	namespaces: other: quota: {requests: {cpu: "1", memory: "1Gi"}, pods: 10}
}
`
	// The platform runs Vault, Grafana and its own APIs in namespaces
	// named like top-level domains.
	const reserving = `policy: guardrails: kubernetes: reservedNamespaces: ["security", "app", "prod", "ops-*"]`
	tests := []struct {
		name     string
		kong     string
		platform string   // appended to testdata/platform.cue
		reserved []string // k3sync's own namespaces (Options)
		want     []string
	}{
		{
			name: "pod form with an address, four and five labels",
			kong: `	services: {
		"a-admin": url: "http://x.127-0-0-1.default.pod:8001"
		"a-meta": url: "http://x.169-254-169-254.default.pod"
		"a-five": url: "http://p.q.10-0-0-1.default.pod"
		"a-own": url: "http://x.10-0-0-1.a.pod"
	}`,
			want: []string{
				`tenants/a/tenant.cue:11:14: kong.services."a-admin".url: url "http://x.127-0-0-1.default.pod:8001" is a cluster DNS name that is not a Service (<service>.<namespace>.svc); the platform does not allow it (policy.guardrails.kong.allowedServiceHosts)`,
				`tenants/a/tenant.cue:12:13: kong.services."a-meta".url: url "http://x.169-254-169-254.default.pod" is a cluster DNS name that is not a Service (<service>.<namespace>.svc); the platform does not allow it (policy.guardrails.kong.allowedServiceHosts)`,
				`tenants/a/tenant.cue:13:13: kong.services."a-five".url: url "http://p.q.10-0-0-1.default.pod" is a cluster DNS name that is not a Service (<service>.<namespace>.svc); the platform does not allow it (policy.guardrails.kong.allowedServiceHosts)`,
				`tenants/a/tenant.cue:14:12: kong.services."a-own".url: url "http://x.10-0-0-1.a.pod" is a cluster DNS name that is not a Service (<service>.<namespace>.svc); the platform does not allow it (policy.guardrails.kong.allowedServiceHosts)`,
			},
		},
		{
			name: "service port form of the API server and of another tenant",
			kong: `	services: {
		"a-api": url: "https://https.tcp.kubernetes.default"
		"a-other": url: "http://http.tcp.api.other"
		"a-srv": url: "http://_http._tcp.api.other"
		"a-sys": url: "http://a.b.c.kube-system"
	}`,
			want: []string{
				`tenants/a/tenant.cue:11:12: kong.services."a-api".url: url "https://https.tcp.kubernetes.default" points into namespace "default", which is not tenant a's`,
				`tenants/a/tenant.cue:12:14: kong.services."a-other".url: url "http://http.tcp.api.other" points into namespace "other", which is not tenant a's`,
				`tenants/a/tenant.cue:13:12: kong.services."a-srv".url: url "http://_http._tcp.api.other" points into namespace "other", which is not tenant a's`,
				`tenants/a/tenant.cue:14:12: kong.services."a-sys".url: url "http://a.b.c.kube-system" points into namespace "kube-system", which is not tenant a's`,
			},
		},
		{
			name: "upstream targets",
			kong: `	upstreams: "a-up": targets: [{target: "x.10-0-0-7.a.pod:80"}, {target: "http.tcp.db.other:5432"}]`,
			want: []string{
				`tenants/a/tenant.cue:10:32: kong.upstreams."a-up".targets.0.target: target "x.10-0-0-7.a.pod:80" is a cluster DNS name that is not a Service (<service>.<namespace>.svc); the platform does not allow it (policy.guardrails.kong.allowedServiceHosts)`,
				`tenants/a/tenant.cue:10:65: kong.upstreams."a-up".targets.1.target: target "http.tcp.db.other:5432" points into namespace "other", which is not tenant a's`,
			},
		},
		{
			name: "rate-limiting redis hosts",
			kong: `	services: {
		"a-s": {url: "https://example.com", plugins: "rate-limiting": config: {minute: 5, policy: "redis", redis: host: "x.10-0-0-7.default.pod"}}
		"a-t": {url: "https://example.com", plugins: "rate-limiting": config: {minute: 5, policy: "redis", redis: host: "_redis._tcp.cache.other"}}
	}`,
			want: []string{
				`tenants/a/tenant.cue:11:109: kong.services."a-s".plugins."rate-limiting".config.redis.host: host "x.10-0-0-7.default.pod" is a cluster DNS name that is not a Service (<service>.<namespace>.svc); the platform does not allow it (policy.guardrails.kong.allowedServiceHosts)`,
				`tenants/a/tenant.cue:12:109: kong.services."a-t".plugins."rate-limiting".config.redis.host: host "_redis._tcp.cache.other" points into namespace "other", which is not tenant a's`,
			},
		},
		{
			name:     "namespaces the platform and k3sync reserve, named like top-level domains",
			platform: reserving,
			reserved: []string{"tools"},
			kong: `	services: {
		"a-vault": url: "http://vault.security:8200"
		"a-grafana": url: "http://grafana.app"
		"a-prod": url: "http://api.prod"
		"a-port": url: "http://http.tcp.api.prod"
		"a-k3sync": url: "http://k3sync.tools"
	}
	upstreams: "a-up": targets: [{target: "vault.security:8200"}]`,
			want: []string{
				`tenants/a/tenant.cue:11:14: kong.services."a-vault".url: url "http://vault.security:8200" points into namespace "security", which is not tenant a's`,
				`tenants/a/tenant.cue:12:16: kong.services."a-grafana".url: url "http://grafana.app" points into namespace "app", which is not tenant a's`,
				`tenants/a/tenant.cue:13:13: kong.services."a-prod".url: url "http://api.prod" points into namespace "prod", which is not tenant a's`,
				`tenants/a/tenant.cue:14:13: kong.services."a-port".url: url "http://http.tcp.api.prod" points into namespace "prod", which is not tenant a's`,
				`tenants/a/tenant.cue:15:15: kong.services."a-k3sync".url: url "http://k3sync.tools" points into namespace "tools", which is not tenant a's`,
				`tenants/a/tenant.cue:17:32: kong.upstreams."a-up".targets.0.target: target "vault.security:8200" points into namespace "security", which is not tenant a's`,
			},
		},
		{
			// k3sync cannot know a platform namespace that platform.cue
			// does not reserve: such a name counts as public.
			name: "a top-level domain the platform does not reserve is public",
			kong: `	services: "a-s": url: "https://grafana.app"`,
		},
		{
			name:     "the tenant's own Services and public names of any length",
			platform: reserving,
			kong: `	services: {
		"a-short": url: "http://api.a"
		"a-svc": url: "http://api.a.svc"
		"a-fqdn": url: "http://api.a.svc.cluster.local."
		"a-port": url: "http://http.tcp.api.a"
		"a-web": url: "http://web-0.web.a.svc"
		"a-pub": url: "https://api.eu.partner.example.com"
		"a-pub5": url: "https://a.b.c.d.example.com"
		"a-pub6": url: "https://a.b.c.d.e.example.com"
		"a-shop": url: "https://shop.example.app"
		"a-r": {url: "https://example.com", plugins: "rate-limiting": config: {minute: 5, policy: "redis", redis: host: "redis.eu.partner.example.com"}}
	}
	upstreams: "a-up": targets: [{target: "api.a.svc:80"}, {target: "http.tcp.db.a:5432"}]`,
			want: []string{
				// The platform reserves app: every name ending in it is
				// the cluster's first.
				`tenants/a/tenant.cue:19:13: kong.services."a-shop".url: url "https://shop.example.app" points into namespace "app", which is not tenant a's`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := kongErrors(t, tt.platform, tt.kong, map[string]string{"other": other}, Options{ReservedNamespaces: tt.reserved})
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

// TestClassifyShortClusterNames checks the classifier every destination
// shares, name by name.
func TestClassifyShortClusterNames(t *testing.T) {
	d := destinations{domain: "cluster.local", exact: map[string]bool{}, namespaces: map[string]bool{
		"a": true, "default": true, "security": true,
	}}
	tests := []struct {
		host string
		kind destKind
		ns   string
	}{
		{"api.a", destNamespace, "a"},
		{"API.A.SVC.cluster.local.", destNamespace, "a"},
		{"http.tcp.api.other", destNamespace, "other"},
		{"_http._tcp.api.other", destNamespace, "other"},
		{"https.tcp.kubernetes.default", destNamespace, "default"},
		{"a.b.c.d.other", destNamespace, "other"},
		{"vault.security", destNamespace, "security"},
		{"x.y.vault.security", destNamespace, "security"},
		{"x.127-0-0-1.default.pod", destRefused, ""},
		{"p.q.10-0-0-1.default.pod", destRefused, ""},
		{"x.10-0-0-1.a.pod", destRefused, ""},
		{"api.eu.partner.example.com", destPublic, ""},
		{"a.b.c.d.example.com", destPublic, ""},
		{"grafana.app", destPublic, ""},
		// Five dots: tried as it is first, which fails (no such
		// top-level domain), then with the search suffixes: never public.
		{"a.b.c.d.e.other", destNamespace, "other"},
		{"a.b.c.d.e.security", destNamespace, "security"},
		{"a.b.c.d.example.com", destPublic, ""},
		{"upstream", destSingleLabel, ""},
	}
	for _, tt := range tests {
		got := d.classify(tt.host)
		if got.kind != tt.kind || got.namespace != tt.ns {
			t.Errorf("classify(%q) = kind %d, namespace %q; want kind %d, namespace %q", tt.host, got.kind, got.namespace, tt.kind, tt.ns)
		}
	}
}
