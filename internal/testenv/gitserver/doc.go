// Package gitserver runs real Git servers for tests: smart HTTP through
// git http-backend, SSH through git-upload-pack, and upstream repositories
// to push commits into.
//
// # Peers, not fakes
//
// k3sync fetches with go-git; what it talks to in production is a Git
// hosting service speaking the smart protocol. The servers here speak it
// with Git's own programs: [HTTP] runs git http-backend as a CGI program
// behind net/http/cgi on an httptest server (HTTPS with [WithTLS]); [SSH]
// accepts SSH connections with golang.org/x/crypto/ssh and runs
// git-upload-pack for each session.
// Both serve the bare repositories under one root folder, so an upstream
// made with [NewRepo] can be served by both at once.
//
// # Git is required
//
// Every constructor calls [RequireGit]. Without git (or without
// git-http-backend) the test fails with "install Debian package git":
// a skipped test would silently stop covering the code.
//
// # Upstreams
//
// [Repo] is a bare repository plus a work tree cloned from it. Commit
// commits everything in the work tree and force-pushes it, so rewriting the
// work tree's history (Git("reset", "--hard", "HEAD~1")) and committing
// again is a force-push. Commits get fixed identities and dates one minute
// apart, so revisions are deterministic.
//
// # Failure injection
//
// [HTTP.FailWith] makes every request answer a status (500, 503, ...)
// until it is called with 0. [HTTP.Requests] lists what the server was
// asked, to prove that a fetch transferred nothing (ref advertisement only,
// no git-upload-pack POST).
package gitserver
