package dashboard_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/k3sync/k3sync/internal/dashboard"
	"github.com/k3sync/k3sync/internal/view"
)

func TestNoSessionIsRefused(t *testing.T) {
	e := newEnv(t)
	bogus := &http.Cookie{Name: "k3sync_session", Value: "not-a-session"}
	tests := []struct {
		method, path string
		wantCode     int
		wantLocation string
	}{
		{"GET", "/", http.StatusSeeOther, "/login"},
		{"GET", "/?state=drifted", http.StatusSeeOther, "/login?next=%2F%3Fstate%3Ddrifted"},
		{"GET", "/tenants/payments", http.StatusSeeOther, "/login?next=%2Ftenants%2Fpayments"},
		{"GET", "/drift", http.StatusSeeOther, "/login?next=%2Fdrift"},
		{"GET", "/fragments/overview", http.StatusUnauthorized, ""},
		{"GET", "/fragments/tenants/payments", http.StatusUnauthorized, ""},
		{"GET", "/fragments/drift", http.StatusUnauthorized, ""},
		{"GET", "/events/overview", http.StatusUnauthorized, ""},
		{"GET", "/events/tenants/payments", http.StatusUnauthorized, ""},
		{"GET", "/events/drift", http.StatusUnauthorized, ""},
		{"POST", "/tenants/payments/sync", http.StatusSeeOther, "/login"},
		{"POST", "/tenants/payments/suspend", http.StatusSeeOther, "/login"},
		{"POST", "/logout", http.StatusSeeOther, "/login"},
	}
	for _, tt := range tests {
		for _, c := range []*http.Cookie{nil, bogus} {
			rec := e.do(req{method: tt.method, path: tt.path, cookie: c, form: url.Values{}})
			if rec.Code != tt.wantCode || rec.Header().Get("Location") != tt.wantLocation {
				t.Errorf("%s %s (cookie %v): %d %q, want %d %q", tt.method, tt.path, c != nil, rec.Code, rec.Header().Get("Location"), tt.wantCode, tt.wantLocation)
			}
		}
	}
	if trig, susp := e.fb.calls(); len(trig) > 0 || len(susp) > 0 {
		t.Errorf("backend called without a session: %v %v", trig, susp)
	}
}

func TestLogin(t *testing.T) {
	e := newEnv(t)

	rec := e.do(req{path: "/login?next=/drift"})
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `name="next" value="/drift"`) {
		t.Fatalf("login form: %d\n%s", rec.Code, rec.Body)
	}

	rec = e.do(req{method: "POST", path: "/login", form: url.Values{"token": {"wrong-" + operatorToken}}})
	if rec.Code != http.StatusUnauthorized || !strings.Contains(rec.Body.String(), "That token is not valid") {
		t.Errorf("bad token: %d\n%s", rec.Code, rec.Body)
	}
	if strings.Contains(rec.Body.String(), operatorToken) || len(rec.Result().Cookies()) > 0 {
		t.Error("a refused login echoed the token or set a cookie")
	}

	rec = e.do(req{method: "POST", path: "/login", form: url.Values{"token": {" " + operatorToken + "\n"}, "next": {"/tenants/payments"}}})
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/tenants/payments" {
		t.Fatalf("good token: %d %q", rec.Code, rec.Header().Get("Location"))
	}
	c := sessionCookie(t, rec)
	if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Secure || c.Path != "/" {
		t.Errorf("cookie over plain HTTP: %+v", c)
	}
	if strings.Contains(c.Value, operatorToken) || len(c.Value) < 26 {
		t.Errorf("cookie value %q: want a random ID, not the token", c.Value)
	}
	if rec := e.do(req{path: "/login", cookie: c}); rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/" {
		t.Errorf("login form while signed in: %d %q", rec.Code, rec.Header().Get("Location"))
	}

	rec = e.do(req{method: "POST", path: "/login", form: url.Values{"token": {viewerToken}}, tls: true})
	if c := sessionCookie(t, rec); !c.Secure {
		t.Errorf("cookie over TLS is not Secure: %+v", c)
	}
	// Behind a proxy that ends TLS, the proxy's word makes it Secure.
	for _, tc := range []struct {
		header http.Header
		secure bool
	}{
		{http.Header{"X-Forwarded-Proto": {"https"}}, true},
		{http.Header{"X-Forwarded-Proto": {"HTTPS, http"}}, true},
		{http.Header{"Forwarded": {`for=192.0.2.1;Proto="https", for=10.0.0.1;proto=http`}}, true},
		{http.Header{"X-Forwarded-Proto": {"http"}}, false},
		{http.Header{"Forwarded": {"for=192.0.2.1;proto=http, proto=https"}}, false},
	} {
		rec = e.do(req{method: "POST", path: "/login", form: url.Values{"token": {viewerToken}}, header: tc.header})
		if c := sessionCookie(t, rec); c.Secure != tc.secure {
			t.Errorf("cookie over plain HTTP with %v: Secure %v, want %v", tc.header, c.Secure, tc.secure)
		}
	}

	for _, next := range []string{"//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:alert(1)", ""} {
		rec := e.do(req{method: "POST", path: "/login", form: url.Values{"token": {viewerToken}, "next": {next}}})
		if got := rec.Header().Get("Location"); got != "/" {
			t.Errorf("next %q: redirected to %q, want /", next, got)
		}
	}

	// A cross-site login post (login CSRF) is refused.
	rec = e.do(req{method: "POST", path: "/login", form: url.Values{"token": {operatorToken}}, header: http.Header{"Sec-Fetch-Site": {"cross-site"}}})
	if rec.Code != http.StatusForbidden || len(rec.Result().Cookies()) > 0 {
		t.Errorf("cross-site login: %d %v", rec.Code, rec.Result().Cookies())
	}
}

func TestRolesAndButtons(t *testing.T) {
	e := newEnv(t)
	viewer, _ := e.login(viewerToken)
	operator, _ := e.login(operatorToken)
	for _, tt := range []struct {
		name       string
		cookie     *http.Cookie
		wantButton bool
	}{{"viewer", viewer, false}, {"operator", operator, true}} {
		for _, path := range []string{"/tenants/payments", "/fragments/tenants/payments"} {
			body := e.do(req{path: path, cookie: tt.cookie}).Body.String()
			for _, button := range []string{`id="sync-now"`, `action="/tenants/payments/sync"`, `action="/tenants/payments/suspend"`} {
				if got := strings.Contains(body, button); got != tt.wantButton {
					t.Errorf("%s %s: has %s = %v, want %v", tt.name, path, button, got, tt.wantButton)
				}
			}
		}
	}
	// A suspended tenant offers Resume instead of Suspend.
	body := e.do(req{path: "/tenants/analytics", cookie: operator}).Body.String()
	if !strings.Contains(body, `action="/tenants/analytics/resume"`) || strings.Contains(body, `action="/tenants/analytics/suspend"`) {
		t.Error("analytics (suspended) does not offer Resume alone")
	}
}

func TestActions(t *testing.T) {
	e := newEnv(t)
	viewer, viewerCSRF := e.login(viewerToken)
	operator, csrf := e.login(operatorToken)
	tests := []struct {
		name         string
		path         string
		cookie       *http.Cookie
		form         url.Values
		header       http.Header
		wantCode     int
		wantLocation string
		wantTrigger  []view.TriggerRequest
		wantSuspend  []suspendCall
	}{
		{name: "viewer sync", path: "/tenants/payments/sync", cookie: viewer, form: url.Values{"csrf": {viewerCSRF}}, wantCode: 403},
		{name: "viewer suspend", path: "/tenants/payments/suspend", cookie: viewer, form: url.Values{"csrf": {viewerCSRF}}, wantCode: 403},
		{name: "viewer resume", path: "/tenants/analytics/resume", cookie: viewer, form: url.Values{"csrf": {viewerCSRF}}, wantCode: 403},
		{name: "no CSRF token", path: "/tenants/payments/sync", cookie: operator, form: url.Values{}, wantCode: 403},
		{name: "wrong CSRF token", path: "/tenants/payments/sync", cookie: operator, form: url.Values{"csrf": {csrf + "x"}}, wantCode: 403},
		{name: "another session's CSRF token", path: "/tenants/payments/sync", cookie: operator, form: url.Values{"csrf": {viewerCSRF}}, wantCode: 403},
		{name: "CSRF token in the query", path: "/tenants/payments/sync?csrf=" + url.QueryEscape(csrf), cookie: operator, form: url.Values{}, wantCode: 403},
		{name: "cross-site post", path: "/tenants/payments/sync", cookie: operator, form: url.Values{"csrf": {csrf}}, header: http.Header{"Sec-Fetch-Site": {"cross-site"}}, wantCode: 403},
		{name: "foreign origin", path: "/tenants/payments/sync", cookie: operator, form: url.Values{"csrf": {csrf}}, header: http.Header{"Origin": {"https://evil.example"}}, wantCode: 403},
		{name: "unknown tenant", path: "/tenants/nope/sync", cookie: operator, form: url.Values{"csrf": {csrf}}, wantCode: 404},
		{
			name: "operator sync", path: "/tenants/payments/sync", cookie: operator, form: url.Values{"csrf": {csrf}},
			wantCode: 303, wantLocation: "/tenants/payments?sync=sync-1",
			wantTrigger: []view.TriggerRequest{{Tenant: "payments", Who: "alice"}},
		},
		{
			name: "operator suspend", path: "/tenants/payments/suspend", cookie: operator, form: url.Values{"csrf": {csrf}},
			wantCode: 303, wantLocation: "/tenants/payments?done=suspended",
			wantTrigger: []view.TriggerRequest{{Tenant: "payments", Who: "alice"}}, wantSuspend: []suspendCall{{"payments", true, "alice"}},
		},
		{
			name: "operator resume", path: "/tenants/analytics/resume", cookie: operator, form: url.Values{"csrf": {csrf}},
			wantCode: 303, wantLocation: "/tenants/analytics?done=resumed",
			wantTrigger: []view.TriggerRequest{{Tenant: "payments", Who: "alice"}}, wantSuspend: []suspendCall{{"payments", true, "alice"}, {"analytics", false, "alice"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := e.do(req{method: "POST", path: tt.path, cookie: tt.cookie, form: tt.form, header: tt.header})
			if rec.Code != tt.wantCode || rec.Header().Get("Location") != tt.wantLocation {
				t.Errorf("%d %q, want %d %q\n%s", rec.Code, rec.Header().Get("Location"), tt.wantCode, tt.wantLocation, rec.Body)
			}
			trig, susp := e.fb.calls()
			if diff := cmp.Diff(tt.wantTrigger, trig); diff != "" {
				t.Errorf("triggered (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantSuspend, susp); diff != "" {
				t.Errorf("suspended (-want +got):\n%s", diff)
			}
		})
	}

	// The page after "Sync now" follows the sync.
	body := e.do(req{path: "/tenants/payments?sync=sync-1", cookie: operator}).Body.String()
	if !strings.Contains(body, `id="sync-status" data-phase="queued"`) || !strings.Contains(body, "requested by alice") {
		t.Errorf("sync status not shown:\n%s", body)
	}
	// Another tenant's sync is not shown on this page.
	if body := e.do(req{path: "/tenants/checkout?sync=sync-1", cookie: operator}).Body.String(); strings.Contains(body, `id="sync-status"`) {
		t.Error("checkout's page shows payments' sync")
	}
	if body := e.do(req{path: "/tenants/payments?done=suspended", cookie: operator}).Body.String(); !strings.Contains(body, "Tenant suspended") {
		t.Error("no confirmation after Suspend")
	}
	if body := e.do(req{path: "/tenants/payments?done=<script>", cookie: operator}).Body.String(); strings.Contains(body, `id="flash"`) {
		t.Error("an unknown flash name was shown")
	}
}

func TestLogout(t *testing.T) {
	e := newEnv(t)
	c, csrf := e.login(operatorToken)

	if rec := e.do(req{method: "POST", path: "/logout", cookie: c, form: url.Values{}}); rec.Code != http.StatusForbidden {
		t.Errorf("logout without CSRF token: %d", rec.Code)
	}
	if rec := e.do(req{path: "/", cookie: c}); rec.Code != http.StatusOK {
		t.Fatalf("a refused logout ended the session: %d", rec.Code)
	}
	rec := e.do(req{method: "POST", path: "/logout", cookie: c, form: url.Values{"csrf": {csrf}}})
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/login" {
		t.Fatalf("logout: %d %q", rec.Code, rec.Header().Get("Location"))
	}
	if cleared := sessionCookie(t, rec); cleared.MaxAge >= 0 || cleared.Value != "" {
		t.Errorf("logout does not clear the cookie: %+v", cleared)
	}
	// The old cookie is dead server-side, whatever the browser keeps.
	if rec := e.do(req{path: "/", cookie: c}); rec.Code != http.StatusSeeOther {
		t.Errorf("page after logout: %d", rec.Code)
	}
	if rec := e.do(req{path: "/fragments/overview", cookie: c}); rec.Code != http.StatusUnauthorized {
		t.Errorf("fragment after logout: %d", rec.Code)
	}
	if rec := e.do(req{method: "POST", path: "/tenants/payments/sync", cookie: c, form: url.Values{"csrf": {csrf}}}); rec.Code != http.StatusSeeOther {
		t.Errorf("sync after logout: %d", rec.Code)
	}
	if trig, _ := e.fb.calls(); len(trig) > 0 {
		t.Errorf("synced after logout: %v", trig)
	}
}

func TestSessionExpires(t *testing.T) {
	e := newEnv(t, dashboard.WithSessionTTL(time.Hour))
	c, _ := e.login(viewerToken)
	e.clock.Add(59 * time.Minute)
	if rec := e.do(req{path: "/", cookie: c}); rec.Code != http.StatusOK {
		t.Fatalf("before expiry: %d", rec.Code)
	}
	e.clock.Add(time.Minute)
	if rec := e.do(req{path: "/", cookie: c}); rec.Code != http.StatusSeeOther {
		t.Errorf("after expiry: %d", rec.Code)
	}
}
