// Package server is the HTTP side of `k3sync serve`: a JSON API over the
// reconciler, Git webhooks, health and readiness probes and the Prometheus
// scrape endpoint. Client is the Go client of the API, used by
// `k3sync sync` and `k3sync plan --server`.
//
// # Endpoints
//
//	GET  /healthz                              no auth   200 "ok" while the process serves
//	GET  /readyz                               no auth   200 once ready, else 503 {"error": why}
//	GET  /metrics                              no auth*  Prometheus exposition (WithMetrics)
//	GET  /api/v1/overview                      viewer    view.Overview
//	GET  /api/v1/tenants                       viewer    []view.TenantSummary
//	GET  /api/v1/tenants/{tenant}              viewer    view.Tenant
//	GET  /api/v1/tenants/{tenant}/plan         viewer    ?format=json|text|markdown
//	GET  /api/v1/plan?tenant=T                 viewer    every tenant's (or T's) current plan as one, ?format= as above; 503 before the first sync, 400 for more names than tenants
//	GET  /api/v1/drift                         viewer    []state.Drift
//	GET  /api/v1/history?tenant=T&limit=N      viewer    []state.Run, newest first (limit 20, at most 1000)
//	GET  /api/v1/syncs/{id}                    viewer    view.Sync
//	POST /api/v1/sync                          operator  202 view.Sync, Location /api/v1/syncs/{id}
//	POST /api/v1/tenants/{tenant}/sync         operator  202 view.Sync, Location /api/v1/syncs/{id}
//	POST /api/v1/tenants/{tenant}/suspend      operator  204
//	POST /api/v1/tenants/{tenant}/resume       operator  204
//	GET  /debug/pprof/...                      operator  Go runtime profiles, only with server.pprof
//	POST /hooks/github                         HMAC      X-Hub-Signature-256
//	POST /hooks/gitea                          HMAC      X-Gitea-Signature
//	POST /hooks/gitlab                         token     X-Gitlab-Token
//
// The sync endpoints take an optional JSON body, a view.TriggerRequest:
// {"allowMassDeletion": true} lifts the delete cap for that sync. The
// requester recorded with the sync is always the token's name, never the
// body's. Errors are {"error": "..."} with the matching status code:
// 400 bad request (unknown body fields included: a misspelt
// "allowMassDeletion" must not pass silently), 401 no or unknown token,
// 403 role too low, 404 unknown tenant, sync or endpoint, 405 wrong
// method, 413 body too large, 500 backend failure, 503 no plan yet. The text and Markdown
// plans are text/plain and text/markdown.
//
// *The scrape endpoint is open by default, as Prometheus scrapes
// usually are on a cluster-internal port; it shows tenant names, results
// and revisions, never a secret or a plan. WithAuthenticatedMetrics makes
// it take any API token (viewer or operator).
//
// # Authentication
//
// Every /api request carries "Authorization: Bearer TOKEN". The tokens are
// config.Server.Tokens, read once by New from their tokenFile or tokenEnv;
// a restart picks up rotated tokens. A presented token is compared by its
// SHA-256 sum with crypto/subtle against every configured token, so
// neither its length nor the position of the first wrong byte shows in the
// timing. With no token configured every /api request is refused. Tokens
// are never logged; the access log names the token (config name).
//
// Roles: a viewer reads; an operator also triggers syncs and suspends or
// resumes tenants.
//
// # Webhooks
//
// GitHub and Gitea push and pull request webhooks are verified with their
// HMAC-SHA256 signature over the raw body before anything is parsed:
// a missing or wrong signature is 401. A forge whose secret is not in the
// config has its endpoint disabled (404). A push to refs/heads/BRANCH calls
// Hooks.Push(BRANCH); a pull request calls Hooks.PullRequest with its
// number, action and head commit; GitHub's ping is answered 200 and other
// events are acknowledged and ignored, so the forge does not mark the
// deliveries failed. Hooks run within the request and should hand the work
// off (the reconciler queues a poll) rather than do it.
//
// GitLab signs nothing: its webhooks carry the shared secret itself in
// X-Gitlab-Token, compared in constant time before any of the body is
// read. Push Hook and Merge Request Hook (open, update, reopen) are
// handled as GitHub's push and pull request events.
//
// # Secrets in responses
//
// Plans, drift reports and runs carry field values; a field marked
// Sensitive is replaced by plan.Redacted in every response, JSON, text or
// Markdown, as plan's renderers do.
//
// # Limits and logs
//
// Request bodies are limited to 1 MiB on /api and 5 MiB on /hooks (a
// push of many commits is larger than any API request; a webhook refused
// for size still leaves the poll to notice the commit). Each request gets
// an ID, taken from a well-formed X-Request-Id header or generated, echoed
// in the response and logged with method, path, status, duration and the
// token's name in one log/slog line; probes and scrapes are logged at
// debug level.
package server
