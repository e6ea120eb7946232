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
//	GET  /login/sso                 sign in with SSO (OpenID Connect), when configured; the
//	                                provider sends the browser back to the redirect URL's path
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
// Streams share: each page (with the path values and query parameters its
// data depends on, and the session's role) has one feed, whose one loader
// asks the backend every poll interval however many streams watch it, and
// which stops when its last stream goes (feeds.go). So a stream sends at
// most one version per interval. Open streams are bounded per session
// (16) and in total (256, WithStreamLimits); one over a limit is answered
// 429 with Retry-After (30s, WithStreamRetryAfter). The page carries the
// same delay (data-retry): its script refreshes the live region once and
// opens the stream again after that delay, doubled on each further
// refusal up to 5 minutes and back to the start once a stream opens, so a
// tab refused while others were open follows again once they close. A
// stream stops when the browser
// leaves, when its session ends (event "logout"; the page goes to the
// login form) and when the server shuts down: `k3sync serve` lets
// requests finish during shutdown, which a stream never would, so the
// dashboard registers a shutdown hook on the request's http.Server that
// ends its streams.
//
// # Sessions and CSRF
//
// The login form takes an API token and checks it with the Authenticator,
// the API's own token set (server.ReadTokens); the token is not kept.
// With WithSSO it also offers "Sign in with SSO" (sso.go): the
// authorization code flow with PKCE (S256), state and nonce, which travel
// in a sealed, HttpOnly, SameSite=Lax cookie for 10 minutes (the
// provider's redirect back is cross-site); the ID token is verified
// (signature, issuer, audience, expiry) with go-oidc and its nonce
// matched; the groups claim (the ID token's, else UserInfo's) maps to
// operator or viewer, and a user in no mapped group gets a 403 page and
// no session. Neither the ID token nor the access token is kept.
// WithoutTokenLogin leaves SSO alone on the form.
//
// A session is its cookie: name, role, subject (SSO), a CSRF token, a
// random ID and the expiry (8h by default), sealed with AES-256-GCM
// (cookie.go) under a key derived with HKDF-SHA256 from the configured
// session keys: the first seals, all open, so keys rotate. Any replica
// with the keys, and the same one after a restart, knows the session;
// without keys a random one is made at start. The cookie is a
// browser-session cookie, HttpOnly, SameSite=Strict, and Secure over TLS
// (or with an https redirect URL, or when a proxy says the request came
// over HTTPS: X-Forwarded-Proto or Forwarded). A new login gets a new ID. Signing out
// clears the cookie, and this process refuses that session's ID until it
// expires; another replica, or this one after a restart, would still
// accept a copy of the cookie until its expiry: keep the TTL short. After
// an SSO sign-in a small page continues to where the user was going (a
// redirect chain that began at the provider would not carry a Strict
// cookie).
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
