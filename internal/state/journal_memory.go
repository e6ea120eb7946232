package state

import (
	"cmp"
	"context"
	"slices"
)

// memoryJournal is the Journal part of Memory.
type memoryJournal struct {
	runs   map[string][]Run // per tenant, oldest first
	drift  map[string]Drift
	status map[string]TenantStatus
}

func (m *Memory) journal() *memoryJournal {
	if m.j == nil {
		m.j = &memoryJournal{runs: map[string][]Run{}, drift: map[string]Drift{}, status: map[string]TenantStatus{}}
	}
	return m.j
}

// AddRun implements Journal.
func (m *Memory) AddRun(_ context.Context, r Run) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	j := m.journal()
	j.addRun(r)
	j.status[r.Tenant] = nextStatus(j.status[r.Tenant], r)
	return nil
}

// addRun adds r to its tenant's history, trimmed to MaxRunsPerTenant.
func (j *memoryJournal) addRun(r Run) {
	j.runs[r.Tenant] = append(j.runs[r.Tenant], r)
	if runs := j.runs[r.Tenant]; len(runs) > MaxRunsPerTenant {
		j.runs[r.Tenant] = runs[len(runs)-MaxRunsPerTenant:]
	}
}

// SetSuspension implements Journal.
func (m *Memory) SetSuspension(_ context.Context, s Suspension) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	j := m.journal()
	j.addRun(s.Entry())
	j.status[s.Tenant] = withSuspension(j.status[s.Tenant], s)
	return nil
}

// nextStatus is the tenant's status after run r.
func nextStatus(s TenantStatus, r Run) TenantStatus {
	s.Tenant = r.Tenant
	run := r
	s.LastRun = &run
	if r.Result == ResultSynced {
		s.Revision = r.Revision
		s.SyncedAt = r.Finished
	}
	return s
}

// withSuspension is the tenant's status after the operator's action s:
// the same sync status, with s as its suspension.
func withSuspension(st TenantStatus, s Suspension) TenantStatus {
	st.Tenant = s.Tenant
	st.Suspension = &s
	return st
}

// Runs implements Journal.
func (m *Memory) Runs(_ context.Context, tenant string, limit int) ([]Run, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Run
	for t, runs := range m.journal().runs {
		if tenant == "" || t == tenant {
			out = append(out, runs...)
		}
	}
	return newestFirst(out, limit), nil
}

func newestFirst(runs []Run, limit int) []Run {
	slices.SortStableFunc(runs, func(a, b Run) int { return cmp.Or(b.Started.Compare(a.Started), cmp.Compare(b.ID, a.ID)) })
	if limit > 0 && len(runs) > limit {
		runs = runs[:limit]
	}
	return runs
}

// SaveDrift implements Journal.
func (m *Memory) SaveDrift(_ context.Context, d Drift) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.journal().drift[d.Tenant] = d
	return nil
}

// Drifts implements Journal.
func (m *Memory) Drifts(_ context.Context) ([]Drift, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Drift, 0, len(m.journal().drift))
	for _, d := range m.journal().drift {
		out = append(out, d)
	}
	slices.SortFunc(out, func(a, b Drift) int { return cmp.Compare(a.Tenant, b.Tenant) })
	return out, nil
}

// Statuses implements Journal.
func (m *Memory) Statuses(_ context.Context) ([]TenantStatus, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]TenantStatus, 0, len(m.journal().status))
	for _, s := range m.journal().status {
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b TenantStatus) int { return cmp.Compare(a.Tenant, b.Tenant) })
	return out, nil
}

// Status implements Journal.
func (m *Memory) Status(_ context.Context, tenant string) (TenantStatus, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.journal().status[tenant], nil
}
