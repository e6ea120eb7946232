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

	"github.com/k3sync/k3sync/internal/plan"
	"github.com/k3sync/k3sync/internal/state"
	"github.com/k3sync/k3sync/internal/view"
)

// History limits: the default, and the most one request returns.
const (
	defaultHistory = 20
	maxHistory     = 1000
)

// backendError answers a failed backend call: 404 for ErrNotFound, 500
// for anything else.
func backendError(w http.ResponseWriter, r *http.Request, err error) {
	code := http.StatusInternalServerError
	if errors.Is(err, ErrNotFound) {
		code = http.StatusNotFound
	}
	writeError(w, r, code, err)
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	write(w, http.StatusOK, "text/plain; charset=utf-8", []byte("ok\n"))
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if err := s.backend.Ready(); err != nil {
		writeError(w, r, http.StatusServiceUnavailable, fmt.Errorf("not ready: %w", err))
		return
	}
	write(w, http.StatusOK, "text/plain; charset=utf-8", []byte("ok\n"))
}

func (s *Server) overview(w http.ResponseWriter, r *http.Request) {
	o, err := s.backend.Overview(r.Context())
	if err != nil {
		backendError(w, r, err)
		return
	}
	writeJSON(w, r, http.StatusOK, o)
}

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

func (s *Server) tenant(w http.ResponseWriter, r *http.Request) {
	t, err := s.backend.Tenant(r.Context(), r.PathValue("tenant"))
	if err != nil {
		backendError(w, r, err)
		return
	}
	writeJSON(w, r, http.StatusOK, redactTenant(t))
}

// plan renders the tenant's current plan with plan's renderers, which
// redact sensitive values themselves.
func (s *Server) plan(w http.ResponseWriter, r *http.Request) {
	format := r.URL.Query().Get("format")
	if format == "" {
		format = "json"
	}
	var (
		render      func(p *plan.Plan, w io.Writer) error
		contentType string
	)
	switch format {
	case "json":
		render, contentType = (*plan.Plan).WriteJSON, "application/json"
	case "text":
		render, contentType = func(p *plan.Plan, w io.Writer) error { return p.WriteText(w, plan.TextOptions{}) }, "text/plain; charset=utf-8"
	case "markdown", "md":
		render, contentType = (*plan.Plan).WriteMarkdown, "text/markdown; charset=utf-8"
	default:
		writeError(w, r, http.StatusBadRequest, fmt.Errorf("format %q: want json, text or markdown", format))
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
	var buf bytes.Buffer
	if err := render(p, &buf); err != nil {
		writeError(w, r, http.StatusInternalServerError, fmt.Errorf("tenant %s: render plan: %w", t.Name, err))
		return
	}
	write(w, http.StatusOK, contentType, buf.Bytes())
}

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
