package dashboard

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// cookieName holds the session ID, never the token.
const cookieName = "k3sync_session"

// session is one login: who (the token's name and role), the CSRF token
// its forms carry, and when it ends. It does not change once made.
type session struct {
	Name string
	Role string
	CSRF string

	key     string
	expires time.Time
}

// Operator reports whether the session may sync, suspend and resume.
func (s *session) Operator() bool { return s != nil && s.Role == "operator" }

// sessions maps session IDs, by their SHA-256 sum, to sessions. They live
// in memory: a restart signs everybody out.
type sessions struct {
	mu   sync.Mutex
	byID map[string]*session
}

func newSessions() *sessions { return &sessions{byID: map[string]*session{}} }

func sessionKey(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:])
}

// create starts a session and returns the ID for the cookie. Expired
// sessions are dropped on the way.
func (ss *sessions) create(name, role string, now time.Time, ttl time.Duration) (string, *session) {
	id := rand.Text()
	s := &session{Name: name, Role: role, CSRF: rand.Text(), key: sessionKey(id), expires: now.Add(ttl)}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	for k, old := range ss.byID {
		if !now.Before(old.expires) {
			delete(ss.byID, k)
		}
	}
	ss.byID[s.key] = s
	return id, s
}

// get returns the live session of a cookie's ID.
func (ss *sessions) get(id string, now time.Time) (*session, bool) {
	if id == "" {
		return nil, false
	}
	key := sessionKey(id)
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s, ok := ss.byID[key]
	if !ok {
		return nil, false
	}
	if !now.Before(s.expires) {
		delete(ss.byID, key)
		return nil, false
	}
	return s, true
}

// alive reports whether s is still signed in: an event stream stops when
// its session is signed out or expires.
func (ss *sessions) alive(s *session, now time.Time) bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return ss.byID[s.key] == s && now.Before(s.expires)
}

func (ss *sessions) delete(s *session) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	delete(ss.byID, s.key)
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
}

func (h *handler) loginForm(w http.ResponseWriter, r *http.Request) {
	next := localPath(r.URL.Query().Get("next"))
	if h.sessionOf(r) != nil {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	h.render(w, r, http.StatusOK, "login", "login", &page{Title: "Sign in", Now: h.now(), Data: loginData{Next: next}})
}

// login checks the token against the API's and starts a session. The
// token is never echoed, logged or kept: the session holds its name and
// role.
func (h *handler) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBody)
	if err := r.ParseForm(); err != nil {
		h.renderError(w, r, nil, http.StatusBadRequest, "Could not read the form.")
		return
	}
	next := localPath(r.PostFormValue("next"))
	name, role, ok := h.auth.Authenticate(strings.TrimSpace(r.PostFormValue("token")))
	if !ok {
		h.log.WarnContext(r.Context(), "dashboard login refused", "remote", r.RemoteAddr)
		h.render(w, r, http.StatusUnauthorized, "login", "login", &page{Title: "Sign in", Now: h.now(), Data: loginData{
			Next: next, Error: "That token is not valid. Use an API token from the server's configuration.",
		}})
		return
	}
	if old := h.sessionOf(r); old != nil {
		h.sessions.delete(old) // a new ID on every login: no session fixation
	}
	id, _ := h.sessions.create(name, role, h.now(), h.ttl)
	http.SetCookie(w, &http.Cookie{
		Name: cookieName, Value: id, Path: "/",
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil,
	})
	h.log.InfoContext(r.Context(), "dashboard login", "token", name, "role", role, "remote", r.RemoteAddr)
	http.Redirect(w, r, next, http.StatusSeeOther)
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
	h.sessions.delete(s)
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
	h.log.InfoContext(r.Context(), "dashboard logout", "token", s.Name)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
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
			h.renderError(w, r, s, http.StatusForbidden, "Token "+s.Name+" has role "+s.Role+": syncing, suspending and resuming need an operator token.")
			return
		}
		next(w, r, s)
	})
}
