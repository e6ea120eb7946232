package kafka

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/k3sync/k3sync/internal/model"
	"github.com/k3sync/k3sync/internal/plan"
	"github.com/k3sync/k3sync/internal/render"
	tkafka "github.com/k3sync/k3sync/internal/testenv/kafka"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s (-want +got):\n%s", path, diff)
	}
}

// TestApplyExample applies the example repo to an empty cluster: every
// topic, ACL, quota and user of the three Kafka tenants is created, and
// the next plan and apply find nothing to do and write nothing.
func TestApplyExample(t *testing.T) {
	for _, p := range peers {
		t.Run(p.name, func(t *testing.T) { testApplyExample(t, p) })
	}
}

func testApplyExample(t *testing.T, p peer) {
	e := p.env(t)
	d := example(t)
	fitBroker(p, d)
	req := d.Request()

	changes := e.plan(t, req)
	if !p.isBroker() {
		// The golden plan has the example's replication factors; the
		// one-node broker gets 1 (fitBroker).
		golden(t, "example-plan.txt", planText(t, changes))
	}
	if got := e.wire.writes(); len(got) != 0 {
		t.Fatalf("plan wrote to Kafka: %v", got)
	}

	results := e.apply(t, req)
	if len(results) != len(changes) {
		t.Fatalf("apply: %d results, plan had %d changes", len(results), len(changes))
	}
	for _, r := range results {
		if r.Err != nil || r.Action != plan.Create {
			t.Errorf("%s: %s: %v", r.Key, r.Action, r.Err)
		}
	}

	wantTopics := map[string]int{
		"analytics.events-raw": 48, "analytics.sessions": 6,
		"checkout.carts": 6, "checkout.orders": 24,
		"payments.dlq": 1, "payments.ledger": 6, "payments.transactions": 12,
	}
	if diff := cmp.Diff(wantTopics, e.topics(t)); diff != "" {
		t.Errorf("live topics (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]string{
		"retention.ms": "604800000", "min.insync.replicas": "2", "cleanup.policy": "delete", "compression.type": "zstd",
	}, e.dynamicConfigs(t, "payments.transactions")); diff != "" {
		t.Errorf("payments.transactions configs (-want +got):\n%s", diff)
	}
	var wantACLs []string
	for _, tn := range d.Tenants {
		if tn.Kafka != nil {
			for _, a := range tn.Kafka.ACLs {
				wantACLs = append(wantACLs, aclName(normalACL(a)))
			}
		}
	}
	slices.Sort(wantACLs)
	if diff := cmp.Diff(wantACLs, e.acls(t)); diff != "" {
		t.Errorf("live ACLs (-want +got):\n%s", diff)
	}
	quotas, err := e.admin.DescribeClientQuotas(t.Context(), false, nil)
	if err != nil {
		t.Fatal(err)
	}
	gotQuotas := map[string]map[string]float64{}
	for _, q := range quotas {
		values := map[string]float64{}
		for _, v := range q.Values {
			values[v.Key] = v.Value
		}
		gotQuotas[*q.Entity[0].Name] = values
	}
	if diff := cmp.Diff(map[string]map[string]float64{
		"analytics.etl":       {"consumer_byte_rate": 52428800},
		"checkout.service":    {"producer_byte_rate": 5242880},
		"payments.api":        {"producer_byte_rate": 10485760, "consumer_byte_rate": 20971520},
		"payments.settlement": {"request_percentage": 50, "controller_mutation_rate": 10},
	}, gotQuotas); diff != "" {
		t.Errorf("live quotas (-want +got):\n%s", diff)
	}
	users, err := e.admin.DescribeUserSCRAMs(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	gotUsers := map[string]kadm.ScramMechanism{}
	for _, u := range users {
		gotUsers[u.User] = u.CredInfos[0].Mechanism
	}
	// The broker's super user, k3sync's own login there, is no tenant's.
	delete(gotUsers, tkafka.AdminUser)
	if diff := cmp.Diff(map[string]kadm.ScramMechanism{
		"analytics.etl": kadm.ScramSha512, "checkout.service": kadm.ScramSha512,
		"payments.api": kadm.ScramSha512, "payments.settlement": kadm.ScramSha256,
	}, gotUsers); diff != "" {
		t.Errorf("live SCRAM users (-want +got):\n%s", diff)
	}
	if n := len(e.sink.all()); n != 4 {
		t.Errorf("sink got %d passwords, want 4", n)
	}
	for _, tenant := range []string{"analytics", "checkout", "payments"} {
		for _, id := range e.owned(t, tenant) {
			if strings.HasPrefix(id, "pending/") {
				t.Errorf("%s: %s after a successful apply", tenant, id)
			}
		}
	}

	// Converged: nothing to plan, nothing written, nothing saved.
	saves := e.store.Saves()
	e.wire.reset()
	if again := e.plan(t, req); len(again) != 0 {
		t.Fatalf("second plan is not empty:\n%s", planText(t, again))
	}
	if results := e.apply(t, req); len(results) != 0 {
		t.Fatalf("second apply made %d changes", len(results))
	}
	if got := e.wire.writes(); len(got) != 0 {
		t.Errorf("a no-op plan and apply wrote to Kafka: %v", got)
	}
	if got := e.store.Saves(); got != saves {
		t.Errorf("a no-op apply saved state %d times", got-saves)
	}
}

// TestWritesBatched: whatever the number of tenants and resources, an
// apply sends one request per kind of write.
func TestWritesBatched(t *testing.T) { onPeers(t, testWritesBatched) }

func testWritesBatched(t *testing.T, p peer) {
	e, d := appliedOn(t, p)
	replicas := int16(3)
	if p.isBroker() {
		replicas = 1 // one node
	}
	for _, tenant := range []string{"payments", "checkout", "analytics"} {
		k := d.kafka(t, tenant)
		for i := range k.Topics {
			k.Topics[i].Configs["segment.ms"] = "3600000"
			k.Topics[i].Partitions += 2
		}
		k.Topics = append(k.Topics, render.KafkaTopic{Name: tenant + ".new", Partitions: 3, ReplicationFactor: replicas})
		k.Topics = append(k.Topics, render.KafkaTopic{Name: tenant + ".new2", Partitions: 3, ReplicationFactor: replicas})
		u := k.Users[0].Name
		k.ACLs = append(k.ACLs, render.KafkaACL{Principal: "User:" + u, Host: "*", ResourceType: "topic", ResourceName: tenant + ".new", PatternType: "literal", Operation: "read", Permission: "allow"})
		k.ACLs = append(k.ACLs, render.KafkaACL{Principal: "User:" + u, Host: "*", ResourceType: "topic", ResourceName: tenant + ".new2", PatternType: "literal", Operation: "read", Permission: "allow"})
		k.Quotas[0].Values["request_percentage"] = 25
		k.Users = append(k.Users, render.KafkaUser{Name: tenant + ".extra", Mechanism: "SCRAM-SHA-256", Iterations: 4096})
	}
	e.apply(t, d.Request())
	want := map[string]int{
		"CreateTopics": 1, "CreatePartitions": 1, "IncrementalAlterConfigs": 1,
		"CreateACLs": 1, "AlterClientQuotas": 1, "AlterUserSCRAMCredentials": 1,
	}
	if diff := cmp.Diff(want, e.wire.writes()); diff != "" {
		t.Errorf("write requests (-want +got):\n%s", diff)
	}

	e.wire.reset()
	d.Platform.Policy.Deletion.AllowTopicDeletion = true
	for _, tenant := range []string{"payments", "checkout", "analytics"} {
		k := d.kafka(t, tenant)
		k.Topics = k.Topics[:len(k.Topics)-2]
		k.ACLs = k.ACLs[:len(k.ACLs)-2]
		k.Users = k.Users[:len(k.Users)-1]
		delete(k.Quotas[0].Values, "request_percentage")
	}
	e.apply(t, d.Request())
	want = map[string]int{"DeleteTopics": 1, "DeleteACLs": 1, "AlterClientQuotas": 1, "AlterUserSCRAMCredentials": 1}
	if diff := cmp.Diff(want, e.wire.writes()); diff != "" {
		t.Errorf("delete requests (-want +got):\n%s", diff)
	}
	if again := e.plan(t, d.Request()); len(again) != 0 {
		t.Errorf("not converged:\n%s", planText(t, again))
	}
}

// testGate opens tenants when the test says so and calls done when the
// target is done with one.
type testGate struct {
	mu    sync.Mutex
	open  map[string]chan struct{}
	done  func(tenant string)
	dones []string
}

func (g *testGate) ch(tenant string) chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.open[tenant] == nil {
		g.open[tenant] = make(chan struct{})
	}
	return g.open[tenant]
}

func (g *testGate) release(tenants ...string) {
	for _, tn := range tenants {
		close(g.ch(tn))
	}
}

func (g *testGate) Wait(ctx context.Context, tenant string) error {
	select {
	case <-g.ch(tenant):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (g *testGate) Ready(tenant string) bool {
	select {
	case <-g.ch(tenant):
		return true
	default:
		return false
	}
}

func (g *testGate) Done(tenant string) {
	g.mu.Lock()
	g.dones = append(g.dones, tenant)
	g.mu.Unlock()
	g.done(tenant)
}

// TestApplyRoundsFollowGate: with a gate, Kafka applies the tenants whose
// turn has come in a round of batched requests, and those tenants are
// made and recorded before the others' turn comes.
func TestApplyRoundsFollowGate(t *testing.T) { onPeers(t, testApplyRoundsFollowGate) }

func testApplyRoundsFollowGate(t *testing.T, p peer) {
	e := p.env(t)
	d := example(t)
	fitBroker(p, d)
	g := &testGate{open: map[string]chan struct{}{}}
	g.done = func(tenant string) {
		if tenant != "analytics" {
			return
		}
		// The first round is on Kafka and in the inventory already;
		// the other tenants, not yet open, are not.
		topics := e.topics(t)
		if topics["analytics.events-raw"] == 0 || topics["payments.ledger"] != 0 || topics["checkout.orders"] != 0 {
			t.Errorf("when analytics was done, live topics were %v: want analytics' only", topics)
		}
		// Analytics' creates are confirmed; payments' are still only
		// written ahead (pending).
		analytics, payments := e.owned(t, "analytics"), e.owned(t, "payments")
		if !slices.Contains(analytics, "topic/analytics.sessions") || slices.ContainsFunc(analytics, func(id string) bool { return strings.HasPrefix(id, "pending/") }) {
			t.Errorf("when analytics was done, its inventory was %v: want its topics, none pending", analytics)
		}
		if !slices.Contains(payments, "pending/topic/payments.ledger") {
			t.Errorf("when analytics was done, payments' inventory was %v: want its creates pending", payments)
		}
		var rest []string
		for _, tn := range d.Tenants {
			if tn.Name != "analytics" {
				rest = append(rest, tn.Name)
			}
		}
		g.release(rest...)
	}
	g.release("analytics")
	results, err := e.target.Apply(t.Context(), d.Request(), plan.ApplyOptions{Gate: g})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range results {
		if r.Err != nil {
			t.Errorf("%s: %v", r.Key, r.Err)
		}
	}
	if got := e.wire.writes()["CreateTopics"]; got != 2 {
		t.Errorf("%d CreateTopics requests, want 2: one per round", got)
	}
	if !slices.Contains(g.dones, "payments") || !slices.Contains(g.dones, "checkout") {
		t.Errorf("the target told the gate it was done with %v", g.dones)
	}
	if again := e.plan(t, d.Request()); len(again) != 0 {
		t.Errorf("not converged:\n%s", planText(t, again))
	}
}

// TestLargeApplyIsCutIntoRequests: a first apply of 2,100 topics with one
// partition and 3 configs each (about 10,500 metadata records) goes out
// as several CreateTopics requests of at most maxRecordsPerRequest
// records: a Kafka controller refuses one operation of more than 10,000
// records ("excessively large batch"), which refused such an apply whole.
// Configs rather than partitions make the records: each partition is a
// log directory the broker creates after its answer, seconds of work for
// thousands of them on a slow disk. On the broker the test has its own.
func TestLargeApplyIsCutIntoRequests(t *testing.T) {
	for _, p := range peers {
		if p.isBroker() {
			p.env = ownBrokerEnv
		}
		t.Run(p.name, func(t *testing.T) { testLargeApplyIsCutIntoRequests(t, p) })
	}
}

func testLargeApplyIsCutIntoRequests(t *testing.T, p peer) {
	e := p.env(t)
	replicas := int16(3)
	if p.isBroker() {
		replicas = 1 // one node
	}
	const topics = 2100
	k := &render.KafkaResources{Cluster: "main"}
	for i := range topics {
		k.Topics = append(k.Topics, render.KafkaTopic{
			Name: fmt.Sprintf("bulk.t%04d", i), Partitions: 1, ReplicationFactor: replicas,
			Configs: map[string]string{"retention.ms": "86400000", "segment.ms": "3600000", "cleanup.policy": "delete"},
		})
	}
	req := plan.Request{Revision: "bulk", Platform: &model.Platform{}, Tenants: []plan.TenantRequest{{Desired: &render.Tenant{Name: "bulk", Kafka: k}}}}
	req.Platform.Policy.Deletion.MaxDeletesPerPlan = 20
	checkResults(t, e.apply(t, req))
	if n := e.wire.writes()["CreateTopics"]; n < 2 {
		t.Errorf("%d CreateTopics requests for about 10,500 records, want them cut at %d records each", n, maxRecordsPerRequest)
	}
	// The apply waits up to settleTimeout for the broker to show its
	// topics; a broker slower than that is no error of the apply, so the
	// test gives it longer before it counts.
	got := 0
	within(time.Minute, func() bool {
		got = len(e.topics(t))
		return got >= topics
	})
	if got < topics {
		t.Errorf("%d topics after the apply, want %d", got, topics)
	}
}
