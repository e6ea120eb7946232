package server

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/k3sync/k3sync/internal/config"
)

// role is what a token may do; a higher role includes the lower ones.
type role int

const (
	roleViewer role = iota + 1
	roleOperator
)

func (r role) String() string {
	switch r {
	case roleViewer:
		return "viewer"
	case roleOperator:
		return "operator"
	}
	return "none"
}

func parseRole(s string) (role, error) {
	switch s {
	case "viewer":
		return roleViewer, nil
	case "operator":
		return roleOperator, nil
	}
	return 0, fmt.Errorf("role %q is not viewer or operator", s)
}

// token is a configured API token: only its SHA-256 sum is kept.
type token struct {
	name string
	role role
	sum  [sha256.Size]byte
}

func readTokens(cfg []config.Token) ([]token, error) {
	out := make([]token, 0, len(cfg))
	var errs []error
	seen := map[[sha256.Size]byte]string{}
	for i, t := range cfg {
		r, err := parseRole(t.Role)
		if err != nil {
			errs = append(errs, fmt.Errorf("server tokens[%d] (%s): %w", i, t.Name, err))
			continue
		}
		v, err := t.Value()
		if err != nil {
			errs = append(errs, fmt.Errorf("server tokens[%d] (%s): %w", i, t.Name, err))
			continue
		}
		if v == "" {
			errs = append(errs, fmt.Errorf("server tokens[%d] (%s): the token is empty", i, t.Name))
			continue
		}
		sum := sha256.Sum256([]byte(v))
		if other, dup := seen[sum]; dup {
			// One secret with two names would make the audit trail lie.
			errs = append(errs, fmt.Errorf("server tokens[%d] (%s): same secret as token %s", i, t.Name, other))
			continue
		}
		seen[sum] = t.Name
		out = append(out, token{name: t.Name, role: r, sum: sum})
	}
	return out, errors.Join(errs...)
}

// lookup finds the token whose secret is presented. Every configured token
// is compared, in constant time, whichever matches.
func (s *Server) lookup(presented string) (token, bool) {
	return lookupToken(s.tokens, presented)
}

// bearer returns the token of an "Authorization: Bearer TOKEN" header.
func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

type principalKey struct{}

// principal is who made the request: the token's name and role.
type principal struct {
	name string
	role role
}

func principalFrom(ctx context.Context) principal {
	p, _ := ctx.Value(principalKey{}).(principal)
	return p
}

// authenticated lets requests with a token of at least role need through.
func (s *Server) authenticated(need role, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		presented, ok := bearer(r)
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="k3sync"`)
			writeError(w, r, http.StatusUnauthorized, errors.New("authentication required: send Authorization: Bearer TOKEN"))
			return
		}
		t, ok := s.lookup(presented)
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="k3sync", error="invalid_token"`)
			writeError(w, r, http.StatusUnauthorized, errors.New("invalid token"))
			return
		}
		setWho(r.Context(), t.name)
		if t.role < need {
			writeError(w, r, http.StatusForbidden, fmt.Errorf("token %s has role %s; %s %s needs %s", t.name, t.role, r.Method, r.URL.Path, need))
			return
		}
		ctx := context.WithValue(r.Context(), principalKey{}, principal{name: t.name, role: t.role})
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}
