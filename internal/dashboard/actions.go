package dashboard

import (
	"net/http"
	"net/url"

	"github.com/k3sync/k3sync/internal/view"
)

// syncNow queues a sync of the tenant, in the session's name, and shows
// the tenant's page following that sync.
func (h *handler) syncNow(w http.ResponseWriter, r *http.Request, s *session) {
	tenant := r.PathValue("tenant")
	sy, err := h.backend.Trigger(r.Context(), view.TriggerRequest{Tenant: tenant, Who: s.Name})
	if err != nil {
		h.backendError(w, r, s, err)
		return
	}
	h.log.InfoContext(r.Context(), "sync triggered from the dashboard", "sync", sy.ID, "tenant", tenant, "who", s.Name)
	http.Redirect(w, r, "/tenants/"+url.PathEscape(tenant)+"?"+url.Values{"sync": {sy.ID}}.Encode(), http.StatusSeeOther)
}

// suspend suspends or resumes the tenant.
func (h *handler) suspend(suspend bool) func(http.ResponseWriter, *http.Request, *session) {
	done := "resumed"
	if suspend {
		done = "suspended"
	}
	return func(w http.ResponseWriter, r *http.Request, s *session) {
		tenant := r.PathValue("tenant")
		if err := h.backend.Suspend(r.Context(), tenant, suspend, s.Name); err != nil {
			h.backendError(w, r, s, err)
			return
		}
		h.log.InfoContext(r.Context(), "tenant suspension changed from the dashboard", "tenant", tenant, "suspended", suspend, "who", s.Name)
		http.Redirect(w, r, "/tenants/"+url.PathEscape(tenant)+"?done="+done, http.StatusSeeOther)
	}
}
