package dashboard_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/k3sync/k3sync/internal/dashboard"
)

var (
	sessionKey = []byte("session-key-0123456789abcdef0123456789")
	otherKey   = []byte("other-key-0123456789abcdef0123456789ab")
)

// Sessions live in the cookie: another dashboard with the session keys (a
// restart, another replica) knows them, CSRF token included; one without
// does not.
func TestSessionAcrossInstances(t *testing.T) {
	e := newEnv(t, dashboard.WithSessionKeys(sessionKey))
	c, csrf := e.login(operatorToken)

	restarted := newEnv(t, dashboard.WithSessionKeys(sessionKey))
	if rec := restarted.do(req{path: "/", cookie: c}); rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "alice") {
		t.Fatalf("after a restart: %d", rec.Code)
	}
	rec := restarted.do(req{method: "POST", path: "/tenants/payments/sync", cookie: c, form: url.Values{"csrf": {csrf}}})
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/tenants/payments?sync=sync-1" {
		t.Errorf("sync on the other instance: %d %q", rec.Code, rec.Header().Get("Location"))
	}

	rotated := newEnv(t, dashboard.WithSessionKeys(otherKey, sessionKey))
	if rec := rotated.do(req{path: "/", cookie: c}); rec.Code != http.StatusOK {
		t.Errorf("after a key rotation: %d", rec.Code)
	}
	for name, opts := range map[string][]dashboard.Option{
		"another key":    {dashboard.WithSessionKeys(otherKey)},
		"no keys (made)": nil,
	} {
		if rec := newEnv(t, opts...).do(req{path: "/", cookie: c}); rec.Code != http.StatusSeeOther {
			t.Errorf("%s: %d, want the login form", name, rec.Code)
		}
	}
}

// fakeProvider serves an OpenID Connect discovery document only: enough
// to start a sign-in. Its token endpoint refuses every code.
func fakeProvider(t *testing.T) *httptest.Server {
	t.Helper()
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/.well-known/openid-configuration":
			_ = json.NewEncoder(w).Encode(map[string]any{
				"issuer": srv.URL, "authorization_endpoint": srv.URL + "/authorize", "token_endpoint": srv.URL + "/token",
				"jwks_uri": srv.URL + "/keys", "id_token_signing_alg_values_supported": []string{"RS256"},
			})
		case "/token":
			http.Error(w, `{"error":"invalid_grant"}`, http.StatusBadRequest)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func ssoEnv(t *testing.T, issuer string, opts ...dashboard.Option) *env {
	t.Helper()
	return newEnv(t, append([]dashboard.Option{dashboard.WithSessionKeys(sessionKey), dashboard.WithSSO(dashboard.SSO{
		Issuer: issuer, ClientID: "k3sync", ClientSecret: "client-" + secretValue,
		RedirectURL: "https://k3sync.example/login/sso/callback", Scopes: []string{"openid", "groups"},
		OperatorGroups: []string{"ops"},
	})}, opts...)...)
}

func TestSSOStart(t *testing.T) {
	idp := fakeProvider(t)
	e := ssoEnv(t, idp.URL)

	body := e.do(req{path: "/login?next=/drift"}).Body.String()
	if !strings.Contains(body, `id="sign-in-sso" href="/login/sso?next=%2fdrift"`) || !strings.Contains(body, `id="token"`) {
		t.Errorf("login form without the SSO link or the token form:\n%s", body)
	}

	rec := e.do(req{path: "/login/sso?next=/drift"})
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("start: %d\n%s", rec.Code, rec.Body)
	}
	loc, err := url.Parse(rec.Header().Get("Location"))
	if err != nil || !strings.HasPrefix(loc.String(), idp.URL+"/authorize?") {
		t.Fatalf("start went to %q", rec.Header().Get("Location"))
	}
	q := loc.Query()
	for k, want := range map[string]string{
		"client_id": "k3sync", "response_type": "code", "code_challenge_method": "S256",
		"redirect_uri": "https://k3sync.example/login/sso/callback", "scope": "openid groups",
	} {
		if q.Get(k) != want {
			t.Errorf("%s=%q, want %q", k, q.Get(k), want)
		}
	}
	for _, k := range []string{"state", "nonce", "code_challenge"} {
		if len(q.Get(k)) < 20 {
			t.Errorf("%s=%q: want a random value", k, q.Get(k))
		}
	}
	if strings.Contains(loc.String(), secretValue) {
		t.Error("the client secret is in the authorization URL")
	}
	var flow *http.Cookie
	for _, c := range rec.Result().Cookies() {
		if c.Name == "k3sync_sso" {
			flow = c
		}
	}
	if flow == nil || !flow.HttpOnly || flow.SameSite != http.SameSiteLaxMode || !flow.Secure || flow.Path != "/login/sso/callback" || flow.MaxAge != 600 {
		t.Fatalf("flow cookie %+v", flow)
	}
	for _, v := range []string{q.Get("state"), q.Get("nonce"), "/drift"} {
		if strings.Contains(flow.Value, v) {
			t.Errorf("flow cookie holds %q in clear", v)
		}
	}

	// The callback: a wrong state, no flow cookie, a provider's error, a
	// code the provider refuses. None starts a session.
	good := "/login/sso/callback?" + url.Values{"state": {q.Get("state")}, "code": {"c"}}.Encode()
	for _, tt := range []struct {
		name   string
		path   string
		cookie *http.Cookie
		want   int
	}{
		{"wrong state", "/login/sso/callback?state=forged&code=c", flow, http.StatusBadRequest},
		{"no flow cookie", good, nil, http.StatusBadRequest},
		{"forged flow cookie", good, &http.Cookie{Name: "k3sync_sso", Value: flow.Value[:len(flow.Value)-2] + "AA"}, http.StatusBadRequest},
		{"provider error", "/login/sso/callback?error=access_denied&state=" + q.Get("state"), flow, http.StatusForbidden},
		{"code refused", good, flow, http.StatusBadGateway},
	} {
		rec := e.do(req{path: tt.path, cookie: tt.cookie})
		if rec.Code != tt.want {
			t.Errorf("%s: %d, want %d\n%s", tt.name, rec.Code, tt.want, rec.Body)
		}
		for _, c := range rec.Result().Cookies() {
			if c.Name == "k3sync_session" {
				t.Errorf("%s: a session cookie", tt.name)
			}
			if c.Name == "k3sync_sso" && c.MaxAge >= 0 {
				t.Errorf("%s: the flow cookie is not cleared", tt.name)
			}
		}
		if strings.Contains(rec.Body.String(), secretValue) {
			t.Errorf("%s: the client secret is on the page", tt.name)
		}
	}
}

func TestSSOProviderDown(t *testing.T) {
	idp := fakeProvider(t)
	issuer := idp.URL
	idp.Close()
	e := ssoEnv(t, issuer)
	rec := e.do(req{path: "/login/sso"})
	if rec.Code != http.StatusBadGateway || !strings.Contains(rec.Body.String(), "could not be reached") {
		t.Errorf("provider down: %d\n%s", rec.Code, rec.Body)
	}
	// The token form still works.
	e.login(viewerToken)
}

func TestTokenLoginDisabled(t *testing.T) {
	e := ssoEnv(t, "https://idp.example", dashboard.WithoutTokenLogin())
	body := e.do(req{path: "/login"}).Body.String()
	if strings.Contains(body, `id="token"`) || !strings.Contains(body, `id="sign-in-sso"`) {
		t.Errorf("login page:\n%s", body)
	}
	rec := e.do(req{method: "POST", path: "/login", form: url.Values{"token": {operatorToken}}})
	if rec.Code != http.StatusForbidden || len(rec.Result().Cookies()) > 0 {
		t.Errorf("token login: %d %v", rec.Code, rec.Result().Cookies())
	}
}
