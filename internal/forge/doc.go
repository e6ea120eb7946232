// Package forge talks to the forge that hosts the platform repo, GitHub or
// Gitea, for pull request feedback: it lists open pull requests, sets
// commit statuses and keeps one comment per pull request up to date.
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
//
// # Secrets
//
// Tokens come from config.Secret and are only ever sent in the
// Authorization header: errors name the method and path, never the
// token. Callers keep secrets out of what they post.
package forge
