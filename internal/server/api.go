package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/k3sync/k3sync/internal/plan"
	"github.com/k3sync/k3sync/internal/state"
	"github.com/k3sync/k3sync/internal/view"
)

// History limits: the default, and the most one request returns.
const (
	defaultHistory = 20
	maxHistory     = 1000
)

// retryBusy is the Retry-After of a 429: about one sync's time.
const retryBusy = "10"

// backendError answers a failed backend call: 404 for ErrNotFound, 429
// with Retry-After for view.ErrBusy (the sync queue is full), 500 for
// anything else.
func backendError(w http.ResponseWriter, r *http.Request, err error) {
	code := http.StatusInternalServerError
	switch {
	case errors.Is(err, ErrNotFound):
		code = http.StatusNotFound
	case errors.Is(err, view.ErrBusy):
		code = http.StatusTooManyRequests
		w.Header().Set("Retry-After", retryBusy)
	}
	writeError(w, r, code, err)
}

// healthz answers ok while the process serves.
func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	write(w, http.StatusOK, "text/plain; charset=utf-8", []byte("ok\n"))
}

// readyz answers ok once the backend is ready, 503 before.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if err := s.backend.Ready(); err != nil {
		writeError(w, r, http.StatusServiceUnavailable, fmt.Errorf("not ready: %w", err))
		return
	}
	write(w, http.StatusOK, "text/plain; charset=utf-8", []byte("ok\n"))
}

// overview answers the daemon's overview.
func (s *Server) overview(w http.ResponseWriter, r *http.Request) {
	o, err := s.backend.Overview(r.Context())
	if err != nil {
		backendError(w, r, err)
		return
	}
	writeJSON(w, r, http.StatusOK, o)
}

// tenants lists the tenants' summaries, [] when there are none.
func (s *Server) tenants(w http.ResponseWriter, r *http.Request) {
	o, err := s.backend.Overview(r.Context())
	if err != nil {
		backendError(w, r, err)
		return
	}
	if o.Tenants == nil {
		o.Tenants = []view.TenantSummary{}
	}
	writeJSON(w, r, http.StatusOK, o.Tenants)
}

// tenant answers one tenant, its secrets redacted; 404 when unknown.
func (s *Server) tenant(w http.ResponseWriter, r *http.Request) {
	t, err := s.backend.Tenant(r.Context(), r.PathValue("tenant"))
	if err != nil {
		backendError(w, r, err)
		return
	}
	writeJSON(w, r, http.StatusOK, redactTenant(t))
}

// planRenderer returns the renderer and content type of a plan format
// (?format=json, text or markdown; json by default). The renderers
// redact sensitive values themselves.
func planRenderer(format string) (func(p *plan.Plan, w io.Writer) error, string, error) {
	switch format {
	case "json", "":
		return (*plan.Plan).WriteJSON, "application/json", nil
	case "text":
		return func(p *plan.Plan, w io.Writer) error { return p.WriteText(w, plan.TextOptions{}) }, "text/plain; charset=utf-8", nil
	case "markdown", "md":
		return (*plan.Plan).WriteMarkdown, "text/markdown; charset=utf-8", nil
	}
	return nil, "", fmt.Errorf("format %q: want json, text or markdown", format)
}

// writePlan answers with p rendered.
func writePlan(w http.ResponseWriter, r *http.Request, p *plan.Plan, render func(p *plan.Plan, w io.Writer) error, contentType string) {
	var buf bytes.Buffer
	if err := render(p, &buf); err != nil {
		writeError(w, r, http.StatusInternalServerError, fmt.Errorf("render plan: %w", err))
		return
	}
	write(w, http.StatusOK, contentType, buf.Bytes())
}

// plan renders the tenant's current plan.
func (s *Server) plan(w http.ResponseWriter, r *http.Request) {
	render, contentType, err := planRenderer(r.URL.Query().Get("format"))
	if err != nil {
		writeError(w, r, http.StatusBadRequest, err)
		return
	}
	t, err := s.backend.Tenant(r.Context(), r.PathValue("tenant"))
	if err != nil {
		backendError(w, r, err)
		return
	}
	p := t.Plan
	if p == nil {
		p = &plan.Plan{}
	}
	writePlan(w, r, p, render, contentType)
}

// currentPlan renders the daemon's current plan of every tenant (those of
// the overview, tenants removed from Git with changes left included), or
// of the tenants named by ?tenant= (repeatable or comma-separated), as one
// plan: the tenants' latest plans put together in the order a local plan
// of the same tenants shows them, each target error once. Its revision is
// the one the tenants' plans were made at; when they differ (a revision
// re-plans only the tenants it changed), the newest revision seen, if it
// is valid. Before the first sync (or on a replica that does not lead)
// there is no plan: 503. More names than the daemon knows tenants: 400.
func (s *Server) currentPlan(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	render, contentType, err := planRenderer(q.Get("format"))
	if err != nil {
		writeError(w, r, http.StatusBadRequest, err)
		return
	}
	if err := s.backend.Ready(); err != nil {
		writeError(w, r, http.StatusServiceUnavailable, fmt.Errorf("no current plan: %w", err))
		return
	}
	names := tenantNames(q["tenant"])
	o, err := s.backend.Overview(r.Context())
	if err != nil {
		backendError(w, r, err)
		return
	}
	plans, err := s.backend.Plans(r.Context())
	if err != nil {
		backendError(w, r, err)
		return
	}
	known := make(map[string]bool, len(o.Tenants)+len(plans))
	for _, t := range o.Tenants {
		known[t.Name] = true
	}
	for name := range plans {
		known[name] = true
	}
	if len(names) > len(known) {
		writeError(w, r, http.StatusBadRequest, fmt.Errorf("%d tenant names: the daemon knows %d tenants; name at most that many, or none for every tenant", len(names), len(known)))
		return
	}
	if len(names) == 0 {
		for _, t := range o.Tenants {
			names = append(names, t.Name)
		}
	}
	out := &plan.Plan{Changes: []plan.Change{}}
	revisions := map[string]bool{}
	seenErrors := map[plan.TargetError]bool{}
	for _, name := range names {
		p := plans[name]
		if !known[name] {
			if _, err := s.backend.Tenant(r.Context(), name); err != nil {
				backendError(w, r, err) // unknown: 404
				return
			}
		}
		if p == nil {
			continue
		}
		out.Changes = append(out.Changes, p.Changes...)
		for _, e := range p.Errors {
			if !seenErrors[e] {
				seenErrors[e] = true
				out.Errors = append(out.Errors, e)
			}
		}
		if p.Revision != "" {
			revisions[p.Revision] = true
		}
	}
	plan.Sort(out.Changes)
	switch {
	case len(revisions) == 1:
		for rev := range revisions {
			out.Revision = rev
		}
	case len(o.ValidationErrors) == 0:
		out.Revision = o.Revision.Hash
	}
	writePlan(w, r, out, render, contentType)
}

// tenantNames are the names of ?tenant= values, each comma-separated,
// trimmed, without empty names and duplicates, in the order given.
func tenantNames(values []string) []string {
	var names []string
	seen := map[string]bool{}
	for _, v := range values {
		for n := range strings.SplitSeq(v, ",") {
			if n = strings.TrimSpace(n); n != "" && !seen[n] {
				seen[n] = true
				names = append(names, n)
			}
		}
	}
	return names
}

// drift lists the drift found, its secrets redacted.
func (s *Server) drift(w http.ResponseWriter, r *http.Request) {
	ds, err := s.backend.Drift(r.Context())
	if err != nil {
		backendError(w, r, err)
		return
	}
	out := make([]state.Drift, len(ds))
	for i, d := range ds {
		out[i] = redactDrift(d)
	}
	writeJSON(w, r, http.StatusOK, out)
}

// history lists the latest runs (?limit=, at most maxHistory), of one
// tenant with ?tenant=, their secrets redacted.
func (s *Server) history(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit := defaultHistory
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxHistory {
			writeError(w, r, http.StatusBadRequest, fmt.Errorf("limit %q: want a number from 1 to %d", v, maxHistory))
			return
		}
		limit = n
	}
	runs, err := s.backend.History(r.Context(), q.Get("tenant"), limit)
	if err != nil {
		backendError(w, r, err)
		return
	}
	writeJSON(w, r, http.StatusOK, redactRuns(runs))
}

// sync answers one sync by its id, its secrets redacted.
func (s *Server) sync(w http.ResponseWriter, r *http.Request) {
	sy, err := s.backend.Sync(r.Context(), r.PathValue("id"))
	if err != nil {
		backendError(w, r, err)
		return
	}
	writeJSON(w, r, http.StatusOK, redactSync(sy))
}

// trigger queues a sync of every tenant, or of the one in the path.
func (s *Server) trigger(w http.ResponseWriter, r *http.Request) {
	var req view.TriggerRequest
	if err := decodeOptional(r.Body, &req); err != nil {
		writeError(w, r, bodyError(err), fmt.Errorf("request body: %w", err))
		return
	}
	if tenant := r.PathValue("tenant"); tenant != "" {
		if req.Tenant != "" && req.Tenant != tenant {
			writeError(w, r, http.StatusBadRequest, fmt.Errorf("request body: tenant %q differs from the path's %q", req.Tenant, tenant))
			return
		}
		req.Tenant = tenant
	}
	req.Who = principalFrom(r.Context()).name
	sy, err := s.backend.Trigger(r.Context(), req)
	if err != nil {
		backendError(w, r, err)
		return
	}
	infoLogger(r).InfoContext(r.Context(), "sync triggered", "sync", sy.ID, "tenant", req.Tenant, "who", req.Who, "allow_mass_deletion", req.AllowMassDeletion)
	w.Header().Set("Location", "/api/v1/syncs/"+url.PathEscape(sy.ID))
	writeJSON(w, r, http.StatusAccepted, redactSync(sy))
}

// suspend suspends (or resumes) the tenant in the path.
func (s *Server) suspend(suspend bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tenant, who := r.PathValue("tenant"), principalFrom(r.Context()).name
		if err := s.backend.Suspend(r.Context(), tenant, suspend, who); err != nil {
			backendError(w, r, err)
			return
		}
		infoLogger(r).InfoContext(r.Context(), "tenant suspension changed", "tenant", tenant, "suspended", suspend, "who", who)
		w.WriteHeader(http.StatusNoContent)
	}
}

// decodeOptional decodes one JSON value from body into v; an empty body
// leaves v as it is. Unknown fields are refused: a misspelt
// "allowMassDeletion" must not pass silently.
func decodeOptional(body io.Reader, v any) error {
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return nil
		}
		return err //nolint:wrapcheck // the caller names the body
	}
	switch _, err := dec.Token(); {
	case errors.Is(err, io.EOF):
		return nil
	case err != nil:
		return fmt.Errorf("after the JSON value: %w", err)
	}
	return errors.New("trailing data after the JSON value")
}
