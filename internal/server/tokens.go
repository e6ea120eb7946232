package server

import (
	"crypto/sha256"
	"crypto/subtle"

	"github.com/k3sync/k3sync/internal/config"
)

// Tokens is the configured API token set, for front ends other than the
// API that sign in with the same tokens (the dashboard's login form).
type Tokens struct {
	list []token
}

// ReadTokens reads cfg.Tokens from their files or environment variables,
// with the checks New makes.
func ReadTokens(cfg config.Server) (*Tokens, error) {
	list, err := readTokens(cfg.Tokens)
	if err != nil {
		return nil, err
	}
	return &Tokens{list: list}, nil
}

// Authenticate resolves a presented token to its configured name and role
// ("viewer" or "operator"). The comparison is the API's: constant time,
// against every token.
func (ts *Tokens) Authenticate(presented string) (name, role string, ok bool) {
	t, ok := lookupToken(ts.list, presented)
	if !ok {
		return "", "", false
	}
	return t.name, t.role.String(), true
}

// lookupToken finds the token whose secret is presented. Every token is
// compared, in constant time, whichever matches.
func lookupToken(tokens []token, presented string) (token, bool) {
	sum := sha256.Sum256([]byte(presented))
	var found token
	ok := 0
	for _, t := range tokens {
		if subtle.ConstantTimeCompare(sum[:], t.sum[:]) == 1 {
			found, ok = t, 1
		}
	}
	return found, ok == 1
}
