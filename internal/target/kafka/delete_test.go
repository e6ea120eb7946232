package kafka

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/k3sync/k3sync/internal/plan"
)

// TestTopicRemovedIsOrphaned: a protected topic removed from Git keeps its
// data and leaves the inventory.
func TestTopicRemovedIsOrphaned(t *testing.T) { onPeers(t, testTopicRemovedIsOrphaned) }

func testTopicRemovedIsOrphaned(t *testing.T, p peer) {
	e, d := appliedOn(t, p)
	d.removeTopic(t, "checkout", "checkout.orders")
	changes := e.plan(t, d.Request())
	want := []plan.Change{{
		Key: key("checkout", "topic", "checkout.orders"), Action: plan.Orphan,
		Notes: []string{"removed from Git: topic data is kept; k3sync stops managing the topic (to have it deleted, set deletion: \"allow\" on it before removing it from Git)"},
	}}
	if diff := cmp.Diff(want, changes); diff != "" {
		t.Fatalf("plan (-want +got):\n%s", diff)
	}
	if !strings.Contains(planText(t, changes), "topic data is kept") {
		t.Error("the plan text does not say the data is kept")
	}
	e.apply(t, d.Request())
	if _, ok := e.topics(t)["checkout.orders"]; !ok {
		t.Fatal("orphaned topic was deleted")
	}
	if slices.Contains(e.owned(t, "checkout"), "topic/checkout.orders") {
		t.Error("orphaned topic is still in the inventory")
	}
	if again := e.plan(t, d.Request()); len(again) != 0 {
		t.Errorf("plan after orphaning:\n%s", planText(t, again))
	}
}

// TestTopicRemovedIsDeleted: a topic whose last applied state said
// deletable, or any topic when the platform allows it, is deleted.
func TestTopicRemovedIsDeleted(t *testing.T) {
	for _, tc := range []struct {
		name, tenant, topic string
		platform            bool
	}{
		{name: "topic allows it", tenant: "payments", topic: "payments.dlq"},
		{name: "tenant allows it", tenant: "analytics", topic: "analytics.sessions"},
		{name: "platform allows it", tenant: "checkout", topic: "checkout.carts", platform: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			onPeers(t, func(t *testing.T, p peer) {
				e, d := appliedOn(t, p)
				d.removeTopic(t, tc.tenant, tc.topic)
				d.Platform.Policy.Deletion.AllowTopicDeletion = tc.platform
				if diff := cmp.Diff([]string{"delete topic " + tc.topic}, summary(e.plan(t, d.Request()))); diff != "" {
					t.Fatalf("plan (-want +got):\n%s", diff)
				}
				e.apply(t, d.Request())
				if _, ok := e.topics(t)[tc.topic]; ok {
					t.Fatal("topic not deleted")
				}
				if slices.Contains(e.owned(t, tc.tenant), "topic/"+tc.topic) {
					t.Error("deleted topic is still in the inventory")
				}
			})
		})
	}
}

// TestDeleteCap: more deletes than the platform allows per plan are all
// blocked, unless mass deletion is allowed.
func TestDeleteCap(t *testing.T) { onPeers(t, testDeleteCap) }

func testDeleteCap(t *testing.T, p peer) {
	e, d := appliedOn(t, p)
	d.RemoveTenant("analytics") // 2 deletable topics, 4 ACLs, a quota, a user
	d.Platform.Policy.Deletion.MaxDeletesPerPlan = 5
	req := d.Request()
	changes := e.plan(t, req)
	if len(changes) != 8 {
		t.Fatalf("plan has %d changes, want 8:\n%s", len(changes), planText(t, changes))
	}
	for _, c := range changes {
		if c.Action != plan.Blocked || !strings.Contains(strings.Join(c.Notes, "\n"), "8 deletes on kafka main exceed the platform's limit of 5 per plan") {
			t.Errorf("%s: %s %q, want blocked by the delete cap", c.Key, c.Action, c.Notes)
		}
	}
	e.apply(t, req)
	if got := e.wire.writes(); len(got) != 0 {
		t.Fatalf("blocked deletes wrote to Kafka: %v", got)
	}
	if _, ok := e.topics(t)["analytics.events-raw"]; !ok {
		t.Fatal("a blocked delete deleted a topic")
	}

	req.AllowMassDeletion = true
	changes = e.plan(t, req)
	for _, c := range changes {
		if c.Action != plan.Delete {
			t.Errorf("with mass deletion allowed: %s %s", c.Action, c.Key)
		}
	}
	e.apply(t, req)
	topics := e.topics(t)
	for _, name := range []string{"analytics.events-raw", "analytics.sessions"} {
		if _, ok := topics[name]; ok {
			t.Errorf("%s not deleted", name)
		}
	}
	for _, a := range e.acls(t) {
		if strings.HasPrefix(a, "User:analytics.etl ") {
			t.Errorf("ACL not deleted: %s", a)
		}
	}
	if owned := e.owned(t, "analytics"); len(owned) != 0 {
		t.Errorf("inventory of a removed tenant: %v", owned)
	}
}

// TestForeignUntouched: topics, ACLs, quotas and users k3sync never owned
// are never touched, even with the tenant's prefix and even when the
// tenant is removed with every deletion allowed.
func TestForeignUntouched(t *testing.T) { onPeers(t, testForeignUntouched) }

func testForeignUntouched(t *testing.T, p peer) {
	e := p.env(t)
	d := example(t)
	fitBroker(p, d)
	ctx := t.Context()
	replicas := int16(3)
	if p.isBroker() {
		replicas = 1 // one node
	}
	if _, err := e.admin.CreateTopic(ctx, 2, replicas, nil, "payments.foreign"); err != nil {
		t.Fatal(err)
	}
	foreignACL := kadm.NewACLs().Topics("payments.foreign").ResourcePatternType(kadm.ACLPatternLiteral).
		Operations(kadm.OpRead).Allow("User:payments.api").AllowHosts("*")
	if _, err := e.admin.CreateACLs(ctx, foreignACL); err != nil {
		t.Fatal(err)
	}
	if _, err := e.admin.AlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{{
		Entity: []kadm.ClientQuotaEntityComponent{{Type: "user", Name: kmsg.StringPtr("payments.batch")}},
		Ops:    []kadm.AlterClientQuotaOp{{Key: "producer_byte_rate", Value: 1024}},
	}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.admin.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{User: "payments.batch", Mechanism: kadm.ScramSha256, Iterations: 4096, Password: "not-ours"}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the foreign topic, ACL, quota and user show", func() bool {
		users, err := e.admin.DescribeUserSCRAMs(ctx, "payments.batch")
		quotas, qerr := e.admin.DescribeClientQuotas(ctx, true, []kadm.DescribeClientQuotaComponent{{Type: "user", MatchName: kmsg.StringPtr("payments.batch")}})
		return e.topics(t)["payments.foreign"] == 2 && len(e.acls(t)) == 1 &&
			err == nil && users["payments.batch"].Err == nil && qerr == nil && len(quotas) == 1
	})
	before := e.acls(t)

	for _, c := range e.plan(t, d.Request()) {
		if strings.Contains(c.Name, "foreign") || strings.Contains(c.Name, "payments.batch") {
			t.Errorf("plan touches a foreign resource: %s %s", c.Action, c.Key)
		}
	}
	e.apply(t, d.Request())
	d.RemoveTenant("payments")
	d.Platform.Policy.Deletion.AllowTopicDeletion = true
	req := d.Request()
	req.AllowMassDeletion = true
	for _, c := range e.plan(t, req) {
		if strings.Contains(c.Name, "foreign") || strings.Contains(c.Name, "payments.batch") {
			t.Errorf("plan touches a foreign resource: %s %s", c.Action, c.Key)
		}
	}
	e.apply(t, req)

	if got := e.topics(t)["payments.foreign"]; got != 2 {
		t.Errorf("foreign topic: %d partitions, want it kept with 2", got)
	}
	after := e.acls(t)
	for _, a := range before {
		if !slices.Contains(after, a) {
			t.Errorf("foreign ACL deleted: %s", a)
		}
	}
	users, err := e.admin.DescribeUserSCRAMs(ctx, "payments.batch")
	if err != nil || users["payments.batch"].Err != nil {
		t.Errorf("foreign user: %v %v", err, users["payments.batch"].Err)
	}
	quotas, err := e.admin.DescribeClientQuotas(ctx, true, []kadm.DescribeClientQuotaComponent{{Type: "user", MatchName: kmsg.StringPtr("payments.batch")}})
	if err != nil || len(quotas) != 1 {
		t.Errorf("foreign quota: %v %v", err, quotas)
	}
	if _, ok := e.topics(t)["payments.transactions"]; ok {
		t.Error("owned topic of the removed tenant not deleted")
	}
}

// TestIncompleteRequest: a request narrowed to some tenants leaves the
// others alone, even those it does not name.
func TestIncompleteRequest(t *testing.T) { onPeers(t, testIncompleteRequest) }

func testIncompleteRequest(t *testing.T, p peer) {
	e, d := appliedOn(t, p)
	d.RemoveTenant("analytics")
	req := d.Request()
	req.Complete = false
	if changes := e.plan(t, req); len(changes) != 0 {
		t.Fatalf("a narrowed request planned changes for a tenant it does not name:\n%s", planText(t, changes))
	}
}

// TestTenantMovedToAnotherCluster: what a tenant owned here was removed
// from Git once its Kafka lives on another cluster.
func TestTenantMovedToAnotherCluster(t *testing.T) { onPeers(t, testTenantMovedToAnotherCluster) }

func testTenantMovedToAnotherCluster(t *testing.T, p peer) {
	e, d := appliedOn(t, p)
	d.kafka(t, "checkout").Cluster = "other"
	want := []string{
		"delete acl User:checkout.service allow describe group prefixed:checkout. from *",
		"delete acl User:checkout.service allow read group prefixed:checkout. from *",
		"delete acl User:checkout.service allow read topic prefixed:checkout. from *",
		"delete acl User:checkout.service allow write topic prefixed:checkout. from *",
		"delete quota checkout.service",
		"delete user checkout.service",
		"orphan topic checkout.carts",
		"orphan topic checkout.orders",
	}
	got := summary(e.plan(t, d.Request()))
	slices.Sort(got)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("plan (-want +got):\n%s", diff)
	}
}

// TestMovedBetweenTenants: a resource Git moves from one tenant to another
// is not handed over: the other tenant's claim is blocked (it does not own
// it) and the tenant that owns it keeps it, unchanged, never deleted, even
// when it is deletable.
func TestMovedBetweenTenants(t *testing.T) { onPeers(t, testMovedBetweenTenants) }

func testMovedBetweenTenants(t *testing.T, p peer) {
	e, d := appliedOn(t, p)
	dlq := *d.topic(t, "payments", "payments.dlq") // deletable
	d.removeTopic(t, "payments", "payments.dlq")
	checkout := d.kafka(t, "checkout")
	checkout.Topics = append(checkout.Topics, dlq)
	want := []plan.Change{
		plan.NotOwned(key("checkout", "topic", "payments.dlq"), levelTopics, "owned by tenant payments"),
		{Key: key("payments", "topic", "payments.dlq"), Action: plan.Blocked, Notes: []string{
			"removed from Git, and tenant checkout claims it: k3sync does not hand resources over between tenants, so it stays this tenant's, unchanged, until tenant checkout drops its claim (then it is deleted or orphaned as its definition says)",
		}},
	}
	if diff := cmp.Diff(want, e.plan(t, d.Request())); diff != "" {
		t.Fatalf("plan (-want +got):\n%s", diff)
	}
	for _, r := range e.apply(t, d.Request()) {
		if !errors.Is(r.Err, plan.ErrBlocked) {
			t.Errorf("%s: %v, want blocked", r.Key, r.Err)
		}
	}
	if _, ok := e.topics(t)["payments.dlq"]; !ok {
		t.Fatal("moved topic deleted")
	}
	if slices.Contains(e.owned(t, "checkout"), "topic/payments.dlq") || !slices.Contains(e.owned(t, "payments"), "topic/payments.dlq") {
		t.Errorf("inventories: checkout %v, payments %v", e.owned(t, "checkout"), e.owned(t, "payments"))
	}
	// checkout drops its claim: payments' Git decides again, and the
	// topic, deletable, goes.
	checkout.Topics = checkout.Topics[:len(checkout.Topics)-1]
	if diff := cmp.Diff([]string{"delete topic payments.dlq"}, summary(e.plan(t, d.Request()))); diff != "" {
		t.Errorf("plan once the claim is dropped (-want +got):\n%s", diff)
	}
}
