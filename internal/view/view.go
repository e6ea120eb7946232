// Package view holds what the daemon shows about itself: the overview of
// tenants and systems, a tenant's page, triggered syncs. The reconciler
// produces these values; the HTTP API, the dashboard and the CLI render
// them. They carry no secret by construction: plans mark sensitive fields
// and renderers redact them.
package view

import (
	"errors"
	"time"

	"github.com/k3sync/k3sync/internal/plan"
	"github.com/k3sync/k3sync/internal/state"
)

// State is a tenant's state on one system target.
type State string

// States, worst first in the order the overview sorts them.
const (
	Failed    State = "failed"
	Drifted   State = "drifted"
	OutOfSync State = "out-of-sync"
	Suspended State = "suspended"
	Synced    State = "synced"
	// Unknown: not checked yet.
	Unknown State = "unknown"
	// Removed: the tenant was removed from Git and k3sync's inventory
	// still owns some of it (its deletes are pending, held or failed).
	Removed State = "removed"
)

// Commit describes a Git revision.
type Commit struct {
	Hash    string    `json:"hash"`
	Subject string    `json:"subject,omitempty"`
	Author  string    `json:"author,omitempty"`
	Time    time.Time `json:"time,omitzero"`
}

// SystemState is a tenant's state on one target.
type SystemState struct {
	System plan.System `json:"system"`
	Target string      `json:"target"`
	State  State       `json:"state"`
	// Changes pending on this target (out of sync or drifted).
	Changes int `json:"changes"`
	// DriftSince is when the oldest drift still present was first seen.
	DriftSince time.Time `json:"driftSince,omitzero"`
	// Error is the last failure on this target.
	Error string `json:"error,omitempty"`
}

// TenantSummary is one row of the overview.
type TenantSummary struct {
	Name      string        `json:"name"`
	Owners    []string      `json:"owners"`
	State     State         `json:"state"`
	Suspended bool          `json:"suspended"`
	Systems   []SystemState `json:"systems"`
	// Synced is the last revision applied successfully.
	Synced   Commit    `json:"synced"`
	SyncedAt time.Time `json:"syncedAt,omitzero"`
	// DriftSince is when the tenant's oldest present drift was first seen.
	DriftSince time.Time `json:"driftSince,omitzero"`
	// Note explains the state in a line, e.g. "removed from Git: 12 to
	// delete, 2 orphaned".
	Note string `json:"note,omitempty"`
}

// Overview is every tenant with counts per state.
type Overview struct {
	// Revision is the newest revision seen in Git.
	Revision Commit `json:"revision"`
	// ValidationErrors of the newest revision, when it is invalid (the
	// last valid revision stays applied).
	ValidationErrors []string        `json:"validationErrors,omitempty"`
	Counts           map[State]int   `json:"counts"`
	Tenants          []TenantSummary `json:"tenants"`
	// Source is the last fetch's error, if it failed.
	SourceError string    `json:"sourceError,omitempty"`
	CheckedAt   time.Time `json:"checkedAt,omitzero"`
}

// Tenant is a tenant's page: its summary, current plan, drift and history.
type Tenant struct {
	TenantSummary
	Plan    *plan.Plan  `json:"plan"`
	Drift   state.Drift `json:"drift"`
	History []state.Run `json:"history"`
}

// TriggerRequest asks for a sync now.
type TriggerRequest struct {
	// Tenant to sync; all tenants when empty.
	Tenant string `json:"tenant,omitempty"`
	// Who asked (the token's name).
	Who string `json:"who,omitempty"`
	// AllowMassDeletion lifts the per-plan delete cap for this sync.
	AllowMassDeletion bool `json:"allowMassDeletion,omitempty"`
}

// SyncPhase is where a triggered sync is.
type SyncPhase string

// Sync phases.
const (
	Queued  SyncPhase = "queued"
	Running SyncPhase = "running"
	Done    SyncPhase = "done"
)

// Sync is a triggered sync and, once done, its runs.
type Sync struct {
	ID      string         `json:"id"`
	Request TriggerRequest `json:"request"`
	Phase   SyncPhase      `json:"phase"`
	Queued  time.Time      `json:"queued"`
	Runs    []state.Run    `json:"runs,omitempty"`
	// Error is why the sync could not run at all.
	Error string `json:"error,omitempty"`
}

// ErrNotFound is returned for unknown tenants and syncs; the API answers
// it with 404.
var ErrNotFound = errors.New("not found")

// ErrBusy is returned when a manual sync cannot be queued because the
// queue is full; the API answers it with 429 and Retry-After.
var ErrBusy = errors.New("the sync queue is full: try again later")
