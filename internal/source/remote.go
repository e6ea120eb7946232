package source

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"github.com/skeema/knownhosts"
)

// tokenUser is the user name sent with a token when none is configured.
const tokenUser = "x-access-token"

// remote is where and how to fetch from.
type remote struct {
	// url has no credentials: it is what go-git sees, so go-git's errors
	// cannot leak them.
	url  string
	auth transport.AuthMethod
	// secrets are removed from every error message.
	secrets []string
}

// newRemote parses raw and builds the auth method for its protocol.
// scratch is a writable folder for a moment.
func newRemote(raw string, a Auth, scratch string) (remote, error) {
	r := remote{secrets: secretsOf(a.Password, a.SSHKeyPassphrase)}
	if raw == "" {
		return r, errors.New("git source: URL is required")
	}
	ep, err := transport.NewEndpoint(raw)
	if err != nil {
		return r, fmt.Errorf("git source: URL %s: %w", r.redact(raw), r.redactErr(err))
	}
	r.secrets = append(r.secrets, secretsOf(ep.Password)...)
	scheme, _, explicit := strings.Cut(raw, "://")
	if !explicit {
		scheme = "scp"
	}
	shown := redactURL(ep)
	switch strings.ToLower(scheme) {
	case "https", "http":
		if ep.User != "" || ep.Password != "" {
			if a.Username != "" || a.Password != "" {
				return r, fmt.Errorf("git source: URL %s: credentials both in the URL and in Auth", shown)
			}
			a.Username, a.Password = ep.User, ep.Password
			if a.Password == "" {
				// https://TOKEN@host/...: the user name is the token.
				r.secrets = append(r.secrets, secretsOf(a.Username)...)
			}
			ep.User, ep.Password = "", ""
		}
		if len(a.SSHKey) > 0 || len(a.KnownHosts) > 0 {
			return r, fmt.Errorf("git source: URL %s: SSH key or known hosts set for an %s URL", shown, scheme)
		}
		if a.Username != "" || a.Password != "" {
			user := a.Username
			if user == "" {
				user = tokenUser
			}
			r.auth = &githttp.BasicAuth{Username: user, Password: a.Password}
		}
	case "ssh", "scp":
		if ep.Protocol != "ssh" {
			return r, fmt.Errorf("git source: URL %s: want https://, http://, ssh://, git@host:path or file://", shown)
		}
		if ep.Password != "" {
			return r, fmt.Errorf("git source: URL %s: a password in an SSH URL is not supported; use Auth.SSHKey", shown)
		}
		if r.auth, err = sshAuth(ep, a, scratch); err != nil {
			return r, fmt.Errorf("git source: URL %s: %w", shown, r.redactErr(err))
		}
	case "file":
		if a.Username != "" || a.Password != "" || len(a.SSHKey) > 0 || len(a.KnownHosts) > 0 {
			return r, fmt.Errorf("git source: URL %s: credentials set for a file:// URL", shown)
		}
	default:
		return r, fmt.Errorf("git source: URL %s: scheme %s not supported; want https://, http://, ssh://, git@host:path or file://", shown, scheme)
	}
	r.url = ep.String()
	return r, nil
}

// sshAuth is public-key auth with the server's host key checked against
// the known hosts.
func sshAuth(ep *transport.Endpoint, a Auth, scratch string) (transport.AuthMethod, error) {
	if a.Username != "" || a.Password != "" {
		return nil, errors.New("username or password set for an SSH URL; SSH uses Auth.SSHKey")
	}
	if len(a.SSHKey) == 0 {
		return nil, errors.New("SSH URL without Auth.SSHKey")
	}
	if len(a.KnownHosts) == 0 {
		// Never trust the first key seen: an attacker on the path could
		// serve another repo.
		return nil, errors.New("SSH URL without Auth.KnownHosts; the server's host key must be known")
	}
	user := ep.User
	if user == "" {
		user = "git"
	}
	keys, err := gitssh.NewPublicKeys(user, a.SSHKey, a.SSHKeyPassphrase)
	if err != nil {
		return nil, fmt.Errorf("SSH key: %w", err)
	}
	db, err := knownHostsDB(a.KnownHosts, scratch)
	if err != nil {
		return nil, err
	}
	port := ep.Port
	if port == 0 {
		port = 22
	}
	keys.HostKeyCallback = db.HostKeyCallback()
	// Offer only the key types known for this host, so that a server with
	// several host keys presents one that can be checked.
	keys.HostKeyAlgorithms = db.HostKeyAlgorithms(net.JoinHostPort(ep.Host, strconv.Itoa(port)))
	return keys, nil
}

// knownHostsDB parses known_hosts content. The parser reads files only, so
// the content goes through a temporary file (it is public data) in scratch:
// the clone's folder is writable where /tmp may not be, as in a container
// with a read-only root file system.
func knownHostsDB(content []byte, scratch string) (*knownhosts.HostKeyDB, error) {
	f, err := os.CreateTemp(scratch, "k3sync-known-hosts-*")
	if err != nil {
		return nil, fmt.Errorf("known hosts: %w", err)
	}
	defer func() { _ = os.Remove(f.Name()) }()
	_, werr := f.Write(content)
	if err := errors.Join(werr, f.Close()); err != nil {
		return nil, fmt.Errorf("known hosts: %w", err)
	}
	db, err := knownhosts.NewDB(f.Name())
	if err != nil {
		return nil, fmt.Errorf("known hosts: %w", err)
	}
	return db, nil
}

// secretsOf returns the non-empty values, also in their URL-escaped forms.
func secretsOf(values ...string) []string {
	var out []string
	for _, v := range values {
		if v == "" {
			continue
		}
		out = append(out, v)
		for _, e := range []string{url.QueryEscape(v), url.PathEscape(v), url.UserPassword("", v).String()[1:]} {
			if e != v && e != "" {
				out = append(out, e)
			}
		}
	}
	return out
}

// userinfo matches the credentials part of any URL in a message.
var userinfo = regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.-]*://)[^/?#\s@]*@`)

// redacted is the placeholder for removed secrets.
const redacted = "[REDACTED]"

// redact removes URL credentials and the secrets from s.
func (r *remote) redact(s string) string {
	s = userinfo.ReplaceAllString(s, "$1")
	for _, sec := range r.secrets {
		s = strings.ReplaceAll(s, sec, redacted)
	}
	return s
}

// redactURL prints ep without credentials.
func redactURL(ep *transport.Endpoint) string {
	c := *ep
	c.User, c.Password = "", ""
	return c.String()
}

// redactedError carries a redacted message. Unwrap returns go-git's error,
// for errors.Is: go-git never sees credentials in URLs, and sends the
// others without printing them.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// redactErr wraps err with a redacted message.
func (r *remote) redactErr(err error) error {
	if err == nil {
		return nil
	}
	return &redactedError{msg: r.redact(err.Error()), err: err}
}
