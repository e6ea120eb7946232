package server

import (
	"cmp"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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
	body, err := io.ReadAll(r.Body)
	if err != nil {
		writeError(w, r, bodyError(err), fmt.Errorf("%s webhook: read body: %w", f.name, err))
		return
	}
	log := infoLogger(r).With("forge", f.name, "delivery", r.Header.Get(f.deliveryHeader))
	sig, ok := strings.CutPrefix(r.Header.Get(f.sigHeader), f.sigPrefix)
	if !ok || !validMAC(secret, body, sig) {
		log.WarnContext(r.Context(), "webhook signature missing or wrong", "remote", r.RemoteAddr)
		writeError(w, r, http.StatusUnauthorized, fmt.Errorf("%s webhook: missing or wrong %s", f.name, f.sigHeader))
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
	if err != nil {
		writeError(w, r, http.StatusBadRequest, fmt.Errorf("%s webhook %s: %w", f.name, event, err))
		return
	}
	log.InfoContext(r.Context(), "webhook received", "event", event, "status", reply.Status, "reason", reply.Reason)
	code := http.StatusOK
	if reply.Status == "accepted" {
		code = http.StatusAccepted
	}
	writeJSON(w, r, code, reply)
}

// validMAC reports whether sigHex is the hex HMAC-SHA256 of body, in
// constant time.
func validMAC(secret, body []byte, sigHex string) bool {
	sig, err := hex.DecodeString(sigHex)
	if err != nil || len(sig) != sha256.Size {
		return false
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return hmac.Equal(sig, mac.Sum(nil))
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

// The fields k3sync reads; GitHub and Gitea share these shapes.
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
)

func (s *Server) dispatch(r *http.Request, event string, payload []byte) (hookReply, error) {
	switch event {
	case "ping":
		return hookReply{Status: "pong", Event: event}, nil
	case "push":
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
