package server_test

import (
	"strings"
	"testing"

	"github.com/k3sync/k3sync/internal/config"
	"github.com/k3sync/k3sync/internal/server"
)

func TestTokensAuthenticate(t *testing.T) {
	ts, err := server.ReadTokens(testConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		presented, name, role string
		ok                    bool
	}{
		{viewerToken, "ci-viewer", "viewer", true},
		{operatorToken, "alice", "operator", true},
		{"", "", "", false},
		{viewerToken[:10], "", "", false},
		{viewerToken + "x", "", "", false},
	}
	for _, tt := range tests {
		name, role, ok := ts.Authenticate(tt.presented)
		if name != tt.name || role != tt.role || ok != tt.ok {
			t.Errorf("Authenticate(%q) = %q, %q, %v; want %q, %q, %v", tt.presented, name, role, ok, tt.name, tt.role, tt.ok)
		}
	}
}

func TestReadTokensChecksLikeNew(t *testing.T) {
	cfg := config.Server{Tokens: []config.Token{
		{Name: "a", Role: "admin", Secret: config.Secret{TokenFile: secretFile(t, "a", "one")}},
		{Name: "b", Role: "viewer", Secret: config.Secret{TokenFile: secretFile(t, "b", "two")}},
		{Name: "c", Role: "operator", Secret: config.Secret{TokenFile: secretFile(t, "c", "two")}},
	}}
	_, err := server.ReadTokens(cfg)
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{`server tokens[0] (a): role "admin" is not viewer or operator`, "server tokens[2] (c): same secret as token b"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}
