package config

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"time"
)

// Dashboard sign-in defaults.
const (
	// DefaultSessionTTL is how long a dashboard login lasts when
	// server.sessionTTL is not set.
	DefaultSessionTTL = 8 * time.Hour
	// MaxSessionTTL bounds server.sessionTTL: a session cookie cannot be
	// revoked on every replica before it expires, so it must expire soon.
	MaxSessionTTL = 7 * 24 * time.Hour
	// DefaultGroupsClaim is the ID token claim listing the user's groups.
	DefaultGroupsClaim = "groups"
	// MinSessionKeyLen is the shortest session key accepted, in bytes.
	MinSessionKeyLen = 32
)

// DefaultSSOScopes are requested when server.sso.scopes is not set.
var DefaultSSOScopes = []string{"openid", "profile", "email", "groups"}

// SSO signs in to the dashboard with an OpenID Connect provider: the
// authorization code flow with PKCE, state and nonce, the ID token
// verified, and its groups mapped to a role.
//
//	server:
//	  sessionKeys: [{secretFile: /etc/k3sync/session-key}]
//	  sso:
//	    issuer: https://gitea.example/
//	    clientID: 0b1c…
//	    clientSecret: {secretFile: /etc/k3sync/sso-client-secret}
//	    redirectURL: https://k3sync.example/login/sso/callback
//	    operatorGroups: [platform:operators]
//	    viewerGroups: [platform]
type SSO struct {
	// Issuer is the provider's issuer URL, exactly as its
	// /.well-known/openid-configuration announces it (a trailing slash
	// counts).
	Issuer   string `json:"issuer"`
	ClientID string `json:"clientID"`
	// ClientSecret is read from secretFile or secretEnv.
	ClientSecret Secret `json:"clientSecret"`
	// RedirectURL is the dashboard's callback as registered with the
	// provider; the dashboard serves its path.
	RedirectURL string `json:"redirectURL"`
	// Scopes requested (default openid, profile, email, groups); openid
	// is always requested.
	Scopes []string `json:"scopes,omitempty"`
	// GroupsClaim names the claim holding the user's groups (default
	// "groups"), read from the ID token, else from the UserInfo endpoint.
	GroupsClaim string `json:"groupsClaim,omitempty"`
	// OperatorGroups may sync, suspend and resume; ViewerGroups may read.
	// A user in none of them is refused.
	OperatorGroups []string `json:"operatorGroups,omitempty"`
	ViewerGroups   []string `json:"viewerGroups,omitempty"`
	// DisableTokenLogin hides the dashboard's API token form: people sign
	// in with SSO only. API tokens still work on the API.
	DisableTokenLogin bool `json:"disableTokenLogin,omitempty"`
}

// validateSessions checks server.sessionKeys, server.sessionTTL and
// server.sso, and fills in the defaults.
func (s *Server) validateSessions() error {
	var errs []error
	for i, k := range s.SessionKeys {
		if !k.IsSet() {
			errs = append(errs, fmt.Errorf("server.sessionKeys[%d]: secretFile or secretEnv is required", i))
		}
	}
	switch ttl := s.SessionTTL.Duration; {
	case ttl == 0:
		s.SessionTTL.Duration = DefaultSessionTTL
	case ttl < time.Minute || ttl > MaxSessionTTL:
		errs = append(errs, fmt.Errorf("server.sessionTTL: %s is not between 1m and %s", ttl, MaxSessionTTL))
	}
	if s.SSO != nil {
		if len(s.SessionKeys) == 0 {
			// Without a configured key each process makes its own: the
			// provider's callback could land on a replica that cannot
			// read the login's cookie.
			errs = append(errs, errors.New("server.sessionKeys: required with server.sso"))
		}
		if err := s.SSO.validate(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (o *SSO) validate() error {
	var errs []error
	if err := absoluteURL(o.Issuer); err != nil {
		errs = append(errs, fmt.Errorf("server.sso.issuer: %w", err))
	}
	if o.ClientID == "" {
		errs = append(errs, errors.New("server.sso.clientID: required"))
	}
	if !o.ClientSecret.IsSet() {
		errs = append(errs, errors.New("server.sso.clientSecret: secretFile or secretEnv is required"))
	}
	if err := absoluteURL(o.RedirectURL); err != nil {
		errs = append(errs, fmt.Errorf("server.sso.redirectURL: %w", err))
	} else if u, _ := url.Parse(o.RedirectURL); u.Path == "" || u.Path == "/" || u.RawQuery != "" || u.Fragment != "" {
		errs = append(errs, fmt.Errorf("server.sso.redirectURL: %q needs a path of its own (e.g. /login/sso/callback) and no query", o.RedirectURL))
	}
	if len(o.OperatorGroups) == 0 && len(o.ViewerGroups) == 0 {
		errs = append(errs, errors.New("server.sso: operatorGroups or viewerGroups is required: nobody could sign in"))
	}
	for _, g := range append(slices.Clone(o.OperatorGroups), o.ViewerGroups...) {
		if g == "" {
			errs = append(errs, errors.New("server.sso: an empty group name"))
			break
		}
	}
	if o.GroupsClaim == "" {
		o.GroupsClaim = DefaultGroupsClaim
	}
	if len(o.Scopes) == 0 {
		o.Scopes = slices.Clone(DefaultSSOScopes)
	} else if !slices.Contains(o.Scopes, "openid") {
		o.Scopes = append([]string{"openid"}, o.Scopes...)
	}
	return errors.Join(errs...)
}

// absoluteURL accepts http and https URLs with a host.
func absoluteURL(s string) error {
	if s == "" {
		return errors.New("required")
	}
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("%q: %w", s, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return fmt.Errorf("%q is not an http(s) URL", s)
	}
	return nil
}

// ReadSessionKeys reads server.sessionKeys, in order, from their files
// or environment variables. Each must hold at least MinSessionKeyLen
// bytes (e.g. `openssl rand -base64 48`); none may repeat.
func (s Server) ReadSessionKeys() ([][]byte, error) {
	out := make([][]byte, 0, len(s.SessionKeys))
	var errs []error
	seen := map[string]int{}
	for i, k := range s.SessionKeys {
		v, err := k.Value()
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("server.sessionKeys[%d]: %w", i, err))
			continue
		case len(v) < MinSessionKeyLen:
			errs = append(errs, fmt.Errorf("server.sessionKeys[%d]: %d bytes, want at least %d", i, len(v), MinSessionKeyLen))
			continue
		}
		if j, dup := seen[v]; dup {
			errs = append(errs, fmt.Errorf("server.sessionKeys[%d]: same key as server.sessionKeys[%d]", i, j))
			continue
		}
		seen[v] = i
		out = append(out, []byte(v))
	}
	return out, errors.Join(errs...)
}
