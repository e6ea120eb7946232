// Package dashboard is the web UI of `k3sync serve`: server-rendered HTML
// over the reconciler, mounted at "/" next to the API. Templates, CSS and
// a small script are embedded; nothing comes from a CDN, and every page
// works without JavaScript.
//
// # Pages
//
//	GET  /                          overview: tenant × system target grid, counts per state,
//	                                Git head, validation and fetch errors, recent syncs;
//	                                ?q=NAME&system=kafka&state=drifted filter it (plain GET form)
//	GET  /tenants/{tenant}          the tenant: systems, current plan (plan.WriteText, and the
//	                                Markdown of pull request comments), drift report field by
//	                                field with the field manager that changed it, sync history
//	                                with per-change errors; Sync now and Suspend/Resume buttons
//	                                for operators
//	GET  /drift                     every drifted resource, oldest first, linking to its tenant
//	GET  /login, POST /login        sign in with an API token; POST /logout signs out
//	POST /tenants/{tenant}/sync     operator: queue a sync (Who is the token's name), then show
//	                                the tenant page following that sync (?sync=ID)
//	POST /tenants/{tenant}/suspend  operator; .../resume resumes
//	GET  /fragments/...             a page's live region alone (overview, tenants/{t}, drift)
//	GET  /events/...                a page's event stream
//	GET  /static/...                CSS, script, icon (no session needed; URLs carry a hash)
//
// # Live updates
//
// Each page's live region names its fragment and its event stream. The
// stream is Server-Sent Events: it loads the page's data from the backend
// every poll interval (1s by default) and sends an event "version" when
// the data changed, and once at the start. The version is an HMAC of the
// data's JSON under a key made at start, so it tells nothing about the
// values; when Git was last checked counts to the minute only, so polls
// that find nothing new do not refresh every page. The page's script compares it with the version it shows and, if
// they differ, fetches the fragment and swaps it in, keeping open
// <details>. Relative times tick in the browser between updates. Without
// JavaScript the pages refresh every 30s (a <noscript> meta refresh).
//
// Each open page polls the backend itself: the backend's answers come from
// memory and the state file, and a handful of people watch a dashboard. A
// stream stops when the browser leaves, when its session ends (event
// "logout"; the page goes to the login form) and when the server shuts
// down: `k3sync serve` lets requests finish during shutdown, which a
// stream never would, so the dashboard registers a shutdown hook on the
// request's http.Server that ends its streams.
//
// # Sessions and CSRF
//
// The login form takes an API token and checks it with the Authenticator,
// the API's own token set (server.ReadTokens). The token is not kept: the
// session, in memory, holds the token's name and role, a CSRF token and an
// expiry (12h by default). The cookie holds a random session ID
// (crypto/rand.Text, 130 bits; the map is keyed by its SHA-256); it is a
// browser-session cookie, HttpOnly, SameSite=Strict, and Secure when the
// request came over TLS. A new login gets a new ID; a
// restart signs everybody out; replicas do not share sessions, so a load
// balancer in front of several needs sticky sessions.
//
// Every page needs a session (else a redirect to /login?next=…, a local
// path only); fragments and event streams answer 401. Buttons are POST
// forms carrying the session's CSRF token, compared in constant time: a
// missing or wrong one is 403. Cross-origin posts are refused before that
// by http.CrossOriginProtection (Sec-Fetch-Site and Origin), which also
// covers the login form, and the cookie is not sent cross-site anyway. A
// viewer sees no buttons and gets 403 if it posts. Pages carry a strict
// Content-Security-Policy (own scripts and styles only, no frames).
//
// # Secrets
//
// No token is ever rendered or logged. Field values reach a page only
// through plan.FormatValue and plan's renderers, which print
// plan.Redacted for sensitive fields.
package dashboard
