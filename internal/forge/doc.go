// Package forge talks to the forge that hosts the platform repo, GitHub,
// Gitea or GitLab, for pull request feedback: it lists open pull requests
// (GitLab's merge requests), sets commit statuses and keeps one comment
// per pull request up to date.
//
// # Model
//
// A [PullRequest] is what the review loop needs to plan one: its number,
// head commit and branches, and where the forge says so, the merge base.
// A [Status] is a commit status under a context such as "k3sync/plan";
// forges keep the latest per context and commit, so setting one replaces
// the previous. Its description is cut to 140 characters, GitHub's limit.
//
// # Sticky comments
//
// [Forge.UpsertComment] keeps a single comment per pull request and
// marker: it lists the pull request's comments, takes the first that
// contains the marker (an HTML comment, invisible once rendered) and was
// written by the token's own user, and edits it; only when there is none
// does it create one. A marker pasted by someone else is never edited. An
// unchanged body is not written again. The token's user is asked for once
// and remembered. A GitHub App's installation token may not ask (403);
// its comments are then those written by a Bot.
//
// # Implementations
//
// [GitHub] uses go-github against api.github.com or a GitHub Enterprise
// API base. GitHub's pull request list has no merge base, so it also
// offers [GitHub.MergeBase] (the compare API) for callers that want one.
// [Gitea] speaks Gitea's REST API (v1) with net/http: the Gitea SDK binds a
// context to the client rather than to each call, and brings HTTP
// signature and SSH agent packages k3sync has no use for. Gitea's list
// carries the merge base.
// [GitLab] uses GitLab's own Go client against gitlab.com or a
// self-managed root (API under /api/v4). A project is named by its full
// path, nested groups included (group/subgroup/name), sent escaped as one
// path segment. A merge request's number is its iid; its head is at
// refs/merge-requests/<iid>/head, forks included ([PullRef]). GitLab names
// failure and error "failed", and takes the status context as its name.
// Notes are matched to the token's user by ID, system notes never. The
// client retries only what cannot be applied twice: never a POST that met
// a 5xx.
//
// # Rate limits
//
// A forge that answers "slow down" (429 with Retry-After, or GitLab's
// RateLimit-Reset; GitHub's 403 or 429 with Retry-After, or with
// X-RateLimit-Remaining: 0 and X-RateLimit-Reset) gets a
// [RateLimitError] carrying the wait, and until the wait elapsed every
// call to that forge fails with one at once, without being sent: the
// hold sits in the client's transport, under the client libraries' own
// retries and under every caller. The wait is clamped to one second at
// least and [MaxRetryAfter] (15 minutes) at most; a header that does not
// parse waits [DefaultRetryAfter]. A 403 without those headers is a
// permission error, not a rate limit. go-github's own rate limit check is
// off (it trusts the reset header however far), and the GitLab client
// does not back off in-call on a 429: its retry meets the hold.
//
// # Secrets
//
// Tokens come from config.Secret and are only ever sent in the
// Authorization header (GitLab's PRIVATE-TOKEN): errors name the method
// and path, never the token. Callers keep secrets out of what they post.
package forge
