package dashboard_test

import (
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/k3sync/k3sync/internal/view"
)

var (
	rowRE     = regexp.MustCompile(`<tr data-tenant="([^"]+)" data-state="([^"]+)">`)
	versionRE = regexp.MustCompile(`data-version="([0-9a-f]+)"`)
	columnRE  = regexp.MustCompile(`<th scope="col" class="sys">([A-Za-z]+)<small>([^<]+)</small>`)
)

func rows(body string) []string {
	var out []string
	for _, m := range rowRE.FindAllStringSubmatch(body, -1) {
		out = append(out, m[1]+":"+m[2])
	}
	return out
}

func TestPages(t *testing.T) {
	e := newEnv(t)
	c, _ := e.login(viewerToken)
	tests := []struct {
		path string
		want []string
	}{
		{"/", []string{
			`<tr data-tenant="checkout" data-state="drifted">`,
			`data-count="drifted">`, `<span class="n">1</span><span class="label">drifted</span>`,
			`data-system="kubernetes" data-target="eu-west" data-state="drifted"`,
			`<code title="0123456789abcdef0123456789abcdef01234567">0123456</code> <span class="subject" title="Raise checkout&#39;s quota">Raise checkout&#39;s quota</span> <span class="author">· Jane Doe</span>`,
			`<time datetime="2026-05-01T11:00:00Z" title="2026-05-01 11:00:00 UTC" data-ago>1h ago</time>`, // checkout's last sync
			`<span class="drift-age">for <time datetime="2026-05-01T09:00:00Z" title="since 2026-05-01 09:00:00 UTC" data-span>3h</time></span>`,
			`<a href="/tenants/search" class="run-tenant">search</a>`, `manual by alice`,
			`<span class="badge s-out-of-sync" data-result="blocked">blocked</span>`,
			`<span class="run-what">2 to create <span class="muted">— tenant is suspended: changes are planned, not applied</span></span>`,
			`<span class="run-what">1 updated</span>`,
			`data-fragment="/fragments/overview" data-events="/events/overview"`,
			`ci-viewer <span class="role role-viewer">viewer</span>`,
		}},
		{"/tenants/checkout", []string{
			`<h1 data-tenant="checkout" data-state="drifted">`,
			`<span class="pl pl-update">    ~ update ResourceQuota checkout/tenant-quota (drift)</span>`,
			`<span class="pl pl-field pl-drift">        spec.hard.requests\.cpu: &#34;1&#34; → &#34;6&#34;  [drift, changed by kubectl-edit]</span>`,
			`changed by <strong>kubectl-edit</strong>`,
			`<span class="k">live</span> <code>&#34;1&#34;</code>`, `<span class="k">Git</span> <code>&#34;6&#34;</code>`,
			`data-resource="kubernetes/eu-west/ResourceQuota/checkout/tenant-quota"`,
			"**Plan** for `0123456789ab`",
			`data-fragment="/fragments/tenants/checkout" data-events="/events/tenants/checkout"`,
		}},
		{"/tenants/payments", []string{
			`<tr data-run="run-2" data-result="failed">`,
			`kong: PATCH /key-auths/payments-mobile: 409 conflict`,
			`1 change, <span class="bad">1 failed</span>`,
			`changed by <strong>admin-api</strong>`,
		}},
		{"/drift", []string{
			`<tr data-tenant="checkout" data-resource="kubernetes/eu-west/ResourceQuota/checkout/tenant-quota">`,
			`<a href="/tenants/checkout">checkout</a> <span class="badge s-drifted" data-state="drifted">drifted</span>`,
		}},
	}
	for _, tt := range tests {
		rec := e.do(req{path: tt.path, cookie: c})
		if rec.Code != http.StatusOK {
			t.Errorf("%s: %d\n%s", tt.path, rec.Code, rec.Body)
			continue
		}
		body := rec.Body.String()
		for _, w := range tt.want {
			if !strings.Contains(body, w) {
				t.Errorf("%s does not contain %s", tt.path, w)
			}
		}
		if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("%s: CSP %q", tt.path, csp)
		}
	}

	// Drift is oldest first: checkout's (3h) before payments' (10m).
	body := e.do(req{path: "/drift", cookie: c}).Body.String()
	if i, j := strings.Index(body, `<tr data-tenant="checkout"`), strings.Index(body, `<tr data-tenant="payments"`); i < 0 || j < 0 || i > j {
		t.Errorf("drift order: checkout at %d, payments at %d", i, j)
	}
	if strings.Contains(body, `class="reverted"`) {
		t.Error("drift still present is marked reverted")
	}
	// A sync reverts checkout's drift: the report keeps it until the next
	// check, the drift page says it was reverted since.
	e.fb.update(func(f *fakeBackend) {
		f.overview.Tenants[1].Systems[0] = view.SystemState{System: "kubernetes", Target: "eu-west", State: view.Synced}
	})
	body = e.do(req{path: "/drift", cookie: c}).Body.String()
	if !strings.Contains(body, `<tr data-tenant="checkout" data-resource="kubernetes/eu-west/ResourceQuota/checkout/tenant-quota" class="reverted">`) ||
		strings.Contains(body, `<tr data-tenant="payments" data-resource="kong/edge/KeyAuth/payments-mobile" class="reverted">`) {
		t.Errorf("reverted drift not marked, or drift still present marked:\n%s", body)
	}
	if rec := e.do(req{path: "/tenants/nope", cookie: c}); rec.Code != http.StatusNotFound || !strings.Contains(rec.Body.String(), `tenant &#34;nope&#34;: not found`) {
		t.Errorf("unknown tenant: %d\n%s", rec.Code, rec.Body)
	}
	if rec := e.do(req{path: "/nothing/here", cookie: c}); rec.Code != http.StatusNotFound {
		t.Errorf("unknown path: %d", rec.Code)
	}
}

// TestFragmentsMatchPages: a fragment is the page's live region with the
// page's version, which the event stream compares against.
func TestFragmentsMatchPages(t *testing.T) {
	e := newEnv(t)
	c, _ := e.login(operatorToken)
	for _, p := range []struct{ page, fragment string }{
		{"/?state=drifted", "/fragments/overview?state=drifted"},
		{"/tenants/payments?sync=x", "/fragments/tenants/payments?sync=x"},
		{"/drift", "/fragments/drift"},
	} {
		page := e.do(req{path: p.page, cookie: c}).Body.String()
		m := versionRE.FindStringSubmatch(page)
		if m == nil {
			t.Fatalf("%s: no data-version", p.page)
		}
		if !strings.Contains(page, `data-fragment="`+strings.ReplaceAll(p.fragment, "&", "&amp;")+`"`) {
			t.Errorf("%s does not name its fragment %s", p.page, p.fragment)
		}
		rec := e.do(req{path: p.fragment, cookie: c})
		if rec.Code != http.StatusOK || rec.Header().Get("X-Dashboard-Version") != m[1] {
			t.Errorf("%s: %d version %q, page's %q", p.fragment, rec.Code, rec.Header().Get("X-Dashboard-Version"), m[1])
		}
		if strings.Contains(rec.Body.String(), "<html") || !strings.Contains(page, rec.Body.String()) {
			t.Errorf("%s is not the page's live region", p.fragment)
		}
	}

	// The version follows the data, and ignores when Git was last checked
	// within the minute.
	v0 := e.do(req{path: "/fragments/overview", cookie: c}).Header().Get("X-Dashboard-Version")
	e.fb.update(func(f *fakeBackend) { f.overview.CheckedAt = f.overview.CheckedAt.Add(5e9) })
	if v := e.do(req{path: "/fragments/overview", cookie: c}).Header().Get("X-Dashboard-Version"); v != v0 {
		t.Error("a poll that found nothing new changed the version")
	}
	e.fb.update(func(f *fakeBackend) { f.overview.Tenants[3].State = view.Failed })
	if v := e.do(req{path: "/fragments/overview", cookie: c}).Header().Get("X-Dashboard-Version"); v == v0 {
		t.Error("a changed tenant kept the version")
	}
}

func TestOverviewFilters(t *testing.T) {
	e := newEnv(t)
	c, _ := e.login(viewerToken)
	all := []string{"analytics:suspended", "checkout:drifted", "payments:out-of-sync", "search:synced"}
	tests := []struct {
		query       string
		wantRows    []string
		wantColumns []string
	}{
		{"", all, []string{"Kubernetes eu-west", "Kubernetes us-east", "Kafka main", "Kong edge"}},
		{"?state=drifted", []string{"checkout:drifted"}, nil},
		{"?state=synced", []string{"checkout:drifted", "payments:out-of-sync", "search:synced"}, nil}, // any target synced
		{"?system=kafka", []string{"analytics:suspended", "checkout:drifted", "payments:out-of-sync"}, []string{"Kafka main"}},
		{"?system=kong&state=out-of-sync", []string{"payments:out-of-sync"}, []string{"Kong edge"}},
		{"?system=kafka&state=drifted", nil, nil},
		{"?q=PAY", []string{"payments:out-of-sync"}, nil},
		{"?q=zzz", nil, nil},
		{"?state=bogus&system=bogus", all, nil},
	}
	for _, tt := range tests {
		body := e.do(req{path: "/" + tt.query, cookie: c}).Body.String()
		if diff := cmp.Diff(tt.wantRows, rows(body)); diff != "" {
			t.Errorf("%q rows (-want +got):\n%s", tt.query, diff)
		}
		if tt.wantColumns != nil {
			var cols []string
			for _, m := range columnRE.FindAllStringSubmatch(body, -1) {
				cols = append(cols, m[1]+" "+m[2])
			}
			if diff := cmp.Diff(tt.wantColumns, cols); diff != "" {
				t.Errorf("%q columns (-want +got):\n%s", tt.query, diff)
			}
		}
		if len(tt.wantRows) == 0 && !strings.Contains(body, "No tenant matches this filter") {
			t.Errorf("%q: no empty-filter message", tt.query)
		}
	}
	// Drifted cells stand out when filtering by state: others are dimmed.
	body := e.do(req{path: "/?state=drifted", cookie: c}).Body.String()
	if !strings.Contains(body, `<td class="cell dim" data-label="Kafka · main"`) || !strings.Contains(body, `<a class="count s-drifted active" href="/"`) {
		t.Errorf("state filter: no dimmed cell or active count\n%s", body)
	}
	// The filter form works without JavaScript: a GET form keeping values.
	if !strings.Contains(body, `<form class="filters" method="get" action="/"`) || !strings.Contains(body, `<option value="drifted" selected>`) {
		t.Error("the filter form does not keep the state")
	}
}

func TestBanners(t *testing.T) {
	e := newEnv(t)
	c, _ := e.login(viewerToken)
	body := e.do(req{path: "/", cookie: c}).Body.String()
	if strings.Contains(body, `id="validation-errors"`) || strings.Contains(body, `id="source-error"`) {
		t.Error("error banners without errors")
	}
	e.fb.update(func(f *fakeBackend) {
		f.overview.Revision = view.Commit{Hash: "badbadbadbad", Subject: "Break search"}
		f.overview.ValidationErrors = []string{"tenants/search/tenant.cue:3:9: owners: invalid value [] (does not satisfy list.MinItems(1))"}
		f.overview.SourceError = "git fetch https://git.example.com/platform.git: 503 Service Unavailable"
	})
	body = e.do(req{path: "/", cookie: c}).Body.String()
	for _, want := range []string{
		`<strong>Revision badbadb is invalid</strong> (“Break search”): the last valid revision stays applied`,
		`<li><code>tenants/search/tenant.cue:3:9: owners: invalid value [] (does not satisfy list.MinItems(1))</code></li>`,
		`<strong>Git fetch failed.</strong> k3sync keeps the last revision it fetched. <code class="msg">git fetch https://git.example.com/platform.git: 503 Service Unavailable</code>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("overview does not contain %s", want)
		}
	}
}

// TestNoSecretOnAnyPage renders everything an operator can see; the
// sensitive value and the tokens appear nowhere.
func TestNoSecretOnAnyPage(t *testing.T) {
	e := newEnv(t)
	c, csrf := e.login(operatorToken)
	rec := e.do(req{method: "POST", path: "/tenants/payments/sync", cookie: c, form: map[string][]string{"csrf": {csrf}}})
	loc := rec.Header().Get("Location")
	paths := []string{"/", "/drift", "/tenants/payments", loc, "/tenants/checkout", "/tenants/analytics", "/login",
		"/fragments/overview", "/fragments/drift", "/fragments/tenants/payments", "/tenants/nope"}
	sawRedacted := 0
	for _, p := range paths {
		body := e.do(req{path: p, cookie: c}).Body.String()
		for _, secret := range []string{secretValue, operatorToken, viewerToken} {
			if strings.Contains(body, secret) {
				t.Errorf("%s shows a secret", p)
			}
		}
		if strings.Contains(body, "(sensitive)") {
			sawRedacted++
		}
	}
	if sawRedacted < 3 {
		t.Errorf("(sensitive) on %d pages; the plan, drift report and drift page should show it", sawRedacted)
	}
}

func TestStatic(t *testing.T) {
	e := newEnv(t)
	for _, name := range []string{"style.css", "app.js", "favicon.svg"} {
		rec := e.do(req{path: "/static/" + name})
		if rec.Code != http.StatusOK || rec.Body.Len() == 0 || !strings.Contains(rec.Header().Get("Cache-Control"), "max-age") {
			t.Errorf("%s: %d %q", name, rec.Code, rec.Header().Get("Cache-Control"))
		}
	}
	body := e.do(req{path: "/login"}).Body.String()
	if !regexp.MustCompile(`href="/static/style.css\?v=[0-9a-f]{12}"`).MatchString(body) {
		t.Error("asset URLs do not carry a content hash")
	}
	if strings.Contains(body, "http://") || strings.Contains(body, "https://") {
		t.Error("the login page loads something from another site")
	}
}
