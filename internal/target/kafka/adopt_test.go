package kafka

import (
	"slices"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/k3sync/k3sync/internal/plan"
	"github.com/k3sync/k3sync/internal/render"
)

// TestAdopt: a tenant that adopts what exists (policies.adopt) takes a
// topic, an ACL binding, a client quota and a SCRAM user made out of band
// into its inventory instead of being blocked. The topic gets Git's
// configs (listed on the adopt change) and keeps its partitions and data;
// the binding and quota are recorded; the user's password keeps working
// and none is set or delivered. The next plan is empty, and from then on
// k3sync manages them: a topic removed from Git is deleted where the
// definition allows.
func TestAdopt(t *testing.T) { onPeers(t, testAdopt) }

func testAdopt(t *testing.T, p peer) {
	e := p.env(t)
	d := example(t)
	fitBroker(p, d)
	adopter := *d.Models["checkout"] // the example's models are shared: a copy
	adopter.Policies.Adopt = true
	d.Models["checkout"] = &adopter
	topics := d.kafka(t, "checkout").Topics
	i := slices.IndexFunc(topics, func(tt render.KafkaTopic) bool { return tt.Name == "checkout.orders" })
	if i < 0 {
		t.Fatal("the example's checkout has no topic checkout.orders")
	}
	orders := topics[i]
	if _, err := e.admin.CreateTopic(t.Context(), orders.Partitions, orders.ReplicationFactor,
		map[string]*string{"retention.ms": kadm.StringPtr("1000")}, orders.Name); err != nil {
		t.Fatal(err)
	}
	const password = "set-before-k3sync"
	if _, err := e.admin.AlterUserSCRAMs(t.Context(), nil, []kadm.UpsertSCRAM{{
		User: "checkout.service", Mechanism: kadm.ScramSha512, Iterations: 4096, Password: password,
	}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the topic made out of band shows", func() bool { return len(e.dynamicConfigs(t, orders.Name)) == 1 })
	eventually(t, "the user made out of band shows", func() bool {
		described, err := e.admin.DescribeUserSCRAMs(t.Context(), "checkout.service")
		return err == nil && len(described["checkout.service"].CredInfos) == 1
	})

	changes := e.plan(t, d.Request())
	topic := changeOf(t, changes, key("checkout", "topic", orders.Name))
	if topic.Action != plan.Adopt || !slices.ContainsFunc(topic.Fields, func(f plan.FieldChange) bool { return f.Path == "configs.retention.ms" }) {
		t.Errorf("topic made out of band: %s %+v, want adopt setting Git's retention.ms", topic.Action, topic.Fields)
	}
	user := changeOf(t, changes, key("checkout", "user", "checkout.service"))
	if user.Action != plan.Adopt || len(user.Fields) != 0 || !strings.Contains(strings.Join(user.Notes, " "), "existing password keeps working") {
		t.Errorf("user made out of band: %s %+v %q, want adopt keeping its password", user.Action, user.Fields, user.Notes)
	}
	for _, c := range changes {
		if c.Tenant == "checkout" && c.Action == plan.Blocked {
			t.Errorf("%s blocked though the tenant adopts: %q", c.Key, c.Notes)
		}
	}

	checkResults(t, e.apply(t, d.Request()))
	if got := e.dynamicConfigs(t, orders.Name)["retention.ms"]; got != "259200000" {
		t.Errorf("adopted topic's retention.ms: %q, want Git's", got)
	}
	if e.sink.password("checkout/checkout.service") != "" {
		t.Error("a password was delivered for the adopted user")
	}
	if p.isBroker() { // kfake's SCRAM server only takes 4096 iterations
		if err := e.login(t, "checkout.service", password, "SCRAM-SHA-512", true); err != nil {
			t.Errorf("the adopted user's own password stopped working: %v", err)
		}
	}
	owned := e.owned(t, "checkout")
	for _, id := range []string{"topic/" + orders.Name, "user/checkout.service"} {
		if !slices.Contains(owned, id) {
			t.Errorf("the inventory lacks %s: %v", id, owned)
		}
	}
	if again := e.plan(t, d.Request()); slices.ContainsFunc(again, func(c plan.Change) bool { return c.Tenant == "checkout" }) {
		t.Errorf("plan after adopting:\n%s", planText(t, again))
	}
}
