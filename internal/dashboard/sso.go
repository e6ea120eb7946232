package dashboard

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// SSO configures signing in to the dashboard with an OpenID Connect
// provider (the authorization code flow with PKCE, state and nonce).
type SSO struct {
	// Issuer is the provider's issuer URL exactly as its discovery
	// document announces it.
	Issuer       string
	ClientID     string
	ClientSecret string
	// RedirectURL is the callback registered with the provider; the
	// dashboard serves its path.
	RedirectURL string
	// Scopes requested; openid is added when missing.
	Scopes []string
	// GroupsClaim names the claim listing the user's groups (default
	// "groups"): in the ID token, else from the UserInfo endpoint.
	GroupsClaim string
	// A user in one of OperatorGroups is an operator, else in one of
	// ViewerGroups a viewer, else refused.
	OperatorGroups []string
	ViewerGroups   []string
	// HTTPClient talks to the provider (default: one with a 30s timeout).
	HTTPClient *http.Client
}

// WithSSO offers "Sign in with SSO" on the login form. The provider is
// discovered at the first sign-in (and again after a failure), so the
// dashboard starts while the provider is down.
func WithSSO(c SSO) Option {
	return func(h *handler) {
		sc := &ssoClient{cfg: c, callbackPath: "/login/sso/callback", client: c.HTTPClient}
		if u, err := url.Parse(c.RedirectURL); err == nil && u.Path != "" && u.Path != "/" {
			sc.callbackPath = u.Path
			sc.https = u.Scheme == "https"
		}
		if sc.cfg.GroupsClaim == "" {
			sc.cfg.GroupsClaim = "groups"
		}
		if !slices.Contains(sc.cfg.Scopes, oidc.ScopeOpenID) {
			sc.cfg.Scopes = append([]string{oidc.ScopeOpenID}, sc.cfg.Scopes...)
		}
		if sc.client == nil {
			sc.client = &http.Client{Timeout: 30 * time.Second}
		}
		h.sso = sc
	}
}

// Sign-in flow limits.
const (
	// flowCookie holds one sign-in's state, nonce, PKCE verifier and
	// where to go after, sealed, for flowTTL.
	flowCookie = "k3sync_sso"
	flowTTL    = 10 * time.Minute
	// maxNameLen bounds the user name kept in the session.
	maxNameLen = 64
)

type ssoClient struct {
	cfg          SSO
	callbackPath string
	https        bool
	client       *http.Client
	codec        *cookieCodec

	mu       sync.Mutex
	provider *oidc.Provider
	verifier *oidc.IDTokenVerifier
	oauth    *oauth2.Config
}

// flow is one sign-in in progress, in the flow cookie.
type flow struct {
	State    string `json:"s"`
	Nonce    string `json:"n"`
	Verifier string `json:"v"`
	Next     string `json:"x"`
}

// discover fetches the provider's discovery document once it succeeds.
func (c *ssoClient) discover(ctx context.Context) (*oidc.Provider, *oauth2.Config, *oidc.IDTokenVerifier, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.provider == nil {
		p, err := oidc.NewProvider(oidc.ClientContext(ctx, c.client), c.cfg.Issuer)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("sso discovery: %w", err)
		}
		c.provider = p
		c.verifier = p.Verifier(&oidc.Config{ClientID: c.cfg.ClientID})
		c.oauth = &oauth2.Config{
			ClientID: c.cfg.ClientID, ClientSecret: c.cfg.ClientSecret,
			Endpoint: p.Endpoint(), RedirectURL: c.cfg.RedirectURL, Scopes: c.cfg.Scopes,
		}
	}
	return c.provider, c.oauth, c.verifier, nil
}

// secure reports whether cookies get the Secure attribute: over TLS, or
// when the dashboard is reached over HTTPS through a proxy: its SSO
// redirect URL is https, or the proxy says so (X-Forwarded-Proto, or
// Forwarded's proto). Trusting the header is safe: a client that forges
// it only gets a cookie its browser keeps off plain HTTP.
func (h *handler) secure(r *http.Request) bool {
	return r.TLS != nil || (h.sso != nil && h.sso.https) || forwardedHTTPS(r.Header)
}

// forwardedHTTPS reports whether a proxy in front says the client's
// request came over HTTPS (the first proxy's word, as the client sent it).
func forwardedHTTPS(h http.Header) bool {
	if proto, _, _ := strings.Cut(h.Get("X-Forwarded-Proto"), ","); strings.EqualFold(strings.TrimSpace(proto), "https") {
		return true
	}
	first, _, _ := strings.Cut(h.Get("Forwarded"), ",")
	for pair := range strings.SplitSeq(first, ";") {
		if k, v, ok := strings.Cut(strings.TrimSpace(pair), "="); ok && strings.EqualFold(k, "proto") && strings.EqualFold(strings.Trim(v, `"`), "https") {
			return true
		}
	}
	return false
}

// ssoStart sends the browser to the provider, with a fresh state, nonce
// and PKCE verifier sealed in the flow cookie.
func (h *handler) ssoStart(w http.ResponseWriter, r *http.Request) {
	next := localPath(r.URL.Query().Get("next"))
	if h.sessionOf(r) != nil {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	_, oc, _, err := h.sso.discover(r.Context())
	if err != nil {
		h.log.ErrorContext(r.Context(), "dashboard sso: provider unreachable", "issuer", h.sso.cfg.Issuer, "error", err)
		h.renderError(w, r, nil, http.StatusBadGateway, "The identity provider could not be reached: try again later, or sign in with an API token.")
		return
	}
	f := flow{State: rand.Text(), Nonce: rand.Text(), Verifier: oauth2.GenerateVerifier(), Next: next}
	v, err := h.sso.codec.seal(flowCookie, f, h.now().Add(flowTTL))
	if err != nil {
		h.log.ErrorContext(r.Context(), "dashboard sso: seal", "error", err)
		h.renderError(w, r, nil, http.StatusInternalServerError, "Could not start the sign-in.")
		return
	}
	// Lax: the provider's redirect back is a cross-site navigation,
	// which a Strict cookie would not follow.
	http.SetCookie(w, &http.Cookie{
		Name: flowCookie, Value: v, Path: h.sso.callbackPath, MaxAge: int(flowTTL.Seconds()),
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: h.secure(r),
	})
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, oc.AuthCodeURL(f.State, oidc.Nonce(f.Nonce), oauth2.S256ChallengeOption(f.Verifier)), http.StatusSeeOther)
}

// ssoCallback finishes a sign-in: the state matches the flow cookie's,
// the code is exchanged with the PKCE verifier, the ID token verified
// (signature, issuer, audience, expiry) and its nonce matched, and the
// user's groups map to a role. Neither the ID token nor the access token
// is kept.
func (h *handler) ssoCallback(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	// One use: the flow cookie goes whatever happens.
	http.SetCookie(w, &http.Cookie{Name: flowCookie, Value: "", Path: h.sso.callbackPath, MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: h.secure(r)})
	q := r.URL.Query()
	if e := q.Get("error"); e != "" {
		h.log.WarnContext(ctx, "dashboard sso: provider refused", "error", e, "remote", r.RemoteAddr)
		h.renderError(w, r, nil, http.StatusForbidden, "The identity provider did not sign you in ("+cleanName(e)+").")
		return
	}
	var f flow
	c, err := r.Cookie(flowCookie)
	if err == nil {
		_, err = h.sso.codec.open(flowCookie, c.Value, h.now(), &f)
	}
	if err != nil || f.State == "" || subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(f.State)) != 1 {
		h.log.WarnContext(ctx, "dashboard sso: state missing or wrong", "remote", r.RemoteAddr)
		h.renderError(w, r, nil, http.StatusBadRequest, "This sign-in expired or did not start here: sign in again.")
		return
	}
	p, oc, verifier, err := h.sso.discover(ctx)
	if err != nil {
		h.log.ErrorContext(ctx, "dashboard sso: provider unreachable", "issuer", h.sso.cfg.Issuer, "error", err)
		h.renderError(w, r, nil, http.StatusBadGateway, "The identity provider could not be reached: try again later.")
		return
	}
	pctx := oidc.ClientContext(ctx, h.sso.client)
	tok, err := oc.Exchange(pctx, q.Get("code"), oauth2.VerifierOption(f.Verifier))
	if err != nil {
		h.log.WarnContext(ctx, "dashboard sso: code exchange", "error", err)
		h.renderError(w, r, nil, http.StatusBadGateway, "The identity provider did not accept the sign-in: sign in again.")
		return
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		h.log.WarnContext(ctx, "dashboard sso: no ID token in the token response")
		h.renderError(w, r, nil, http.StatusBadGateway, "The identity provider sent no ID token.")
		return
	}
	idt, err := verifier.Verify(pctx, raw)
	if err == nil && subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(f.Nonce)) != 1 {
		err = errors.New("nonce does not match")
	}
	if err != nil {
		h.log.WarnContext(ctx, "dashboard sso: ID token refused", "error", err)
		h.renderError(w, r, nil, http.StatusForbidden, "The identity provider's ID token did not verify: sign in again.")
		return
	}
	claims := map[string]any{}
	if err := idt.Claims(&claims); err != nil {
		h.log.WarnContext(ctx, "dashboard sso: ID token claims", "error", err)
		h.renderError(w, r, nil, http.StatusBadGateway, "The identity provider's ID token could not be read.")
		return
	}
	groups, ok := claimStrings(claims[h.sso.cfg.GroupsClaim])
	if !ok {
		// Some providers put groups in UserInfo only.
		if groups, err = h.sso.userInfoGroups(pctx, p, tok, idt.Subject); err != nil {
			h.log.WarnContext(ctx, "dashboard sso: userinfo", "error", err)
			h.renderError(w, r, nil, http.StatusBadGateway, "The identity provider's user information could not be read.")
			return
		}
	}
	name := userName(claims, idt.Subject)
	role := h.sso.role(groups)
	if role == "" {
		h.log.WarnContext(ctx, "dashboard sso: no matching group", "user", name, "subject", idt.Subject, "groups", len(groups), "remote", r.RemoteAddr)
		h.renderError(w, r, nil, http.StatusForbidden, "You signed in as "+name+", but none of your groups may use this dashboard: ask an administrator to add you to a viewer or operator group.")
		return
	}
	if !h.startSession(w, r, name, role, idt.Subject) {
		return
	}
	h.log.InfoContext(ctx, "dashboard login", "user", name, "subject", idt.Subject, "role", role, "sso", true, "remote", r.RemoteAddr)
	// A page rather than a redirect: the session cookie is SameSite
	// Strict, which a browser does not send on a redirect chain that
	// began at the provider; a navigation this page starts is same-site.
	next := "/"
	if u, err := url.Parse(localPath(f.Next)); err == nil {
		next = u.String() // escaped: it goes into a meta refresh
	}
	h.render(w, r, http.StatusOK, "login", "sso-continue", &page{Title: "Signed in", Now: h.now(), Data: next})
}

// userInfoGroups reads the groups claim from the UserInfo endpoint,
// whose subject must be the ID token's.
func (c *ssoClient) userInfoGroups(ctx context.Context, p *oidc.Provider, tok *oauth2.Token, subject string) ([]string, error) {
	ui, err := p.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil {
		return nil, fmt.Errorf("userinfo: %w", err)
	}
	if ui.Subject != subject {
		return nil, errors.New("userinfo: another subject than the ID token's")
	}
	m := map[string]any{}
	if err := ui.Claims(&m); err != nil {
		return nil, fmt.Errorf("userinfo claims: %w", err)
	}
	groups, _ := claimStrings(m[c.cfg.GroupsClaim])
	return groups, nil
}

// role maps groups: operator first, then viewer; "" for neither.
func (c *ssoClient) role(groups []string) string {
	in := func(allowed []string) bool {
		return slices.ContainsFunc(groups, func(g string) bool { return slices.Contains(allowed, g) })
	}
	switch {
	case in(c.cfg.OperatorGroups):
		return "operator"
	case in(c.cfg.ViewerGroups):
		return "viewer"
	}
	return ""
}

// claimStrings reads a claim that is a list of strings or one string;
// ok is false when the claim is absent.
func claimStrings(v any) (out []string, ok bool) {
	switch v := v.(type) {
	case nil:
		return nil, false
	case string:
		return []string{v}, true
	case []any:
		for _, e := range v {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
	}
	return out, true
}

// userName is the name the session shows and the audit trail records:
// preferred_username, name, email, else the subject.
func userName(claims map[string]any, subject string) string {
	for _, k := range []string{"preferred_username", "name", "email"} {
		if s, ok := claims[k].(string); ok {
			if s = cleanName(s); s != "" {
				return s
			}
		}
	}
	return cleanName(subject)
}

// cleanName keeps a provider's string printable and short.
func cleanName(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			return -1
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if r := []rune(s); len(r) > maxNameLen {
		s = string(r[:maxNameLen])
	}
	return s
}
