// Package gitea starts real, throw-away Gitea servers for tests.
//
// k3sync posts plans on pull requests: a sticky comment, edited in place on
// every new plan, and a commit status on the head commit, and it replans
// when a webhook announces a push to the pull request's branch. Its tests
// prove that against a real Gitea, not against a fake of the REST API. Each
// [Server] is a separate `gitea web` process built by `make gitea-bin`.
//
// # Binaries
//
// hack/gitea/gitea.mk compiles Gitea from source (cgo, for SQLite) into
// bin/gitea-<version>/ at the repository root, next to the templates/,
// options/ and public/ directories Gitea reads at run time (the directory
// is its STATIC_ROOT_PATH). [Version] is the release the tests expect.
// Start looks for the binary in [Options.BinDir], then in the directory
// named by the GITEA_BIN_DIR environment variable (exported by make), then
// in <repo root>/bin/gitea-[Version], where the repository root is found by
// walking up from the working directory to k3sync's go.mod. When it is
// missing Start fails with
//
//	gitea not found in <dir>: run 'make gitea-bin'
//
// Tests must let that fail the test (as [StartT] does): a skipped test would
// silently stop covering the code.
//
// # One server
//
// Every server is fully independent: its own temporary directory (app.ini,
// the SQLite database and the repositories under data/, its log in
// gitea.log) and its own HTTP port, picked at random on 127.0.0.1. It
// runs with the settings of a small production instance, minus everything
// a test does not need and everything that would reach the network: no
// SSH, LFS, Actions, packages, mail, update checker or avatars
// (OFFLINE_MODE), in-memory queues, sessions and cache, registration
// disabled. Webhooks may be delivered to loopback addresses only, which is
// where httptest servers listen. [Options.Settings] changes any app.ini key.
//
// Each server has a site administrator, [AdminUser], with a password and an
// access token with every scope ([Server.AdminToken]), created by the
// gitea CLI once the server is up. When the tests run as root, app.ini
// carries I_AM_BEING_UNSAFE_RUNNING_AS_ROOT = true, without which Gitea
// refuses to start.
//
// # Lifecycle
//
// [Start] returns once GET /api/healthz passes and the administrator exists
// (1 to 2 s on 2 cores, most of it creating the database). Readiness is a
// bounded poll ([Options.StartTimeout]); if gitea exits first, or logs that
// it cannot listen (it then hangs instead of exiting), Start fails with the
// tail of its log. A port taken between being picked and being bound is
// retried with a fresh one. The context passed to Start bounds
// only the start-up: the server lives until [Server.Stop], which kills its
// process group (git processes included) and removes the directory. On
// Linux gitea is also killed when the process that started it dies, so a
// test binary killed by a timeout leaves no stray server behind.
//
// Gitea does part of its work asynchronously, in queues: after a push,
// pull request heads, refs/pull/<n>/head and webhook deliveries follow
// within moments, not by the time the push returns. Poll for them.
//
// # Tests
//
// [StartT] starts a server and stops it in t.Cleanup:
//
//	s := gitea.StartT(t)
//	repo, err := s.CreateRepo(ctx, "platform")
//	sha, err := s.CommitFiles(ctx, repo.FullName, gitea.Commit{NewBranch: "plan-1", Files: files})
//	pr, err := s.CreatePullRequest(ctx, repo.FullName, "plan-1", "main", "title")
//
// The helpers cover setting the scene and reading the outcome through the
// REST API: repositories, commits ([Server.CommitFiles], or git itself on
// [Server.GitURL]), pull requests, webhooks, commit statuses and comments.
// What the code under test does itself (posting a status, editing a
// comment) the tests do with [Server.API], the way a client would. Every
// repository argument is "owner/name".
package gitea
