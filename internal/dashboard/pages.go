package dashboard

import (
	"cmp"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/k3sync/k3sync/internal/plan"
	"github.com/k3sync/k3sync/internal/state"
	"github.com/k3sync/k3sync/internal/view"
)

// page is what every template gets: the chrome (title, user, live region)
// and the page's own data.
type page struct {
	Title string
	Nav   string
	User  *session
	Now   time.Time
	Live  live
	Data  any
}

// live is the region of a page that live updates swap: where to fetch it
// and where to listen for changes.
type live struct {
	Fragment string
	Events   string
	Version  string
	// Retry is how long, in seconds, the script waits before it reopens
	// a refused stream: the 429's Retry-After.
	Retry int
}

// loaded is a page's data, and the part of it that changes mean a new
// version: backend values only, never the clock.
type loaded struct {
	Title   string
	Data    any
	Version any
}

// pageKind is one page: its route, the route of its fragment and event
// stream (under /fragments and /events), and how it loads.
type pageKind struct {
	name      string
	route     string
	liveRoute string
	// livePath is the page's path under /fragments and /events, with the
	// query parameters the page reads.
	livePath func(r *http.Request) string
	load     func(h *handler, r *http.Request) (loaded, error)
}

var pageKinds = []pageKind{
	{name: "overview", route: "/{$}", liveRoute: "/overview", livePath: overviewPath, load: (*handler).loadOverview},
	{name: "tenant", route: "/tenants/{tenant}", liveRoute: "/tenants/{tenant}", livePath: tenantPath, load: (*handler).loadTenant},
	{name: "drift", route: "/drift", liveRoute: "/drift", livePath: func(*http.Request) string { return "/drift" }, load: (*handler).loadDrift},
}

// withQuery keeps the named, non-empty query parameters.
func withQuery(path string, r *http.Request, names ...string) string {
	q := url.Values{}
	for _, n := range names {
		if v := r.URL.Query().Get(n); v != "" {
			q.Set(n, v)
		}
	}
	if len(q) == 0 {
		return path
	}
	return path + "?" + q.Encode()
}

func overviewPath(r *http.Request) string { return withQuery("/overview", r, "q", "system", "state") }

func tenantPath(r *http.Request) string {
	return withQuery("/tenants/"+url.PathEscape(r.PathValue("tenant")), r, "sync", "done")
}

// page serves a whole page; without a session, the login form.
func (h *handler) page(p pageKind) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := h.sessionOf(r)
		if s == nil {
			http.Redirect(w, r, loginURL(r), http.StatusSeeOther)
			return
		}
		l, err := p.load(h, r)
		if err != nil {
			h.backendError(w, r, s, err)
			return
		}
		path := p.livePath(r)
		pg := &page{Title: l.Title, Nav: p.name, User: s, Now: h.now(), Data: l.Data,
			Live: live{Fragment: "/fragments" + path, Events: "/events" + path, Version: h.version(l.Version), Retry: h.feeds.retryAfter}}
		h.render(w, r, http.StatusOK, p.name, "layout", pg)
	})
}

// fragment serves a page's live region alone, for live updates; without
// a session, 401.
func (h *handler) fragment(p pageKind) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := h.sessionOf(r)
		if s == nil {
			http.Error(w, "sign in first", http.StatusUnauthorized)
			return
		}
		l, err := p.load(h, r)
		if err != nil {
			h.backendError(w, r, s, err)
			return
		}
		w.Header().Set("X-Dashboard-Version", h.version(l.Version))
		h.render(w, r, http.StatusOK, p.name, "main", &page{Title: l.Title, Nav: p.name, User: s, Now: h.now(), Data: l.Data})
	})
}

// Overview

// filter is the overview's query: tenant name (substring), system, state.
type filter struct {
	Q      string
	System plan.System
	State  view.State
}

func (f filter) Active() bool { return f.Q != "" || f.System != "" || f.State != "" }

// URL is the overview with the filter changed by key=value ("" drops it).
func (f filter) URL(key, value string) string {
	q := url.Values{}
	set := func(k, v string) {
		if v != "" {
			q.Set(k, v)
		}
	}
	vals := map[string]string{"q": f.Q, "system": string(f.System), "state": string(f.State)}
	vals[key] = value
	for _, k := range []string{"q", "system", "state"} {
		set(k, vals[k])
	}
	if len(q) == 0 {
		return "/"
	}
	return "/?" + q.Encode()
}

// States are the states the filter offers, in the order the counts show.
var filterStates = []view.State{view.Synced, view.OutOfSync, view.Drifted, view.Failed, view.Suspended, view.Unknown, view.Removed}

func parseFilter(q url.Values) filter {
	f := filter{Q: strings.TrimSpace(q.Get("q"))}
	if s := plan.System(q.Get("system")); slices.Contains(plan.Systems, s) {
		f.System = s
	}
	if s := view.State(q.Get("state")); slices.Contains(filterStates, s) {
		f.State = s
	}
	return f
}

// column is one system target of the overview's grid.
type column struct {
	System plan.System
	Target string
}

// cell is a tenant on a target: nil State when the tenant does not use it.
type cell struct {
	column
	State *view.SystemState
	// Dim: the state filter does not match this cell.
	Dim bool
}

type overviewRow struct {
	view.TenantSummary
	Cells []cell
	// Drifting: some target is drifted now (the drift report may be older
	// than a sync that reverted it).
	Drifting bool
}

type countItem struct {
	State view.State
	N     int
}

type overviewData struct {
	Overview view.Overview
	Filter   filter
	Counts   []countItem
	Columns  []column
	Rows     []overviewRow
	Recent   []state.Run
	// Hidden is how many tenants the filter hides.
	Hidden int
}

// recentRuns is how many runs the overview lists.
const recentRuns = 8

func (h *handler) loadOverview(r *http.Request) (loaded, error) {
	ctx := r.Context()
	o, err := h.backend.Overview(ctx)
	if err != nil {
		return loaded{}, err //nolint:wrapcheck // the backend names what failed
	}
	runs, err := h.backend.History(ctx, "", recentRuns)
	if err != nil {
		return loaded{}, err //nolint:wrapcheck // the backend names what failed
	}
	f := parseFilter(r.URL.Query())
	d := overviewData{Overview: o, Filter: f, Recent: runs}
	for _, s := range filterStates {
		if n := o.Counts[s]; n > 0 || s != view.Unknown {
			d.Counts = append(d.Counts, countItem{s, n})
		}
	}
	seen := map[column]bool{}
	for _, t := range o.Tenants {
		for _, s := range t.Systems {
			c := column{s.System, s.Target}
			if !seen[c] && (f.System == "" || f.System == c.System) {
				seen[c] = true
				d.Columns = append(d.Columns, c)
			}
		}
	}
	slices.SortFunc(d.Columns, func(a, b column) int {
		return cmp.Or(cmp.Compare(slices.Index(plan.Systems, a.System), slices.Index(plan.Systems, b.System)), cmp.Compare(a.Target, b.Target))
	})
	tenants := slices.Clone(o.Tenants)
	slices.SortFunc(tenants, func(a, b view.TenantSummary) int { return cmp.Compare(a.Name, b.Name) })
	for _, t := range tenants {
		row, ok := overviewRowOf(t, d.Columns, f)
		if !ok {
			d.Hidden++
			continue
		}
		d.Rows = append(d.Rows, row)
	}
	// The version leaves out when Git was last checked, but for the minute:
	// a poll that finds nothing new changes nothing on the page.
	vo := o
	vo.CheckedAt = vo.CheckedAt.Truncate(time.Minute)
	return loaded{Title: "Overview", Data: d, Version: struct {
		Overview view.Overview
		Recent   []state.Run
	}{vo, runs}}, nil
}

// overviewRowOf lays a tenant on the grid's columns; false when the filter
// hides it.
func overviewRowOf(t view.TenantSummary, cols []column, f filter) (overviewRow, bool) {
	if f.Q != "" && !strings.Contains(strings.ToLower(t.Name), strings.ToLower(f.Q)) {
		return overviewRow{}, false
	}
	row := overviewRow{TenantSummary: t, Cells: make([]cell, len(cols))}
	used, matched := false, f.State == ""
	for i, c := range cols {
		row.Cells[i].column = c
		for j, s := range t.Systems {
			if s.System == c.System && s.Target == c.Target {
				row.Cells[i].State = &t.Systems[j]
				used = true
				if s.State == view.Drifted {
					row.Drifting = true
				}
				if f.State != "" {
					row.Cells[i].Dim = s.State != f.State
					matched = matched || s.State == f.State
				}
			}
		}
	}
	if f.System != "" && !used {
		return overviewRow{}, false
	}
	if f.State != "" && !matched && (f.System != "" || t.State != f.State) {
		return overviewRow{}, false
	}
	return row, true
}

// Tenant

type tenantData struct {
	Tenant   view.Tenant
	Summary  plan.Summary
	Plan     []planLine
	Markdown string
	// Sync is the sync this page was opened for, after "Sync now".
	Sync *view.Sync
	// SyncRun is the sync's run of this tenant, once done.
	SyncRun *state.Run
	Flash   string
	History []state.Run
	// StaleDrift: the drift report lists drift the tenant's plan no longer
	// has (a sync reverted it after the check).
	StaleDrift bool
}

// historyRuns is how many runs the tenant page lists.
const historyRuns = 20

// flashes are the messages a redirect may ask for, by name: nothing from
// the query string reaches the page as text.
var flashes = map[string]string{
	"suspended": "Tenant suspended: changes are planned, not applied, until it is resumed or k3sync restarts.",
	"resumed":   "Tenant resumed: the next sync or drift check applies its changes.",
}

func (h *handler) loadTenant(r *http.Request) (loaded, error) {
	ctx := r.Context()
	name := r.PathValue("tenant")
	t, err := h.backend.Tenant(ctx, name)
	if err != nil {
		return loaded{}, err //nolint:wrapcheck // the backend names the tenant
	}
	p := t.Plan
	if p == nil {
		p = &plan.Plan{}
	}
	d := tenantData{Tenant: t, Summary: p.Summary(), Flash: flashes[r.URL.Query().Get("done")]}
	if d.Plan, err = planText(p); err != nil {
		return loaded{}, err
	}
	if d.Markdown, err = planMarkdown(p); err != nil {
		return loaded{}, err
	}
	d.History = t.History[:min(len(t.History), historyRuns)]
	if len(t.Drift.Items) > 0 && !slices.ContainsFunc(p.Changes, func(c plan.Change) bool { return c.Drift }) {
		d.StaleDrift = true
	}
	if id := r.URL.Query().Get("sync"); id != "" {
		// An unknown or another tenant's sync shows nothing: syncs live in
		// memory and go with a restart.
		if s, err := h.backend.Sync(ctx, id); err == nil && s.Request.Tenant == t.Name {
			d.Sync = &s
			for i := range s.Runs {
				if s.Runs[i].Tenant == t.Name {
					d.SyncRun = &s.Runs[i]
				}
			}
		}
	}
	return loaded{Title: t.Name, Data: d, Version: struct {
		Tenant view.Tenant
		Sync   *view.Sync
	}{t, d.Sync}}, nil
}

// Drift

type driftRow struct {
	Tenant    string
	State     view.State
	CheckedAt time.Time
	Item      state.DriftItem
	// Reverted: the target is synced now; a sync after the check undid
	// the drift, and the next check drops it from the report.
	Reverted bool
}

type driftError struct {
	Tenant string
	plan.TargetError
}

type driftData struct {
	Rows   []driftRow
	Errors []driftError
}

func (h *handler) loadDrift(r *http.Request) (loaded, error) {
	ctx := r.Context()
	ds, err := h.backend.Drift(ctx)
	if err != nil {
		return loaded{}, err //nolint:wrapcheck // the backend names what failed
	}
	o, err := h.backend.Overview(ctx)
	if err != nil {
		return loaded{}, err //nolint:wrapcheck // the backend names what failed
	}
	states := map[string]view.State{}
	targets := map[string]view.State{}
	for _, t := range o.Tenants {
		states[t.Name] = t.State
		for _, s := range t.Systems {
			targets[t.Name+"/"+string(s.System)+"/"+s.Target] = s.State
		}
	}
	var d driftData
	for _, dr := range ds {
		for _, it := range dr.Items {
			d.Rows = append(d.Rows, driftRow{
				Tenant: dr.Tenant, State: states[dr.Tenant], CheckedAt: dr.CheckedAt, Item: it,
				Reverted: targets[dr.Tenant+"/"+string(it.System)+"/"+it.Target] == view.Synced,
			})
		}
		for _, e := range dr.Errors {
			// A target that could not be read fails every tenant's check
			// the same way: list it once.
			if !slices.ContainsFunc(d.Errors, func(x driftError) bool { return x.System == e.System && x.Target == e.Target && x.Message == e.Message }) {
				d.Errors = append(d.Errors, driftError{dr.Tenant, e})
			}
		}
	}
	slices.SortStableFunc(d.Rows, func(a, b driftRow) int {
		return cmp.Or(a.Item.FirstSeen.Compare(b.Item.FirstSeen), cmp.Compare(a.Tenant, b.Tenant), cmp.Compare(a.Item.String(), b.Item.String()))
	})
	return loaded{Title: "Drift", Data: d, Version: struct {
		Drift   []state.Drift
		Targets map[string]view.State
	}{ds, targets}}, nil
}
