package config

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestSSOConfig(t *testing.T) {
	c, err := Parse([]byte(`
server:
  sessionKeys: [{secretEnv: K3SYNC_SESSION_KEY}, {secretFile: /etc/k3sync/old-session-key}]
  sso:
    issuer: https://gitea.example/
    clientID: k3sync
    clientSecret: {secretEnv: K3SYNC_SSO_SECRET}
    redirectURL: https://k3sync.example/login/sso/callback
    operatorGroups: ["platform:ops"]
    viewerGroups: [platform]
`))
	if err != nil {
		t.Fatal(err)
	}
	o := c.Server.SSO
	if o.GroupsClaim != "groups" || !slices.Equal(o.Scopes, DefaultSSOScopes) || o.DisableTokenLogin {
		t.Errorf("defaults: %+v", o)
	}
	if c.Server.SessionTTL.Duration != 8*time.Hour {
		t.Errorf("session TTL %s", c.Server.SessionTTL)
	}
	if s := o.ClientSecret.String(); strings.Contains(s, "K3SYNC") {
		t.Errorf("secret reference printed: %s", s)
	}

	c, err = Parse([]byte(`
server:
  sessionKeys: [{secretEnv: K}]
  sessionTTL: 1h
  sso: {issuer: "http://127.0.0.1:3000/", clientID: c, clientSecret: {secretFile: /s}, redirectURL: "http://127.0.0.1:8080/cb", scopes: [groups], viewerGroups: [g], groupsClaim: roles, disableTokenLogin: true}
`))
	if err != nil {
		t.Fatal(err)
	}
	if o := c.Server.SSO; !slices.Equal(o.Scopes, []string{"openid", "groups"}) || o.GroupsClaim != "roles" || !o.DisableTokenLogin || c.Server.SessionTTL.Duration != time.Hour {
		t.Errorf("explicit: %+v %s", o, c.Server.SessionTTL)
	}

	// No sso, no session keys: valid (a key per process).
	if c, err := Parse([]byte(`server: {}`)); err != nil || c.Server.SSO != nil || c.Server.SessionTTL.Duration != DefaultSessionTTL {
		t.Errorf("no sso: %v %+v", err, c.Server)
	}
}

func TestSSOConfigErrors(t *testing.T) {
	const good = `{issuer: "https://idp.example", clientID: c, clientSecret: {secretEnv: S}, redirectURL: "https://k/login/sso/callback", viewerGroups: [g]}`
	tests := []struct {
		name, yaml, want string
	}{
		{"sso without session keys", `server: {sso: ` + good + `}`, "server.sessionKeys: required with server.sso"},
		{"session key without reference", `server: {sessionKeys: [{}]}`, "server.sessionKeys[0]: secretFile or secretEnv is required"},
		{"inline session key", `server: {sessionKeys: ["abc"]}`, "parse"},
		{"ttl too long", `server: {sessionTTL: 720h}`, "server.sessionTTL"},
		{"ttl too short", `server: {sessionTTL: 1s}`, "server.sessionTTL"},
		{"no issuer", `server: {sessionKeys: [{secretEnv: K}], sso: {clientID: c, clientSecret: {secretEnv: S}, redirectURL: "https://k/cb", viewerGroups: [g]}}`, "server.sso.issuer: required"},
		{"issuer not a URL", `server: {sessionKeys: [{secretEnv: K}], sso: {issuer: "gitea.example", clientID: c, clientSecret: {secretEnv: S}, redirectURL: "https://k/cb", viewerGroups: [g]}}`, "server.sso.issuer"},
		{"no client ID", `server: {sessionKeys: [{secretEnv: K}], sso: {issuer: "https://i", clientSecret: {secretEnv: S}, redirectURL: "https://k/cb", viewerGroups: [g]}}`, "server.sso.clientID: required"},
		{"inline client secret", `server: {sessionKeys: [{secretEnv: K}], sso: {issuer: "https://i", clientID: c, clientSecret: "s3cret", redirectURL: "https://k/cb", viewerGroups: [g]}}`, "parse"},
		{"no client secret", `server: {sessionKeys: [{secretEnv: K}], sso: {issuer: "https://i", clientID: c, redirectURL: "https://k/cb", viewerGroups: [g]}}`, "server.sso.clientSecret"},
		{"redirect without path", `server: {sessionKeys: [{secretEnv: K}], sso: {issuer: "https://i", clientID: c, clientSecret: {secretEnv: S}, redirectURL: "https://k/", viewerGroups: [g]}}`, "server.sso.redirectURL"},
		{"no groups", `server: {sessionKeys: [{secretEnv: K}], sso: {issuer: "https://i", clientID: c, clientSecret: {secretEnv: S}, redirectURL: "https://k/cb"}}`, "nobody could sign in"},
		{"empty group", `server: {sessionKeys: [{secretEnv: K}], sso: {issuer: "https://i", clientID: c, clientSecret: {secretEnv: S}, redirectURL: "https://k/cb", viewerGroups: [""]}}`, "empty group"},
		{"misspelt key", `server: {sessionKeys: [{secretEnv: K}], sso: {issuer: "https://i", clientSecrt: {secretEnv: S}}}`, "parse"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want %q", err, tt.want)
			}
		})
	}
}

func TestReadSessionKeys(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "key")
	long := strings.Repeat("k", MinSessionKeyLen)
	if err := os.WriteFile(file, []byte(long+"-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("K3SYNC_TEST_SESSION_KEY", long+"-env")
	t.Setenv("K3SYNC_TEST_SHORT_KEY", "short")
	keys, err := Server{SessionKeys: []Secret{{SecretEnv: "K3SYNC_TEST_SESSION_KEY"}, {SecretFile: file}}}.ReadSessionKeys()
	if err != nil || len(keys) != 2 || string(keys[0]) != long+"-env" || string(keys[1]) != long+"-file" {
		t.Fatalf("keys: %v %q", err, keys)
	}
	for _, tt := range []struct {
		name string
		keys []Secret
		want string
	}{
		{"short", []Secret{{SecretEnv: "K3SYNC_TEST_SHORT_KEY"}}, "5 bytes, want at least 32"},
		{"unset", []Secret{{SecretEnv: "K3SYNC_TEST_UNSET_KEY"}}, "not set"},
		{"twice", []Secret{{SecretFile: file}, {SecretFile: file}}, "same key as server.sessionKeys[0]"},
	} {
		_, err := Server{SessionKeys: tt.keys}.ReadSessionKeys()
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want %q", tt.name, err, tt.want)
		} else if strings.Contains(err.Error(), "short\"") || strings.Contains(err.Error(), long) {
			t.Errorf("%s: the key is in the error: %v", tt.name, err)
		}
	}
}
