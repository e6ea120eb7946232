// Package contracttest is the target contract (internal/plan/contract.go)
// as one test suite: every target runs it against its real peer (real
// kube-apiservers, a Kafka cluster, the Kong Admin API emulator) through a
// small Harness that knows its system. Each subtest is one rule, asserted
// as a user would notice it: what the plan says, what the peer holds, what
// the inventory holds, how many writes were sent.
//
// A target's contract_test.go implements Harness and calls Run:
//
//	func TestContract(t *testing.T) { contracttest.Run(t, harness{...}) }
package contracttest

import (
	"testing"

	"github.com/k3sync/k3sync/internal/apply"
	"github.com/k3sync/k3sync/internal/model"
	"github.com/k3sync/k3sync/internal/plan"
	"github.com/k3sync/k3sync/internal/state"
)

// Harness starts environments of one target system.
type Harness interface {
	// Start returns an environment for one subtest: a fresh target with
	// a fresh state store and platform, on a fresh peer or on a shared one
	// (the suite gives every subtest's tenants names of their own).
	// Everything it starts ends with t.
	Start(t *testing.T) Env
}

// Env is one target on its peer, and what the suite needs of the system:
// tenants to desire things, and out-of-band access to the peer.
//
// A tenant's resources are numbered 0..n-1. A resource is one unit of what
// a tenant asks for (a namespace, a topic, a service); on some systems it
// is made of several objects, all listed by Keys, the resource itself
// first.
type Env interface {
	// Target is the target under test, reading and writing Store.
	Target() apply.Target
	// Store is the target's state store, and StateID the target's ID in
	// it ("kubernetes/eu-west", "kafka/main").
	Store() state.Store
	StateID() string
	// Platform is the platform every request of the suite carries; its
	// deletion policy protects what Protected protects, and the suite
	// sets Policy.Deletion.MaxDeletesPerPlan (Start leaves it high
	// enough for every subtest but the cap's).
	Platform() *model.Platform

	// Tenant is a tenant desiring n resources on this target, each one
	// deletable once it leaves Git; its drift policy is revert.
	Tenant(name string, n int) plan.TenantRequest
	// Keys are the plan keys of resource i of tr on this target, the
	// resource itself first. They do not depend on whether tr still
	// desires resource i.
	Keys(tr plan.TenantRequest, i int) []plan.Key
	// Without is tr without resource i (removed from Git).
	Without(tr plan.TenantRequest, i int) plan.TenantRequest
	// Change is tr with one field of resource i changed in Git, and the
	// key of the object whose field changes.
	Change(tr plan.TenantRequest, i int) (plan.TenantRequest, plan.Key)
	// Protected is tr with one more resource, one the definition protects
	// from deletion once it leaves Git, and that resource's key; false on
	// a system without deletion protection.
	Protected(tr plan.TenantRequest) (plan.TenantRequest, plan.Key, bool)
	// InventoryID is the ID the target's inventory holds the object of
	// key under.
	InventoryID(key plan.Key) string

	// Read returns the object of key on the peer as a description that
	// changes when, and only when, something someone set of it changes
	// (no timestamps, versions or server-made IDs); false when the object
	// does not exist or is being deleted.
	Read(t *testing.T, key plan.Key) (string, bool)
	// Writes is how many writes the target sent to the peer so far; the
	// suite's own out-of-band writes are not counted.
	Writes() int
	// Drift changes, out of band, a field of an object of resource i of
	// tr, one its desired state sets, and returns the object's key.
	Drift(t *testing.T, tr plan.TenantRequest, i int) plan.Key
	// Foreign creates, out of band, an object named after name with the
	// tenant's marks (labels, tags, naming) that no inventory holds, and
	// returns its key.
	Foreign(t *testing.T, tenant, name string) plan.Key
	// Taken creates, out of band and not with the tenant's marks, the
	// object resource i of tr would be, and returns its key (Keys(tr,
	// i)[0]).
	Taken(t *testing.T, tr plan.TenantRequest, i int) plan.Key
	// FailNextCreate makes the peer fail the next create it is sent with
	// an error that leaves its outcome open (a 500, UNKNOWN_SERVER_ERROR):
	// the write-ahead is made, the write is not.
	FailNextCreate(t *testing.T)
}
