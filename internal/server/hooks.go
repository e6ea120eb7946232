package server

import (
	"cmp"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strings"
)

// forge describes how one forge signs and names its webhook deliveries.
type forge struct {
	name string
	// signature header, and the prefix before the hex HMAC in it.
	sigHeader, sigPrefix string
	eventHeader          string
	deliveryHeader       string
}

var (
	githubForge = forge{name: "github", sigHeader: "X-Hub-Signature-256", sigPrefix: "sha256=", eventHeader: "X-GitHub-Event", deliveryHeader: "X-GitHub-Delivery"}
	giteaForge  = forge{name: "gitea", sigHeader: "X-Gitea-Signature", eventHeader: "X-Gitea-Event", deliveryHeader: "X-Gitea-Delivery"}
)

// GitLab's webhook headers: it does not sign deliveries but sends the
// secret token itself.
const (
	gitlabTokenHeader    = "X-Gitlab-Token"
	gitlabEventHeader    = "X-Gitlab-Event"
	gitlabDeliveryHeader = "X-Gitlab-Event-UUID"
)

func (s *Server) github(w http.ResponseWriter, r *http.Request) {
	s.webhook(w, r, githubForge, s.githubSecret)
}

func (s *Server) gitea(w http.ResponseWriter, r *http.Request) {
	s.webhook(w, r, giteaForge, s.giteaSecret)
}

// hookReply is the body of a webhook answer, for the forge's delivery log.
type hookReply struct {
	Status string `json:"status"`
	Event  string `json:"event"`
	Reason string `json:"reason,omitempty"`
}

// webhook verifies a delivery's signature over the raw body, then
// dispatches its event.
func (s *Server) webhook(w http.ResponseWriter, r *http.Request, f forge, secret []byte) {
	if s.hooks == nil || len(secret) == 0 {
		writeError(w, r, http.StatusNotFound, fmt.Errorf("%s webhooks are not configured", f.name))
		return
	}
	log := infoLogger(r).With("forge", f.name, "delivery", r.Header.Get(f.deliveryHeader))
	unsigned := func() {
		log.WarnContext(r.Context(), "webhook signature missing or wrong", "remote", r.RemoteAddr)
		writeError(w, r, http.StatusUnauthorized, fmt.Errorf("%s webhook: missing or wrong %s", f.name, f.sigHeader))
	}
	// A delivery without a signature is refused before its body is read.
	sig, ok := signature(r.Header.Get(f.sigHeader), f.sigPrefix)
	if !ok {
		unsigned()
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		writeError(w, r, bodyError(err), fmt.Errorf("%s webhook: read body: %w", f.name, err))
		return
	}
	if !validMAC(secret, body, sig) {
		unsigned()
		return
	}
	setWho(r.Context(), f.name+" webhook")
	event := r.Header.Get(f.eventHeader)
	if event == "" {
		writeError(w, r, http.StatusBadRequest, fmt.Errorf("%s webhook: no %s header", f.name, f.eventHeader))
		return
	}
	payload, err := hookPayload(r.Header.Get("Content-Type"), body)
	if err != nil {
		writeError(w, r, http.StatusBadRequest, fmt.Errorf("%s webhook %s: %w", f.name, event, err))
		return
	}
	reply, err := s.dispatch(r, event, payload)
	answerHook(w, r, log, f.name, event, reply, err)
}

// answerHook answers a verified delivery: 400 when its payload could not
// be read, 202 when accepted, else 200 with why it was ignored.
func answerHook(w http.ResponseWriter, r *http.Request, log *slog.Logger, forgeName, event string, reply hookReply, err error) {
	if err != nil {
		writeError(w, r, http.StatusBadRequest, fmt.Errorf("%s webhook %s: %w", forgeName, event, err))
		return
	}
	log.InfoContext(r.Context(), "webhook received", "event", event, "status", reply.Status, "reason", reply.Reason)
	code := http.StatusOK
	if reply.Status == "accepted" {
		code = http.StatusAccepted
	}
	writeJSON(w, r, code, reply)
}

// gitlab takes GitLab's push and merge request webhooks. GitLab sends the
// secret token as is in X-Gitlab-Token: it is checked, in constant time,
// before the body is read, so a caller without it gets 401 having sent
// headers only.
func (s *Server) gitlab(w http.ResponseWriter, r *http.Request) {
	const name = "gitlab"
	if s.hooks == nil || len(s.gitlabSecret) == 0 {
		writeError(w, r, http.StatusNotFound, fmt.Errorf("%s webhooks are not configured", name))
		return
	}
	log := infoLogger(r).With("forge", name, "delivery", r.Header.Get(gitlabDeliveryHeader))
	if !validToken(s.gitlabSecret, r.Header.Get(gitlabTokenHeader)) {
		log.WarnContext(r.Context(), "webhook token missing or wrong", "remote", r.RemoteAddr)
		writeError(w, r, http.StatusUnauthorized, fmt.Errorf("%s webhook: missing or wrong %s", name, gitlabTokenHeader))
		return
	}
	setWho(r.Context(), name+" webhook")
	body, err := io.ReadAll(r.Body)
	if err != nil {
		writeError(w, r, bodyError(err), fmt.Errorf("%s webhook: read body: %w", name, err))
		return
	}
	event := r.Header.Get(gitlabEventHeader)
	if event == "" {
		writeError(w, r, http.StatusBadRequest, fmt.Errorf("%s webhook: no %s header", name, gitlabEventHeader))
		return
	}
	reply, err := s.dispatchGitLab(r, event, body)
	answerHook(w, r, log, name, event, reply, err)
}

// validToken reports whether got is the secret, in constant time: both
// are hashed first, so that not even the secret's length shows.
func validToken(secret []byte, got string) bool {
	if got == "" {
		return false
	}
	want, have := sha256.Sum256(secret), sha256.Sum256([]byte(got))
	return subtle.ConstantTimeCompare(want[:], have[:]) == 1
}

// validMAC reports whether sig is the HMAC-SHA256 of body, in constant
// time.
func validMAC(secret, body, sig []byte) bool {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return hmac.Equal(sig, mac.Sum(nil))
}

// signature decodes a signature header: prefix and the hex of an
// HMAC-SHA256.
func signature(header, prefix string) ([]byte, bool) {
	h, ok := strings.CutPrefix(header, prefix)
	if !ok {
		return nil, false
	}
	sig, err := hex.DecodeString(h)
	return sig, err == nil && len(sig) == sha256.Size
}

// hookPayload is the JSON of a delivery: the body, or its payload field
// when GitHub is set to send forms.
func hookPayload(contentType string, body []byte) ([]byte, error) {
	mt, _, _ := mime.ParseMediaType(contentType)
	if mt != "application/x-www-form-urlencoded" {
		return body, nil
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, fmt.Errorf("form body: %w", err)
	}
	if !form.Has("payload") {
		return nil, errors.New("form body: no payload field")
	}
	return []byte(form.Get("payload")), nil
}

// The fields k3sync reads; GitHub and Gitea share these shapes, and
// GitLab's push too.
type (
	pushEvent struct {
		Ref string `json:"ref"`
	}
	pullRequestEvent struct {
		Action      string `json:"action"`
		Number      int    `json:"number"`
		PullRequest struct {
			Number int `json:"number"`
			Head   struct {
				SHA string `json:"sha"`
			} `json:"head"`
		} `json:"pull_request"`
	}
	// gitlabMergeRequestEvent is GitLab's Merge Request Hook: iid is the
	// number shown as !7, id is global.
	gitlabMergeRequestEvent struct {
		ObjectAttributes struct {
			IID        int    `json:"iid"`
			Action     string `json:"action"`
			LastCommit struct {
				ID string `json:"id"`
			} `json:"last_commit"`
		} `json:"object_attributes"`
	}
)

func (s *Server) dispatch(r *http.Request, event string, payload []byte) (hookReply, error) {
	switch event {
	case "ping":
		return hookReply{Status: "pong", Event: event}, nil
	case "push":
		return s.push(r, event, payload)
	case "pull_request":
		var e pullRequestEvent
		if err := json.Unmarshal(payload, &e); err != nil {
			return hookReply{}, fmt.Errorf("payload: %w", err)
		}
		number := cmp.Or(e.Number, e.PullRequest.Number)
		if number <= 0 {
			return hookReply{}, errors.New("payload: no pull request number")
		}
		s.hooks.PullRequest(r.Context(), number, e.Action, e.PullRequest.Head.SHA)
		return hookReply{Status: "accepted", Event: event}, nil
	}
	return hookReply{Status: "ignored", Event: event, Reason: "k3sync handles push and pull_request"}, nil
}

// push polls early on a push to a branch.
func (s *Server) push(r *http.Request, event string, payload []byte) (hookReply, error) {
	var e pushEvent
	if err := json.Unmarshal(payload, &e); err != nil {
		return hookReply{}, fmt.Errorf("payload: %w", err)
	}
	branch, ok := strings.CutPrefix(e.Ref, "refs/heads/")
	if !ok || branch == "" {
		return hookReply{Status: "ignored", Event: event, Reason: fmt.Sprintf("ref %q is not a branch", e.Ref)}, nil
	}
	s.hooks.Push(r.Context(), branch)
	return hookReply{Status: "accepted", Event: event}, nil
}

// dispatchGitLab handles GitLab's events: a push as GitHub's, a merge
// request opened, updated (new commits, or its title, description or
// target changed) or reopened as a pull request event with GitLab's
// action. Other actions (close, merge, approvals) are acknowledged and
// ignored: the next listing drops a closed merge request.
func (s *Server) dispatchGitLab(r *http.Request, event string, payload []byte) (hookReply, error) {
	switch event {
	case "Push Hook":
		return s.push(r, event, payload)
	case "Merge Request Hook":
		var e gitlabMergeRequestEvent
		if err := json.Unmarshal(payload, &e); err != nil {
			return hookReply{}, fmt.Errorf("payload: %w", err)
		}
		mr := e.ObjectAttributes
		switch mr.Action {
		case "open", "update", "reopen":
		default:
			return hookReply{Status: "ignored", Event: event, Reason: fmt.Sprintf("action %q is not open, update or reopen", mr.Action)}, nil
		}
		if mr.IID <= 0 {
			return hookReply{}, errors.New("payload: no merge request iid")
		}
		s.hooks.PullRequest(r.Context(), mr.IID, mr.Action, mr.LastCommit.ID)
		return hookReply{Status: "accepted", Event: event}, nil
	}
	return hookReply{Status: "ignored", Event: event, Reason: "k3sync handles Push Hook and Merge Request Hook"}, nil
}
