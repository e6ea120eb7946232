package source

import (
	"errors"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing/transport"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/k3sync/k3sync/internal/testenv/gitserver"
)

// TestHTTPAuth fetches from a server that requires basic auth, as hosting
// services do for private repositories: with a user and password, with a
// token alone, with credentials in the URL; wrong or missing credentials
// fail with an error that does not contain them.
func TestHTTPAuth(t *testing.T) {
	const (
		user     = "k3sync-bot"
		password = "correct-horse-battery-staple"
		token    = "ghp_0123456789abcdefTOKEN"
		wrong    = "wrong-p@ssword/with:specials"
	)
	tests := []struct {
		name string
		// server credentials
		serverUser, serverPassword string
		// userinfo is put in the URL as scheme://userinfo@host/...
		userinfo string
		auth     Auth
		// wantErr is the error wanted, nil for success.
		wantErr error
		// secret must appear in no error.
		secret string
	}{
		{
			name:       "user and password",
			serverUser: user, serverPassword: password,
			auth: Auth{Username: user, Password: password},
		},
		{
			name:       "token without user",
			serverUser: tokenUser, serverPassword: token,
			auth: Auth{Password: token},
		},
		{
			name:       "token with any user",
			serverUser: "oauth2", serverPassword: token,
			auth: Auth{Username: "oauth2", Password: token},
		},
		{
			name:       "credentials in the URL",
			serverUser: user, serverPassword: password,
			userinfo: user + ":" + password,
		},
		{
			name:       "wrong password",
			serverUser: user, serverPassword: password,
			auth:    Auth{Username: user, Password: wrong},
			wantErr: transport.ErrAuthenticationRequired,
			secret:  wrong,
		},
		{
			name:       "wrong token",
			serverUser: tokenUser, serverPassword: token,
			auth:    Auth{Password: wrong},
			wantErr: transport.ErrAuthenticationRequired,
			secret:  wrong,
		},
		{
			name:       "wrong password in the URL",
			serverUser: user, serverPassword: password,
			userinfo: user + ":" + "wrong-password-in-url",
			wantErr:  transport.ErrAuthenticationRequired,
			secret:   "wrong-password-in-url",
		},
		{
			name:       "wrong token as the URL user",
			serverUser: tokenUser, serverPassword: token,
			userinfo: "ghp_wrongTOKENinURL",
			wantErr:  transport.ErrAuthenticationRequired,
			secret:   "ghp_wrongTOKENinURL",
		},
		{
			name:       "no credentials",
			serverUser: user, serverPassword: password,
			wantErr: transport.ErrAuthenticationRequired,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up, root := upstream(t)
			up.CopyDir(exampleRepo)
			h := up.Commit("Add the platform repo")
			srv := gitserver.NewHTTP(t, root, gitserver.WithBasicAuth(tt.serverUser, tt.serverPassword))
			url := srv.RepoURL(up.Name)
			if tt.userinfo != "" {
				url = strings.Replace(url, "://", "://"+tt.userinfo+"@", 1)
			}
			p := newPoller(t, url, tt.auth)
			if strings.Contains(p.URL(), "@") {
				t.Errorf("URL() = %q, want it without credentials", p.URL())
			}
			rev, err := p.Poll(t.Context())
			if tt.wantErr == nil {
				if err != nil || rev.Hash != h {
					t.Fatalf("poll: %s, %v; want %s", rev.Hash, err, h)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("poll: %v, want %v", err, tt.wantErr)
			}
			for _, msg := range []string{err.Error(), p.Status().LastError} {
				if tt.secret != "" && strings.Contains(msg, tt.secret) {
					t.Errorf("error contains the secret: %s", msg)
				}
				if tt.userinfo != "" && strings.Contains(msg, tt.userinfo) {
					t.Errorf("error contains the URL's credentials: %s", msg)
				}
				if !strings.Contains(msg, srv.RepoURL(up.Name)) {
					t.Errorf("error %q does not name the URL", msg)
				}
			}
		})
	}
}

// TestSSHAuth fetches over SSH with a private key, checking the server's
// host key against the known hosts.
func TestSSHAuth(t *testing.T) {
	key, pub := gitserver.NewClientKey(t, "")
	const passphrase = "open sesame"
	encrypted, encryptedPub := gitserver.NewClientKey(t, passphrase)
	stranger, _ := gitserver.NewClientKey(t, "")
	root := t.TempDir()
	up := gitserver.NewRepo(t, root, "platform.git")
	up.CopyDir(exampleRepo)
	h := up.Commit("Add the platform repo")
	srv := gitserver.NewSSH(t, root, pub, encryptedPub)
	impostor := gitserver.NewSSH(t, root, pub)

	tests := []struct {
		name    string
		auth    Auth
		url     string
		wantErr string
	}{
		{name: "key", auth: Auth{SSHKey: key, KnownHosts: srv.KnownHosts()}},
		{name: "encrypted key", auth: Auth{SSHKey: encrypted, SSHKeyPassphrase: passphrase, KnownHosts: srv.KnownHosts()}},
		{
			name: "host key does not match",
			// The impostor listens where the known hosts name srv.
			auth:    Auth{SSHKey: key, KnownHosts: []byte(knownhosts.Line([]string{knownhosts.Normalize(impostor.Addr)}, srv.HostKey))},
			url:     impostor.RepoURL(up.Name),
			wantErr: "key mismatch",
		},
		{
			name:    "host unknown",
			auth:    Auth{SSHKey: key, KnownHosts: impostor.KnownHosts()},
			wantErr: "key is unknown",
		},
		{
			name:    "key not authorized",
			auth:    Auth{SSHKey: stranger, KnownHosts: srv.KnownHosts()},
			wantErr: "unable to authenticate",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url := tt.url
			if url == "" {
				url = srv.RepoURL(up.Name)
			}
			p := newPoller(t, url, tt.auth)
			rev, err := p.Poll(t.Context())
			if tt.wantErr == "" {
				if err != nil || rev.Hash != h {
					t.Fatalf("poll: %s, %v; want %s", rev.Hash, err, h)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("poll: %v, want an error with %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), passphrase) {
				t.Errorf("error contains the passphrase: %v", err)
			}
		})
	}
}

// TestHTTPSWithPrivateCA fetches over HTTPS from a server whose
// certificate a private CA signed: trusted with WithCABundle, refused
// without.
func TestHTTPSWithPrivateCA(t *testing.T) {
	up, root := upstream(t)
	up.CopyDir(exampleRepo)
	h := up.Commit("Add the platform repo")
	srv := gitserver.NewHTTP(t, root, gitserver.WithTLS(), gitserver.WithBasicAuth(tokenUser, "tls-token-123"))
	url := srv.RepoURL(up.Name)
	if !strings.HasPrefix(url, "https://") {
		t.Fatalf("server URL %s, want https", url)
	}
	auth := Auth{Password: "tls-token-123"}

	p := newPoller(t, url, auth, WithCABundle(srv.CACert()))
	if rev, err := p.Poll(t.Context()); err != nil || rev.Hash != h {
		t.Fatalf("poll with the CA: %s, %v; want %s", rev.Hash, err, h)
	}

	p = newPoller(t, url, auth)
	_, err := p.Poll(t.Context())
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("poll without the CA: %v, want a certificate error", err)
	}
	if strings.Contains(err.Error(), "tls-token-123") {
		t.Errorf("error contains the token: %v", err)
	}
}
