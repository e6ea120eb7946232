package gitserver

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"net"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// SSH is a Git server over SSH: each session runs git-upload-pack on a
// bare repository under Root. Only public-key auth with one of the
// authorized keys is accepted; pushes are refused.
type SSH struct {
	// Addr is host:port.
	Addr string
	// Root holds the bare repositories served.
	Root string
	// HostKey is the server's public host key.
	HostKey ssh.PublicKey

	ctx context.Context
	ln  net.Listener
	wg  sync.WaitGroup
}

// NewSSH starts a server on 127.0.0.1 that accepts the authorized keys;
// it stops when the test ends.
func NewSSH(t testing.TB, root string, authorized ...ssh.PublicKey) *SSH {
	t.Helper()
	RequireGit(t)
	hostSigner, hostKey := NewKey(t)
	cfg := &ssh.ServerConfig{
		PublicKeyCallback: func(_ ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			for _, a := range authorized {
				if bytes.Equal(a.Marshal(), key.Marshal()) {
					return nil, nil
				}
			}
			return nil, errors.New("unauthorized key")
		},
	}
	cfg.AddHostKey(hostSigner)
	s := &SSH{Root: root, HostKey: hostKey}
	// Sessions end with the test: t.Context is canceled before cleanups.
	s.ctx = t.Context()
	ln, err := new(net.ListenConfig).Listen(s.ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.Addr, s.ln = ln.Addr().String(), ln
	s.wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Go(func() { s.serve(conn, cfg) })
		}
	})
	t.Cleanup(func() {
		_ = ln.Close()
		s.wg.Wait()
	})
	return s
}

// RepoURL is the ssh:// URL of the repository name, as user git.
func (s *SSH) RepoURL(name string) string {
	return "ssh://git@" + s.Addr + "/" + strings.TrimPrefix(name, "/")
}

// KnownHosts is a known_hosts file naming the server's host key.
func (s *SSH) KnownHosts() []byte {
	return []byte(knownhosts.Line([]string{knownhosts.Normalize(s.Addr)}, s.HostKey) + "\n")
}

// NewKey returns a fresh ed25519 key pair.
func NewKey(t testing.TB) (ssh.Signer, ssh.PublicKey) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return signer, signer.PublicKey()
}

// NewClientKey returns a fresh ed25519 private key in OpenSSH PEM form,
// encrypted when passphrase is not empty, and its public key.
func NewClientKey(t testing.TB, passphrase string) ([]byte, ssh.PublicKey) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var block *pem.Block
	if passphrase == "" {
		block, err = ssh.MarshalPrivateKey(priv, "")
	} else {
		block, err = ssh.MarshalPrivateKeyWithPassphrase(priv, "", []byte(passphrase))
	}
	if err != nil {
		t.Fatal(err)
	}
	pub, err := ssh.NewPublicKey(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(block), pub
}

func (s *SSH) serve(conn net.Conn, cfg *ssh.ServerConfig) {
	defer func() { _ = conn.Close() }()
	sc, chans, reqs, err := ssh.NewServerConn(conn, cfg)
	if err != nil {
		return
	}
	defer func() { _ = sc.Close() }()
	go ssh.DiscardRequests(reqs)
	for nc := range chans {
		if nc.ChannelType() != "session" {
			_ = nc.Reject(ssh.UnknownChannelType, "only sessions")
			continue
		}
		ch, chReqs, err := nc.Accept()
		if err != nil {
			return
		}
		s.wg.Go(func() { s.session(ch, chReqs) })
	}
}

// session runs the one command of an exec request: git-upload-pack.
func (s *SSH) session(ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer func() { _ = ch.Close() }()
	for req := range reqs {
		switch req.Type {
		case "env":
			_ = req.Reply(true, nil)
		case "exec":
			var payload struct{ Command string }
			if err := ssh.Unmarshal(req.Payload, &payload); err != nil {
				_ = req.Reply(false, nil)
				return
			}
			repo, ok := s.uploadPackRepo(payload.Command)
			if !ok {
				_ = req.Reply(false, nil)
				return
			}
			_ = req.Reply(true, nil)
			cmd := exec.CommandContext(s.ctx, "git", "upload-pack", "--strict", repo)
			cmd.Env = gitEnv(s.Root)
			// Stdin is the channel: do not wait forever for a client that
			// keeps it open after upload-pack exited.
			cmd.WaitDelay = 5 * time.Second
			cmd.Stdin, cmd.Stdout, cmd.Stderr = ch, ch, ch.Stderr()
			code := uint32(0)
			if err := cmd.Run(); err != nil {
				code = 1
				var exit *exec.ExitError
				if errors.As(err, &exit) {
					code = uint32(exit.ExitCode())
				}
			}
			status := make([]byte, 4)
			binary.BigEndian.PutUint32(status, code)
			_, _ = ch.SendRequest("exit-status", false, status)
			return
		default:
			_ = req.Reply(false, nil)
		}
	}
}

// uploadPackRepo parses "git-upload-pack '/name.git'" into the repository
// folder under Root.
func (s *SSH) uploadPackRepo(command string) (string, bool) {
	prog, arg, ok := strings.Cut(command, " ")
	if !ok || prog != "git-upload-pack" {
		return "", false
	}
	arg = strings.Trim(arg, "'\"")
	return filepath.Join(s.Root, filepath.FromSlash(path.Clean("/"+arg))), true
}
