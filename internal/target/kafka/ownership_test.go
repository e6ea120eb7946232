package kafka

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/k3sync/k3sync/internal/config"
	"github.com/k3sync/k3sync/internal/plan"
	"github.com/k3sync/k3sync/internal/render"
)

// changeOf returns the planned change of k, failing the test without one.
func changeOf(t *testing.T, changes []plan.Change, k plan.Key) plan.Change {
	t.Helper()
	for _, c := range changes {
		if c.Key == k {
			return c
		}
	}
	t.Fatalf("no change for %s in:\n%s", k, planText(t, changes))
	return plan.Change{}
}

// checkResults checks that exactly the changes in blocked were refused as
// blocked and that every other change was made.
func checkResults(t *testing.T, results []plan.Result, blocked ...plan.Key) {
	t.Helper()
	for _, r := range results {
		switch {
		case slices.Contains(blocked, r.Key):
			if !errors.Is(r.Err, plan.ErrBlocked) {
				t.Errorf("%s: %v, want blocked", r.Key, r.Err)
			}
		case r.Err != nil:
			t.Errorf("%s: %v", r.Key, r.Err)
		}
	}
}

// TestTopicNotOwnedIsBlocked: a topic someone else created with the name
// Git wants is never altered, configured or recorded, so removing it from
// Git, even with deletion allowed, deletes nothing; the tenant's other
// resources are made.
func TestTopicNotOwnedIsBlocked(t *testing.T) { onPeers(t, testTopicNotOwnedIsBlocked) }

func testTopicNotOwnedIsBlocked(t *testing.T, p peer) {
	e := p.env(t)
	d := example(t)
	fitBroker(p, d)
	theirs := map[string]*string{"retention.ms": kadm.StringPtr("1000"), "compression.type": kadm.StringPtr("gzip")}
	if _, err := e.admin.CreateTopic(t.Context(), 3, 1, theirs, "payments.transactions"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the foreign topic shows", func() bool { return len(e.dynamicConfigs(t, "payments.transactions")) == 2 })
	k := key("payments", "topic", "payments.transactions")
	changes := e.plan(t, d.Request())
	if diff := cmp.Diff(plan.NotOwned(k, levelTopics, ""), changeOf(t, changes, k)); diff != "" {
		t.Errorf("foreign topic (-want +got):\n%s", diff)
	}
	for _, c := range changes {
		if c.Key != k && c.Action != plan.Create {
			t.Errorf("%s %s: only the foreign topic is blocked", c.Action, c.Key)
		}
	}

	checkResults(t, e.apply(t, d.Request()), k)
	if got := e.topics(t)["payments.transactions"]; got != 3 {
		t.Errorf("foreign topic has %d partitions, want its own 3", got)
	}
	want := map[string]string{"retention.ms": "1000", "compression.type": "gzip"}
	if diff := cmp.Diff(want, e.dynamicConfigs(t, "payments.transactions")); diff != "" {
		t.Errorf("foreign topic's configs changed (-want +got):\n%s", diff)
	}
	if _, ok := e.topics(t)["payments.ledger"]; !ok {
		t.Error("the tenant's other topics were not created")
	}
	if slices.Contains(e.owned(t, "payments"), "topic/payments.transactions") {
		t.Error("the foreign topic entered the inventory")
	}
	// Blocked again, not drift, not adopted: the plan stays as it was.
	if diff := cmp.Diff([]string{"blocked topic payments.transactions"}, summary(e.plan(t, d.Request()))); diff != "" {
		t.Errorf("plan after apply (-want +got):\n%s", diff)
	}

	// Removed from Git with deletion allowed: nothing of it is deleted.
	d.removeTopic(t, "payments", "payments.transactions")
	req := d.Request()
	req.Platform.Policy.Deletion.AllowTopicDeletion = true
	if changes := e.plan(t, req); len(changes) != 0 {
		t.Errorf("plan once removed from Git:\n%s", planText(t, changes))
	}
	e.apply(t, req)
	if got := e.topics(t)["payments.transactions"]; got != 3 {
		t.Errorf("foreign topic gone or changed once removed from Git: %d partitions", got)
	}
}

// TestUserNotOwnedIsBlocked: a SCRAM user someone else made is not given
// a new password (that would take over their login), nor the tenant's ACLs
// and quota; the login still works afterwards.
func TestUserNotOwnedIsBlocked(t *testing.T) {
	onPeers(t, func(t *testing.T, p peer) {
		if p.isBroker() {
			testUserNotOwnedIsBlocked(t, p, p.env(t))
			return
		}
		// kfake, with SCRAM logins; k3sync's password from the
		// environment.
		c := cluster(t, kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-512", "k3sync", "admin-secret"))
		t.Setenv("K3SYNC_TEST_KAFKA_PASSWORD", "admin-secret")
		e := envOn(t, c, config.Kafka{
			Brokers: c.ListenAddrs(),
			SASL:    &config.SASL{Mechanism: "SCRAM-SHA-512", Username: "k3sync", Secret: config.Secret{PasswordEnv: "K3SYNC_TEST_KAFKA_PASSWORD"}},
		}, kgo.SASL(scram.Auth{User: "k3sync", Pass: "admin-secret"}.AsSha512Mechanism()))
		testUserNotOwnedIsBlocked(t, p, e)
	})
}

func testUserNotOwnedIsBlocked(t *testing.T, p peer, e *env) {
	d := example(t)
	fitBroker(p, d)
	if _, err := e.admin.AlterUserSCRAMs(t.Context(), nil, []kadm.UpsertSCRAM{{User: "checkout.service", Mechanism: kadm.ScramSha256, Iterations: 4096, Password: "theirs"}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the foreign user shows", func() bool {
		users, err := e.admin.DescribeUserSCRAMs(t.Context(), "checkout.service")
		return err == nil && users["checkout.service"].Err == nil
	})
	user := key("checkout", "user", "checkout.service")
	changes := e.plan(t, d.Request())
	if diff := cmp.Diff(plan.NotOwned(user, levelAccess, "SCRAM credentials SCRAM-SHA-256 set outside k3sync"), changeOf(t, changes, user)); diff != "" {
		t.Errorf("foreign user (-want +got):\n%s", diff)
	}
	blocked := []plan.Key{user}
	for _, c := range changes {
		isCheckoutAccess := c.Tenant == "checkout" && (c.Kind == kindACL && strings.HasPrefix(c.Name, "User:checkout.service ") || c.Kind == kindQuota)
		switch {
		case c.Key == user:
		case isCheckoutAccess:
			blocked = append(blocked, c.Key)
			if diff := cmp.Diff(plan.InsideNotOwned(c.Key, levelAccess, user), c); diff != "" {
				t.Errorf("access of the foreign user (-want +got):\n%s", diff)
			}
		case c.Action != plan.Create:
			t.Errorf("%s %s: only the foreign user and its access are blocked", c.Action, c.Key)
		}
	}
	if len(blocked) != 6 { // the user, 4 ACL bindings, the quota
		t.Errorf("blocked %v, want the user, its 4 ACL bindings and its quota", blocked)
	}

	checkResults(t, e.apply(t, d.Request()), blocked...)
	if pw := e.sink.password("checkout/checkout.service"); pw != "" {
		t.Error("a password was generated for someone else's user")
	}
	users, err := e.admin.DescribeUserSCRAMs(t.Context(), "checkout.service")
	if err != nil {
		t.Fatal(err)
	}
	got := users["checkout.service"]
	if got.Err != nil || len(got.CredInfos) != 1 || got.CredInfos[0].Mechanism != kadm.ScramSha256 || got.CredInfos[0].Iterations != 4096 {
		t.Errorf("foreign user's credentials changed: %+v", got)
	}
	for _, a := range e.acls(t) {
		if strings.HasPrefix(a, "User:checkout.service ") {
			t.Errorf("ACL granted to someone else's login: %s", a)
		}
	}
	if q, err := e.admin.DescribeClientQuotas(t.Context(), false, nil); err != nil || len(quotasOf(q, "checkout.service")) != 0 {
		t.Errorf("quota set on someone else's user: %v %v", q, err)
	}
	for _, id := range e.owned(t, "checkout") {
		if strings.Contains(id, "checkout.service") {
			t.Errorf("inventory of checkout holds %s", id)
		}
	}
	// Their login still works with their password.
	if err := e.login(t, "checkout.service", "theirs", "SCRAM-SHA-256", true); err != nil {
		t.Errorf("the foreign user can no longer log in: %v", err)
	}
}

// quotasOf returns the quota values of a user entity.
func quotasOf(qs []kadm.DescribedClientQuota, user string) map[string]float64 {
	out := map[string]float64{}
	for _, q := range qs {
		if len(q.Entity) == 1 && q.Entity[0].Type == "user" && q.Entity[0].Name != nil && *q.Entity[0].Name == user {
			for _, v := range q.Values {
				out[v.Key] = v.Value
			}
		}
	}
	return out
}

// TestACLAndQuotaNotOwnedAreBlocked: a binding identical to one Git wants,
// made by someone else, is not recorded (k3sync would delete it once Git
// drops it); a quota entity someone else set is not changed.
func TestACLAndQuotaNotOwnedAreBlocked(t *testing.T) { onPeers(t, testACLAndQuotaNotOwnedAreBlocked) }

func testACLAndQuotaNotOwnedAreBlocked(t *testing.T, p peer) {
	e := p.env(t)
	d := example(t)
	fitBroker(p, d)
	theirs := kadm.NewACLs().Allow("User:checkout.service").AllowHosts("*").Topics("checkout.").
		ResourcePatternType(kadm.ACLPatternPrefixed).Operations(kadm.OpRead)
	if _, err := e.admin.CreateACLs(t.Context(), theirs); err != nil {
		t.Fatal(err)
	}
	set := []kadm.AlterClientQuotaEntry{{
		Entity: []kadm.ClientQuotaEntityComponent{{Type: "user", Name: kadm.StringPtr("checkout.service")}},
		Ops:    []kadm.AlterClientQuotaOp{{Key: "producer_byte_rate", Value: 1024}},
	}}
	if _, err := e.admin.AlterClientQuotas(t.Context(), set); err != nil {
		t.Fatal(err)
	}
	acl := key("checkout", "acl", "User:checkout.service allow read topic prefixed:checkout. from *")
	quota := key("checkout", "quota", "checkout.service")
	eventually(t, "the foreign ACL and quota show", func() bool {
		q, err := e.admin.DescribeClientQuotas(t.Context(), false, nil)
		return err == nil && len(quotasOf(q, "checkout.service")) == 1 && slices.Contains(e.acls(t), acl.Name)
	})
	changes := e.plan(t, d.Request())
	if diff := cmp.Diff(plan.NotOwned(acl, levelAccess, "an identical binding made outside k3sync"), changeOf(t, changes, acl)); diff != "" {
		t.Errorf("foreign ACL (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(plan.NotOwned(quota, levelAccess, "set outside k3sync: producer_byte_rate=1024"), changeOf(t, changes, quota)); diff != "" {
		t.Errorf("foreign quota (-want +got):\n%s", diff)
	}
	checkResults(t, e.apply(t, d.Request()), acl, quota)
	q, err := e.admin.DescribeClientQuotas(t.Context(), false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]float64{"producer_byte_rate": 1024}, quotasOf(q, "checkout.service")); diff != "" {
		t.Errorf("foreign quota changed (-want +got):\n%s", diff)
	}
	owned := e.owned(t, "checkout")
	if slices.Contains(owned, "acl/"+acl.Name) || slices.Contains(owned, "quota/checkout.service") {
		t.Errorf("foreign resources entered the inventory: %v", owned)
	}
	if !slices.Contains(owned, "user/checkout.service") {
		t.Errorf("the tenant's own user was not made: %v", owned)
	}

	// The user leaves Git: k3sync deletes what it made of it, and
	// neither the foreign binding nor the foreign quota.
	k := d.kafka(t, "checkout")
	k.Users, k.Quotas = nil, nil
	k.ACLs = slices.DeleteFunc(k.ACLs, func(a render.KafkaACL) bool { return a.Principal == "User:checkout.service" })
	e.apply(t, d.Request())
	if !slices.Contains(e.acls(t), acl.Name) {
		t.Error("the foreign ACL binding was deleted")
	}
	if q, err := e.admin.DescribeClientQuotas(t.Context(), false, nil); err != nil || quotasOf(q, "checkout.service")["producer_byte_rate"] != 1024 {
		t.Errorf("the foreign quota was removed: %v", err)
	}
}
