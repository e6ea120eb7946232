package loader

import (
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
)

// TestKongRoutesNeedPaths: a route without paths matches every path of its
// hosts, and one without hosts either every request no other route
// matches. Only a route whose hosts are all the tenant's own may go
// without paths, and it then takes the whole host.
func TestKongRoutesNeedPaths(t *testing.T) {
	// The example platform's hosts: two shared, one per tenant.
	const hosts = `policy: guardrails: kong: allowedRouteHosts: ["api.example.com", "shop.example.com", "{tenant}.apps.example.com"]`
	const other = `package k3sync

owners: ["team@example.com"]
kong: {
	gateway: "edge"
	services: "other-api": {
		url: "https://other.example.com"
		routes: "other-r": {paths: ["/other"], methods: ["GET"]}
	}
}
`
	tests := []struct {
		name     string
		kong     string
		platform string // replaces hosts
		tenants  map[string]string
		want     []string
	}{
		{
			name: "shared host without paths",
			kong: `	services: "a-s": {url: "https://example.com", routes: "a-r": {hosts: ["api.example.com"], methods: ["GET", "POST"]}}`,
			want: []string{`tenants/a/tenant.cue:10:56: kong.services."a-s".routes."a-r".paths: a route needs paths on host "api.example.com", which other tenants may route too: without paths it would take every request to that host, theirs included; add paths under tenant a's prefix "/a" (only a host of tenant a's own may go without them)`},
		},
		{
			name: "own host and a shared host without paths",
			kong: `	services: "a-s": {url: "https://example.com", routes: "a-r": hosts: ["a.apps.example.com", "Shop.example.com"]}`,
			want: []string{`tenants/a/tenant.cue:10:56: kong.services."a-s".routes."a-r".paths: a route needs paths on host "Shop.example.com", which other tenants may route too: without paths it would take every request to that host, theirs included; add paths under tenant a's prefix "/a" (only a host of tenant a's own may go without them)`},
		},
		{
			name: "methods only",
			kong: `	services: "a-s": {url: "https://example.com", routes: "a-r": methods: ["GET"]}`,
			want: []string{`tenants/a/tenant.cue:10:56: kong.services."a-s".routes."a-r".paths: a route needs paths: with neither paths nor hosts it would take every request to the gateway that no other route matches, other tenants' included; add paths under tenant a's prefix "/a"`},
		},
		{
			name: "empty paths, no hosts",
			kong: `	services: "a-s": {url: "https://example.com", routes: "a-r": {paths: [], protocols: ["grpc"]}}`,
			want: []string{`tenants/a/tenant.cue:10:64: kong.services."a-s".routes."a-r".paths: a route needs paths: with neither paths nor hosts it would take every request to the gateway that no other route matches, other tenants' included; add paths under tenant a's prefix "/a"`},
		},
		{
			// The tenant schema has no headers (nor snis) to match on.
			name: "headers only",
			kong: `	services: "a-s": {url: "https://example.com", routes: "a-r": headers: "x-tenant": ["other"]}`,
			want: []string{`tenants/a/tenant.cue:10:63: kong.services."a-s".routes."a-r".headers: field not allowed`},
		},
		{
			name: "shared host with paths under the prefix",
			kong: `	services: "a-s": {url: "https://example.com", routes: "a-r": {paths: ["/a/", "/a/orders"], hosts: ["api.example.com", "shop.example.com"], methods: ["GET"]}}`,
		},
		{
			name: "own host without paths",
			kong: `	services: "a-s": {url: "https://example.com", routes: {"a-r": {hosts: ["a.apps.example.com"], methods: ["GET"]}, "a-paths": {paths: ["/a/x"], hosts: ["a.apps.example.com"]}}}`,
		},
		{
			name: "own host without paths twice",
			kong: `	services: {
		"a-s": {url: "https://example.com", routes: "a-r": hosts: ["a.apps.example.com"]}
		"a-t": {url: "https://example.com", routes: "a-q": {hosts: ["A.Apps.example.com."], methods: ["POST"]}}
	}`,
			want: []string{`tenants/a/tenant.cue:12:63: kong.services."a-t".routes."a-q".hosts.0: every path of host a.apps.example.com of gateway edge (a route without paths) is declared twice by tenant a`},
		},
		{
			name:     "own wildcard hosts without paths",
			kong:     `	services: "a-s": {url: "https://example.com", routes: "a-r": hosts: ["x.a.example.com", "*.a.example.com"]}`,
			platform: `policy: guardrails: kong: allowedRouteHosts: ["*.{tenant}.example.com"]`,
		},
		{
			// "*.apps.example.com" admits a.apps.example.com for every tenant.
			name:     "own pattern overlapped by a shared one",
			kong:     `	services: "a-s": {url: "https://example.com", routes: "a-r": hosts: ["a.apps.example.com"]}`,
			platform: `policy: guardrails: kong: allowedRouteHosts: ["{tenant}.apps.example.com", "*.apps.example.com"]`,
			want:     []string{`tenants/a/tenant.cue:10:56: kong.services."a-s".routes."a-r".paths: a route needs paths on host "a.apps.example.com", which other tenants may route too: without paths it would take every request to that host, theirs included; add paths under tenant a's prefix "/a" (only a host of tenant a's own may go without them)`},
		},
		{
			// a.apps.example.com is tenant a's by the first pattern and
			// tenant apps's by the second.
			name:     "own pattern that admits the host for another tenant too",
			kong:     `	services: "a-s": {url: "https://example.com", routes: "a-r": hosts: ["a.apps.example.com"]}`,
			platform: `policy: guardrails: kong: allowedRouteHosts: ["{tenant}.apps.example.com", "a.{tenant}.example.com"]`,
			tenants: map[string]string{"apps": `package k3sync

owners: ["team@example.com"]
`},
			want: []string{`tenants/a/tenant.cue:10:56: kong.services."a-s".routes."a-r".paths: a route needs paths on host "a.apps.example.com", which other tenants may route too: without paths it would take every request to that host, theirs included; add paths under tenant a's prefix "/a" (only a host of tenant a's own may go without them)`},
		},
		{
			// The host error is enough: no second one about paths.
			name: "host not allowed without paths",
			kong: `	services: "a-s": {url: "https://example.com", routes: "a-r": hosts: ["other.apps.example.com"]}`,
			want: []string{`tenants/a/tenant.cue:10:71: kong.services."a-s".routes."a-r".hosts.0: host "other.apps.example.com" is not allowed for tenant a (allowed: api.example.com, shop.example.com, a.apps.example.com)`},
		},
		{
			// Each route with the bare path is told, however many there are.
			name: "bare path on several hosts, prefix of another tenant's",
			kong: `	services: "a-s": {url: "https://example.com", routes: {
		"a-r": {paths: ["/a", "/a/x"], hosts: ["api.example.com"]}
		"a-q": {paths: ["/a", "/a/y"], hosts: ["shop.example.com"]}
	}}`,
			tenants: map[string]string{"ab": tenantABOnPathAB},
			want: []string{
				`tenants/a/tenant.cue:11:19: kong.services."a-s".routes."a-r".paths.0: path "/a" would also match the paths of tenant ab ("/ab"): Kong matches a path as a prefix of the request's; use "/a/"`,
				`tenants/a/tenant.cue:12:19: kong.services."a-s".routes."a-q".paths.0: path "/a" would also match the paths of tenant ab ("/ab"): Kong matches a path as a prefix of the request's; use "/a/"`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			platform := tt.platform
			if platform == "" {
				platform = hosts
			}
			got := kongErrors(t, platform, tt.kong, with(tt.tenants, "other", other), Options{})
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

// TestKongRouteWithoutPathsTwoTenants: two tenants cannot both route a
// whole shared host; each is told its route needs paths.
func TestKongRouteWithoutPathsTwoTenants(t *testing.T) {
	tenant := func(name string) string {
		return `package k3sync

owners: ["team@example.com"]
kong: {
	gateway: "edge"
	services: "` + name + `-s": {url: "https://example.com", routes: "` + name + `-r": hosts: ["api.example.com"]}
}
`
	}
	fsys := fstest.MapFS{
		"platform.cue":         {Data: []byte(string(testPlatform(t)) + "\n" + `policy: guardrails: kong: allowedRouteHosts: ["api.example.com"]` + "\n")},
		"tenants/a/tenant.cue": {Data: []byte(tenant("a"))},
		"tenants/b/tenant.cue": {Data: []byte(tenant("b"))},
	}
	_, err := Load(fsys)
	l, ok := Validation(err)
	if !ok {
		t.Fatalf("not a validation error: %v", err)
	}
	want := []string{
		`tenants/a/tenant.cue:6:56: kong.services."a-s".routes."a-r".paths: a route needs paths on host "api.example.com", which other tenants may route too: without paths it would take every request to that host, theirs included; add paths under tenant a's prefix "/a" (only a host of tenant a's own may go without them)`,
		`tenants/b/tenant.cue:6:56: kong.services."b-s".routes."b-r".paths: a route needs paths on host "api.example.com", which other tenants may route too: without paths it would take every request to that host, theirs included; add paths under tenant b's prefix "/b" (only a host of tenant b's own may go without them)`,
	}
	if diff := cmp.Diff(want, strings.Split(l.Error(), "\n")); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
}

// TestBareConflicts: the first path of another tenant, in sorted order,
// that a tenant's bare path is a prefix of; nil when there is none. A
// tenant's own paths are passed over.
func TestBareConflicts(t *testing.T) {
	paths := routePaths(nil)
	paths["edge"] = []tenantPath{
		{"a", "/a"}, {"a", "/a"}, {"a-b", "/a-b"}, {"a", "/a/x"}, {"ab", "/ab"},
		{"c", "/c"}, {"c", "/c/x"},
	}
	paths["other"] = []tenantPath{{"a", "/a"}, {"a", "/a/x"}}
	got := bareConflicts(paths)
	want := map[gatewayTenant]*tenantPath{
		{"edge", "a"}:   {"a-b", "/a-b"},
		{"edge", "a-b"}: nil,
		{"edge", "ab"}:  nil,
		{"edge", "c"}:   nil,
		{"other", "a"}:  nil,
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(tenantPath{})); diff != "" {
		t.Errorf("bareConflicts (-want +got):\n%s", diff)
	}
}
