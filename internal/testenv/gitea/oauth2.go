package gitea

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
)

// Gitea is also an OpenID Connect provider: the issuer it announces is
// its ROOT_URL without the trailing slash, URL, with discovery at
// URL + "/.well-known/openid-configuration". The provider is off unless
// the server is started with
//
//	Settings: map[string]map[string]string{"oauth2": {"ENABLED": "true"}}
//
// Its ID tokens carry a "groups" claim, when the scope "groups" is
// granted, listing the user's organizations as "org" and their teams as
// "org:team" (the team name in lower case).

// Issuer returns the OpenID Connect issuer URL the server announces.
func (s *Server) Issuer() string { return s.URL }

// User is a Gitea account created by CreateUser.
type User struct {
	ID       int64  `json:"id"`
	Login    string `json:"login"`
	Email    string `json:"email"`
	FullName string `json:"full_name"`
}

// CreateUser creates an active user with a password that need not be
// changed, as the site administrator.
func (s *Server) CreateUser(ctx context.Context, login, password string) (User, error) {
	var u User
	err := s.API(ctx, http.MethodPost, "/admin/users", map[string]any{
		"username": login, "email": login + "@example.com", "password": password,
		"full_name": login, "must_change_password": false, "visibility": "public",
	}, &u)
	return u, err
}

// CreateTeam creates the organization org (public, owned by the site
// administrator) unless it exists, and the team in it with read access,
// and makes members its members (and so the organization's).
func (s *Server) CreateTeam(ctx context.Context, org, team string, members ...string) error {
	err := s.API(ctx, http.MethodPost, "/orgs", map[string]any{"username": org, "visibility": "public"}, nil)
	if err != nil && !IsStatus(err, http.StatusUnprocessableEntity) {
		return err
	}
	var t struct {
		ID int64 `json:"id"`
	}
	if err := s.API(ctx, http.MethodPost, "/orgs/"+url.PathEscape(org)+"/teams", map[string]any{
		"name": team, "permission": "read", "units": []string{"repo.code"},
	}, &t); err != nil {
		return err
	}
	for _, m := range members {
		if err := s.API(ctx, http.MethodPut, fmt.Sprintf("/teams/%d/members/%s", t.ID, url.PathEscape(m)), nil, nil); err != nil {
			return err
		}
	}
	return nil
}

// OAuth2App is an OAuth2 application registered with the server.
type OAuth2App struct {
	ID           int64    `json:"id"`
	Name         string   `json:"name"`
	ClientID     string   `json:"client_id"`
	ClientSecret string   `json:"client_secret"`
	RedirectURIs []string `json:"redirect_uris"`
}

// CreateOAuth2App registers a confidential OAuth2 application of the site
// administrator, allowed to redirect to redirectURIs only. Users who sign
// in through it are asked to grant it access once.
func (s *Server) CreateOAuth2App(ctx context.Context, name string, redirectURIs ...string) (OAuth2App, error) {
	var app OAuth2App
	err := s.API(ctx, http.MethodPost, "/user/applications/oauth2", map[string]any{
		"name": name, "redirect_uris": redirectURIs, "confidential_client": true,
	}, &app)
	return app, err
}

// frontendStubs are the bundles every Gitea page loads.
var frontendStubs = []string{"js/iife.js", "js/index.js", "css/index.css", "css/theme-gitea-auto.css"}

// StubFrontend writes empty stand-ins for Gitea's JavaScript and CSS
// bundles under Dir/custom/public/assets, which Gitea serves over its
// own. `make gitea-bin` builds the server without its frontend, and a
// browser on a Gitea page then gets an alert() per missing script, which
// blocks the page until dismissed. The pages' forms work without them.
func (s *Server) StubFrontend() error {
	var errs []error
	for _, f := range frontendStubs {
		p := filepath.Join(s.Dir, "custom", "public", "assets", filepath.FromSlash(f))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			errs = append(errs, err)
			continue
		}
		if err := os.WriteFile(p, []byte("/* stub: no frontend build */\n"), 0o644); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("gitea frontend stubs: %w", err)
	}
	return nil
}
