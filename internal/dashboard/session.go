package dashboard

import (
	"crypto/rand"
	"crypto/subtle"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// cookieName holds the session, sealed (cookie.go): who, role, CSRF
// token, expiry. Never a token, an ID token or any other secret.
const cookieName = "k3sync_session"

// session is one login: who (the token's name and role, or the SSO
// user's), the CSRF token its forms carry, and when it ends. It does not
// change once made. All of it travels in the sealed cookie, so any
// replica with the session keys, and the same one after a restart, knows
// it.
type session struct {
	Name string `json:"n"`
	Role string `json:"r"`
	CSRF string `json:"c"`
	// Subject is the provider's subject ("sub") of an SSO login; empty
	// for an API token login.
	Subject string `json:"s,omitempty"`
	// ID names the session for sign-out; random.
	ID string `json:"i"`

	expires time.Time
}

// Operator reports whether the session may sync, suspend and resume.
func (s *session) Operator() bool { return s != nil && s.Role == "operator" }

// SSO reports whether the session came from the identity provider.
func (s *session) SSO() bool { return s != nil && s.Subject != "" }

// sessions seals sessions into cookies and opens them. Sign-outs are
// remembered by this process until the session would have expired: a
// copy of a signed-out cookie is refused here, though not by another
// replica or after a restart (hence the short TTL).
type sessions struct {
	codec *cookieCodec

	mu      sync.Mutex
	revoked map[string]time.Time // session ID → its expiry
}

// maxRevoked bounds the sign-outs remembered; past it a sign-out only
// clears the cookie.
const maxRevoked = 100_000

func newSessions(codec *cookieCodec) *sessions {
	return &sessions{codec: codec, revoked: map[string]time.Time{}}
}

// create starts a session and returns its cookie value.
func (ss *sessions) create(name, role, subject string, now time.Time, ttl time.Duration) (string, *session, error) {
	s := &session{Name: name, Role: role, Subject: subject, CSRF: rand.Text(), ID: rand.Text(), expires: now.Add(ttl)}
	v, err := ss.codec.seal(cookieName, s, s.expires)
	if err != nil {
		return "", nil, err
	}
	return v, s, nil
}

// get returns the live session of a cookie's value.
func (ss *sessions) get(value string, now time.Time) (*session, bool) {
	if value == "" {
		return nil, false
	}
	s := &session{}
	exp, err := ss.codec.open(cookieName, value, now, s)
	if err != nil || s.ID == "" || s.CSRF == "" {
		return nil, false
	}
	s.expires = exp
	if s.Role != "viewer" && s.Role != "operator" {
		return nil, false
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if _, gone := ss.revoked[s.ID]; gone {
		return nil, false
	}
	return s, true
}

// alive reports whether s is still signed in: an event stream stops when
// its session is signed out or expires.
func (ss *sessions) alive(s *session, now time.Time) bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	_, gone := ss.revoked[s.ID]
	return !gone && now.Before(s.expires)
}

// delete signs s out in this process; expired entries are dropped on
// the way.
func (ss *sessions) delete(s *session, now time.Time) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	for id, exp := range ss.revoked {
		if !now.Before(exp) {
			delete(ss.revoked, id)
		}
	}
	if len(ss.revoked) < maxRevoked {
		ss.revoked[s.ID] = s.expires
	}
}

// sessionOf returns the request's session, or nil.
func (h *handler) sessionOf(r *http.Request) *session {
	c, err := r.Cookie(cookieName)
	if err != nil {
		return nil
	}
	s, ok := h.sessions.get(c.Value, h.now())
	if !ok {
		return nil
	}
	return s
}

// validCSRF compares a form's CSRF token with the session's.
func validCSRF(s *session, presented string) bool {
	return presented != "" && subtle.ConstantTimeCompare([]byte(presented), []byte(s.CSRF)) == 1
}

// loginURL sends the browser back to where it was after signing in.
func loginURL(r *http.Request) string {
	next := r.URL.Path
	if r.URL.RawQuery != "" {
		next += "?" + r.URL.RawQuery
	}
	if next == "/" {
		return "/login"
	}
	return "/login?next=" + url.QueryEscape(next)
}

// localPath keeps next a path on this site: no scheme, no host, no
// protocol-relative "//host" (an open redirect otherwise).
func localPath(next string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return "/"
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" {
		return "/"
	}
	return next
}

type loginData struct {
	Next  string
	Error string
	// SSO offers "Sign in with SSO"; TokenLogin the API token form.
	SSO        bool
	TokenLogin bool
}

func (h *handler) loginData(next, msg string) loginData {
	return loginData{Next: next, Error: msg, SSO: h.sso != nil, TokenLogin: !h.noTokenLogin}
}

func (h *handler) loginForm(w http.ResponseWriter, r *http.Request) {
	next := localPath(r.URL.Query().Get("next"))
	if h.sessionOf(r) != nil {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	h.render(w, r, http.StatusOK, "login", "login", &page{Title: "Sign in", Now: h.now(), Data: h.loginData(next, "")})
}

// login checks the token against the API's and starts a session. The
// token is never echoed, logged or kept: the session holds its name and
// role.
func (h *handler) login(w http.ResponseWriter, r *http.Request) {
	if h.noTokenLogin {
		h.renderError(w, r, nil, http.StatusForbidden, "Signing in with an API token is disabled here: use Sign in with SSO.")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBody)
	if err := r.ParseForm(); err != nil {
		h.renderError(w, r, nil, http.StatusBadRequest, "Could not read the form.")
		return
	}
	next := localPath(r.PostFormValue("next"))
	name, role, ok := h.auth.Authenticate(strings.TrimSpace(r.PostFormValue("token")))
	if !ok {
		h.log.WarnContext(r.Context(), "dashboard login refused", "remote", r.RemoteAddr)
		h.render(w, r, http.StatusUnauthorized, "login", "login", &page{Title: "Sign in", Now: h.now(), Data: h.loginData(
			next, "That token is not valid. Use an API token from the server's configuration.",
		)})
		return
	}
	if !h.startSession(w, r, name, role, "") {
		return
	}
	h.log.InfoContext(r.Context(), "dashboard login", "token", name, "role", role, "remote", r.RemoteAddr)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// startSession sets the cookie of a new session; a session the request
// had is signed out (a new ID on every login: no session fixation).
func (h *handler) startSession(w http.ResponseWriter, r *http.Request, name, role, subject string) bool {
	if old := h.sessionOf(r); old != nil {
		h.sessions.delete(old, h.now())
	}
	v, _, err := h.sessions.create(name, role, subject, h.now(), h.ttl)
	if err != nil {
		h.log.ErrorContext(r.Context(), "dashboard session", "error", err)
		h.renderError(w, r, nil, http.StatusInternalServerError, "Could not start a session.")
		return false
	}
	http.SetCookie(w, &http.Cookie{
		Name: cookieName, Value: v, Path: "/",
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: h.secure(r),
	})
	return true
}

func (h *handler) logout(w http.ResponseWriter, r *http.Request) {
	s := h.sessionOf(r)
	if s == nil {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBody)
	if err := r.ParseForm(); err != nil || !validCSRF(s, r.PostFormValue("csrf")) {
		h.renderError(w, r, s, http.StatusForbidden, "This form has expired or did not come from this dashboard: reload the page and try again.")
		return
	}
	h.sessions.delete(s, h.now())
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: h.secure(r)})
	h.log.InfoContext(r.Context(), "dashboard logout", "user", s.Name, "sso", s.SSO())
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// roleTooLow says why a viewer may not press a button.
func (h *handler) roleTooLow(s *session) string {
	if s.SSO() {
		return "You (" + s.Name + ") have role " + s.Role + ": syncing, suspending and resuming need a group with the operator role."
	}
	return "Token " + s.Name + " has role " + s.Role + ": syncing, suspending and resuming need an operator token."
}

// action guards a button: a session (else back to the login form), the
// session's CSRF token in the form, and the operator role.
func (h *handler) action(next func(http.ResponseWriter, *http.Request, *session)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := h.sessionOf(r)
		if s == nil {
			http.Redirect(w, r, "/login", http.StatusSeeOther)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBody)
		if err := r.ParseForm(); err != nil || !validCSRF(s, r.PostFormValue("csrf")) {
			h.log.WarnContext(r.Context(), "dashboard form refused: CSRF token missing or wrong", "token", s.Name, "path", r.URL.Path)
			h.renderError(w, r, s, http.StatusForbidden, "This form has expired or did not come from this dashboard: reload the page and try again.")
			return
		}
		if !s.Operator() {
			h.log.WarnContext(r.Context(), "dashboard action refused: role too low", "token", s.Name, "role", s.Role, "path", r.URL.Path)
			h.renderError(w, r, s, http.StatusForbidden, h.roleTooLow(s))
			return
		}
		next(w, r, s)
	})
}
