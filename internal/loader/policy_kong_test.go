package loader

import (
	"maps"
	"os"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"

	"github.com/k3sync/k3sync/internal/kongspec"
)

// kongTenant is tenant a's file: namespace "a" on eu-west and, from line
// 9 on, the kong block body.
func kongTenant(kong string) string {
	return `package k3sync

owners: ["team@example.com"]
kubernetes: {
	clusters: ["eu-west"]
	namespaces: a: quota: {requests: {cpu: "1", memory: "1Gi"}, pods: 10}
}
kong: {
	gateway: "edge"
` + kong + `
}
`
}

// tenantABOnPathAB is tenant ab with one route on "/ab", a path tenant a's
// bare "/a" would also match.
const tenantABOnPathAB = `package k3sync

owners: ["team@example.com"]
kong: {
	gateway: "edge"
	services: "ab-s": {url: "https://example.com", routes: "ab-r": paths: ["/ab"]}
}
`

// kongErrors loads tenant a, kongTenant(kong), beside tenants (name ->
// file) on the test platform with extra added, and returns what k3sync
// validate prints, line by line (nil when the repo is valid).
func kongErrors(t *testing.T, extra, kong string, tenants map[string]string, opts Options) []string {
	t.Helper()
	fsys := fstest.MapFS{
		"platform.cue":         {Data: []byte(string(testPlatform(t)) + "\n" + extra + "\n")},
		"tenants/a/tenant.cue": {Data: []byte(kongTenant(kong))},
	}
	for name, src := range tenants {
		fsys["tenants/"+name+"/tenant.cue"] = &fstest.MapFile{Data: []byte(src)}
	}
	_, err := LoadWith(t.Context(), fsys, opts)
	if err == nil {
		return nil
	}
	l, ok := Validation(err)
	if !ok {
		t.Fatalf("not a validation error: %v", err)
	}
	return strings.Split(l.Error(), "\n")
}

// with is tenants and one more.
func with(tenants map[string]string, name, src string) map[string]string {
	out := maps.Clone(tenants)
	if out == nil {
		out = map[string]string{}
	}
	out[name] = src
	return out
}

// TestKongGuardrails loads hostile tenants and checks the exact lines
// k3sync validate prints; a platform that widens a default on purpose
// accepts the same tenant.
func TestKongGuardrails(t *testing.T) {
	const other = `package k3sync

owners: ["team@example.com"]
kubernetes: {
	clusters: ["eu-west"]
	namespaces: other: quota: {requests: {cpu: "1", memory: "1Gi"}, pods: 10}
}
kong: {
	gateway: "edge"
	services: "other-api": {
		url: "http://api.other.svc:80"
		routes: "other-r": paths: ["/other"]
	}
}
`
	tests := []struct {
		name     string
		kong     string
		platform string // appended to testdata/platform.cue
		tenants  map[string]string
		want     []string
	}{
		{
			name: "group of another tenant",
			kong: `	consumers: "a-c": groups: ["other-admins", "a", "a-partners"]`,
			want: []string{`tenants/a/tenant.cue:10:29: kong.consumers."a-c".groups.0: ACL group "other-admins" is outside tenant a's prefix ("a" or "a-...")`},
		},
		{
			name: "group outside Kong's character set",
			kong: `	consumers: "a-c": groups: ["a-x/y"]`,
			want: []string{`tenants/a/tenant.cue:10:29: kong.consumers."a-c".groups.0: ACL group "a-x/y" has characters Kong does not accept: use letters, digits, '.', '-', '_' and '~'`},
		},
		{
			name: "custom_id outside Kong's character set",
			kong: `	consumers: "a-c": customId: "a id"`,
			want: []string{`tenants/a/tenant.cue:10:20: kong.consumers."a-c".customId: custom_id "a id" has characters Kong does not accept: use letters, digits, '.', '-', '_' and '~'`},
		},
		{
			name: "host not allowed by default",
			kong: `	services: "a-s": {url: "https://example.com", routes: "a-r": {paths: ["/a"], hosts: ["login.example.com"]}}`,
			want: []string{`tenants/a/tenant.cue:10:87: kong.services."a-s".routes."a-r".hosts.0: host "login.example.com" is not allowed: the platform allows no route hosts (policy.guardrails.kong.allowedRouteHosts)`},
		},
		{
			name:     "host outside the platform's patterns",
			kong:     `	services: "a-s": {url: "https://example.com", routes: "a-r": {paths: ["/a"], hosts: ["b.apps.example.com", "x.b.example.com", "*.example.com", "a.*"]}}`,
			platform: `policy: guardrails: kong: allowedRouteHosts: ["{tenant}.apps.example.com", "*.{tenant}.example.com", "{tenant}.*"]`,
			want: []string{
				`tenants/a/tenant.cue:10:87: kong.services."a-s".routes."a-r".hosts.0: host "b.apps.example.com" is not allowed for tenant a (allowed: a.apps.example.com, *.a.example.com, a.*)`,
				`tenants/a/tenant.cue:10:109: kong.services."a-s".routes."a-r".hosts.1: host "x.b.example.com" is not allowed for tenant a (allowed: a.apps.example.com, *.a.example.com, a.*)`,
				`tenants/a/tenant.cue:10:128: kong.services."a-s".routes."a-r".hosts.2: host "*.example.com" is not allowed for tenant a (allowed: a.apps.example.com, *.a.example.com, a.*)`,
			},
		},
		{
			name:     "hosts inside the platform's patterns",
			kong:     `	services: "a-s": {url: "https://example.com", routes: "a-r": {paths: ["/a"], hosts: ["A.apps.example.com.", "x.y.a.example.com", "*.a.example.com", "a.example.org:8443", "a.*"]}}`,
			platform: `policy: guardrails: kong: allowedRouteHosts: ["{tenant}.apps.example.com", "*.{tenant}.example.com", "{tenant}.*"]`,
		},
		{
			name:     "same host in another case and with a trailing dot",
			kong:     `	services: "a-s": {url: "https://example.com", routes: "a-r": {paths: ["/a"], hosts: ["api.example.com", "API.Example.com."]}}`,
			platform: `policy: guardrails: kong: allowedRouteHosts: ["api.example.com"]`,
			want:     []string{`tenants/a/tenant.cue:10:72: kong.services."a-s".routes."a-r".paths.0: route path /a on host api.example.com of gateway edge is declared twice by tenant a`},
		},
		{
			name: "url upper case into another namespace",
			kong: `	services: "a-s": url: "http://API.OTHER.svc"`,
			want: []string{`tenants/a/tenant.cue:10:19: kong.services."a-s".url: url "http://API.OTHER.svc" points into namespace "other", which is not tenant a's`},
		},
		{
			name: "url two-label name of another namespace",
			kong: `	services: "a-s": url: "http://api.other"`,
			want: []string{`tenants/a/tenant.cue:10:19: kong.services."a-s".url: url "http://api.other" points into namespace "other", which is not tenant a's`},
		},
		{
			name: "url pod name of another namespace",
			kong: `	services: "a-s": url: "http://p-0.db.other.svc.cluster.local."`,
			want: []string{`tenants/a/tenant.cue:10:19: kong.services."a-s".url: url "http://p-0.db.other.svc.cluster.local." points into namespace "other", which is not tenant a's`},
		},
		{
			name: "url pod DNS name",
			kong: `	services: "a-s": url: "http://10-0-0-1.other.pod.cluster.local"`,
			want: []string{`tenants/a/tenant.cue:10:19: kong.services."a-s".url: url "http://10-0-0-1.other.pod.cluster.local" is a cluster DNS name that is not a Service (<service>.<namespace>.svc); the platform does not allow it (policy.guardrails.kong.allowedServiceHosts)`},
		},
		{
			name: "url metadata address",
			kong: `	services: "a-s": url: "http://169.254.169.254/latest/meta-data"`,
			want: []string{`tenants/a/tenant.cue:10:19: kong.services."a-s".url: url "http://169.254.169.254/latest/meta-data" points to the cloud metadata address 169.254.169.254; the platform does not allow it (policy.guardrails.kong.allowedServiceCIDRs)`},
		},
		{
			name: "url IPv6 loopback",
			kong: `	services: "a-s": url: "http://[::1]:80"`,
			want: []string{`tenants/a/tenant.cue:10:19: kong.services."a-s".url: url "http://[::1]:80" points to loopback address ::1; the platform does not allow it (policy.guardrails.kong.allowedServiceCIDRs)`},
		},
		{
			name: "url decimal IPv4",
			kong: `	services: "a-s": url: "http://2852039166"`,
			want: []string{`tenants/a/tenant.cue:10:19: kong.services."a-s".url: url "http://2852039166" points to the cloud metadata address 169.254.169.254; the platform does not allow it (policy.guardrails.kong.allowedServiceCIDRs)`},
		},
		{
			name: "url hex, short dotted and mapped IPv4",
			kong: `	services: {
		"a-hex": url: "http://0xA9FEA9FE"
		"a-short": url: "http://127.1:8080"
		"a-mapped": url: "http://[::ffff:10.0.0.1]"
		"a-nat64": url: "http://[64:ff9b::7f00:1]"
	}`,
			want: []string{
				`tenants/a/tenant.cue:11:12: kong.services."a-hex".url: url "http://0xA9FEA9FE" points to the cloud metadata address 169.254.169.254; the platform does not allow it (policy.guardrails.kong.allowedServiceCIDRs)`,
				`tenants/a/tenant.cue:12:14: kong.services."a-short".url: url "http://127.1:8080" points to loopback address 127.0.0.1; the platform does not allow it (policy.guardrails.kong.allowedServiceCIDRs)`,
				`tenants/a/tenant.cue:13:15: kong.services."a-mapped".url: url "http://[::ffff:10.0.0.1]" points to private address 10.0.0.1; the platform does not allow it (policy.guardrails.kong.allowedServiceCIDRs)`,
				`tenants/a/tenant.cue:14:14: kong.services."a-nat64".url: url "http://[64:ff9b::7f00:1]" points to loopback address 64:ff9b::7f00:1; the platform does not allow it (policy.guardrails.kong.allowedServiceCIDRs)`,
			},
		},
		{
			name: "url localhost and metadata names",
			kong: `	services: {
		"a-lh": url: "http://localhost:8001"
		"a-sub": url: "http://admin.LOCALHOST"
		"a-gce": url: "http://metadata.google.internal"
	}`,
			want: []string{
				`tenants/a/tenant.cue:11:11: kong.services."a-lh".url: url "http://localhost:8001" names the gateway itself (localhost); the platform does not allow it (policy.guardrails.kong.allowedServiceHosts)`,
				`tenants/a/tenant.cue:12:12: kong.services."a-sub".url: url "http://admin.LOCALHOST" names the gateway itself (localhost); the platform does not allow it (policy.guardrails.kong.allowedServiceHosts)`,
				`tenants/a/tenant.cue:13:12: kong.services."a-gce".url: url "http://metadata.google.internal" names a cloud metadata or internal-only host; the platform does not allow it (policy.guardrails.kong.allowedServiceHosts)`,
			},
		},
		{
			name:     "platform allows an internal range and a shared service",
			kong:     `	services: {"a-one": url: "http://10.20.1.5:8080", "a-two": url: "http://gateway.platform.svc.cluster.local", "a-pub": url: "https://api.stripe.com"}`,
			platform: `policy: guardrails: kong: {allowedServiceCIDRs: ["10.20.0.0/16"], allowedServiceHosts: ["gateway.platform.svc.cluster.local"]}`,
		},
		{
			name: "target of another namespace in short form",
			kong: `	upstreams: "a-up": targets: [{target: "db.other:5432"}, {target: "LOCALHOST:80"}]`,
			want: []string{
				`tenants/a/tenant.cue:10:32: kong.upstreams."a-up".targets.0.target: target "db.other:5432" points into namespace "other", which is not tenant a's`,
				`tenants/a/tenant.cue:10:59: kong.upstreams."a-up".targets.1.target: target "LOCALHOST:80" names the gateway itself (localhost); the platform does not allow it (policy.guardrails.kong.allowedServiceHosts)`,
			},
		},
		{
			name: "plugin with a path in its name",
			kong: `	services: "a-s": {url: "https://example.com", plugins: "../x": config: {}}`,
			want: []string{`tenants/a/tenant.cue:10:57: kong.services."a-s".plugins."../x": plugin "../x" is not allowed by the platform (allowed: acl, basic-auth, correlation-id, cors, hmac-auth, ip-restriction, jwt, key-auth, prometheus, rate-limiting, request-size-limiting, request-transformer, response-transformer)`},
		},
		{
			name: "pre-function",
			kong: `	services: "a-s": {url: "https://example.com", plugins: "pre-function": config: access: ["os.execute('id')"]}`,
			want: []string{`tenants/a/tenant.cue:10:57: kong.services."a-s".plugins."pre-function": plugin "pre-function" runs code on the gateway; the platform does not allow it (policy.guardrails.kong.allowedPlugins)`},
		},
		{
			name:     "pre-function allowed by the platform",
			kong:     `	services: "a-s": {url: "https://example.com", plugins: "pre-function": config: access: ["kong.log('hi')"]}`,
			platform: `policy: guardrails: kong: allowedPlugins: ["pre-function"]`,
		},
		{
			name: "plugin config with an unknown field and a wrong type",
			kong: `	services: "a-s": {
		url: "https://example.com"
		plugins: "rate-limiting": config: {minute: "many", burst: 5}
	}`,
			want: []string{
				`tenants/a/tenant.cue:12:38: kong.services."a-s".plugins."rate-limiting".config.minute: expected a number`,
				`tenants/a/tenant.cue:12:54: kong.services."a-s".plugins."rate-limiting".config.burst: unknown field`,
			},
		},
		{
			name: "plugin config entity check and consumer scope",
			kong: `	services: "a-s": {
		url: "https://example.com"
		routes: "a-r": {paths: ["/a"], plugins: "rate-limiting": config: {policy: "local"}}
	}
	consumers: "a-c": plugins: acl: config: allow: ["a"]`,
			want: []string{
				`tenants/a/tenant.cue:12:60: kong.services."a-s".routes."a-r".plugins."rate-limiting".config: at least one of these fields must be non-empty: 'config.second', 'config.minute', 'config.hour', 'config.day', 'config.month', 'config.year'`,
				`tenants/a/tenant.cue:14:29: kong.consumers."a-c".plugins.acl: plugin acl cannot be applied to a consumer`,
			},
		},
		{
			name: "rate-limiting redis on the metadata address",
			kong: `	services: "a-s": {url: "https://example.com", plugins: "rate-limiting": config: {minute: 5, policy: "redis", redis: host: "169.254.169.254"}}`,
			want: []string{`tenants/a/tenant.cue:10:118: kong.services."a-s".plugins."rate-limiting".config.redis.host: host "169.254.169.254" points to the cloud metadata address 169.254.169.254; the platform does not allow it (policy.guardrails.kong.allowedServiceCIDRs)`},
		},
		{
			name: "vault reference in a plugin config",
			kong: `	services: "a-s": {url: "https://example.com", plugins: "rate-limiting": config: {minute: 5, policy: "redis", redis: {host: "redis.example.com", password: "{vault://env/kong-pg-password}"}}}`,
			want: []string{`tenants/a/tenant.cue:10:146: kong.services."a-s".plugins."rate-limiting".config.redis.password: a Kong vault reference reads the gateway's secrets; tenant configs cannot hold one`},
		},
		{
			name: "anonymous consumer of another tenant",
			kong: `	services: {
		"a-s": {url: "https://example.com", plugins: "key-auth": config: anonymous: "other-c"}
		"a-t": {url: "https://example.com", plugins: "key-auth": config: anonymous: "a-c"}
	}
	consumers: "a-c": {}`,
			want: []string{`tenants/a/tenant.cue:11:68: kong.services."a-s".plugins."key-auth".config.anonymous: anonymous "other-c" must be one of tenant a's consumers (by name)`},
		},
		{
			name: "upstream named like a host",
			kong: `	upstreams: "a-gw.example.com": targets: [{target: "api.a.svc:80"}]`,
			want: []string{`tenants/a/tenant.cue:10:13: kong.upstreams."a-gw.example.com": upstream name "a-gw.example.com" has a dot: Kong takes upstream names for host names, so it would receive the traffic of any service proxying to that host; use letters, digits, '-', '_' and '~'`},
		},
		{
			name:    "bare path that is a prefix of another tenant's",
			kong:    `	services: "a-s": {url: "https://example.com", routes: "a-r": paths: ["/a", "/a/x", "/a/%2e%2e/ab", "/a/../ab"]}`,
			tenants: map[string]string{"ab": tenantABOnPathAB},
			want: []string{
				`tenants/a/tenant.cue:10:71: kong.services."a-s".routes."a-r".paths.0: path "/a" would also match the paths of tenant ab ("/ab"): Kong matches a path as a prefix of the request's; use "/a/"`,
				`tenants/a/tenant.cue:10:85: kong.services."a-s".routes."a-r".paths.2: path "/a/%2e%2e/ab" has a percent-encoding or a dot segment, which Kong resolves before matching: write the path as it is matched`,
				`tenants/a/tenant.cue:10:101: kong.services."a-s".routes."a-r".paths.3: path "/a/../ab" has a percent-encoding or a dot segment, which Kong resolves before matching: write the path as it is matched`,
			},
		},
		{
			// Tenant ab has no route: /a takes nobody's traffic.
			name: "bare path when the longer tenant has no route",
			kong: `	services: "a-s": {url: "https://example.com", routes: "a-r": paths: ["/a"]}`,
			tenants: map[string]string{"ab": `package k3sync

owners: ["team@example.com"]
kong: {
	gateway: "edge"
	services: "ab-s": url: "https://example.com"
}
`},
		},
		{
			// a-c would pass the acl plugin of a-b's services.
			name: "names and groups of a longer tenant's prefix",
			kong: `	services: "a-b-api": url: "https://example.com"
	consumers: "a-c": groups: ["a-b", "a-x"]`,
			tenants: map[string]string{"a-b": `package k3sync

owners: ["team@example.com"]
`},
			want: []string{
				`tenants/a/tenant.cue:10:12: kong.services."a-b-api": service "a-b-api" is in the prefix of tenant a-b, whose name is longer: only it may use it`,
				`tenants/a/tenant.cue:11:29: kong.consumers."a-c".groups.0: ACL group "a-b" is in the prefix of tenant a-b, whose name is longer: only it may use it`,
			},
		},
		{
			name: "consumer plugins without a service",
			kong: `	consumers: "a-c": plugins: "rate-limiting": config: minute: 5`,
			want: []string{`tenants/a/tenant.cue:10:20: kong.consumers."a-c".plugins: a consumer's plugins run on each of tenant a's services, and it has none`},
		},
		{
			name: "pod DNS name through the search path",
			tenants: map[string]string{"pod": `package k3sync

owners: ["team@example.com"]
kubernetes: {
	clusters: ["eu-west"]
	namespaces: pod: quota: {requests: {cpu: "1", memory: "1Gi"}, pods: 10}
}
kong: {
	gateway: "edge"
	services: "pod-s": url: "http://169-254-169-254.kube-system.pod"
}
`},
			want: []string{`tenants/pod/tenant.cue:10:21: kong.services."pod-s".url: url "http://169-254-169-254.kube-system.pod" is a cluster DNS name that is not a Service (<service>.<namespace>.svc); the platform does not allow it (policy.guardrails.kong.allowedServiceHosts)`},
		},
		{
			name: "route name with a newline",
			kong: `	services: "a-s": {url: "https://example.com", routes: "a-r\nx": paths: ["/a"]}`,
			want: []string{`tenants/a/tenant.cue:10:56: kong.services."a-s".routes."a-r\nx": route name "a-r\nx" has characters Kong does not accept: use letters, digits, '.', '-', '_' and '~'`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := kongErrors(t, tt.platform, tt.kong, with(tt.tenants, "other", other), Options{})
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

// The schema's default allowedPlugins is every plugin kongspec knows except
// those that run code: a plugin added to kongspec must be added there too.
func TestDefaultAllowedPlugins(t *testing.T) {
	repo, err := Load(os.DirFS(exampleRepo))
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	cat := kongspec.Bundled()
	for _, n := range cat.Names() {
		if !cat[n].RunsCode() {
			want = append(want, n)
		}
	}
	if diff := cmp.Diff(want, repo.Platform.Policy.Guardrails.Kong.AllowedPlugins); diff != "" {
		t.Errorf("default allowedPlugins (-kongspec +schema):\n%s", diff)
	}
}
