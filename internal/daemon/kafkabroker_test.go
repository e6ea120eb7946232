package daemon

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/scram"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/k3sync/k3sync/internal/credentials"
	"github.com/k3sync/k3sync/internal/plan"
	"github.com/k3sync/k3sync/internal/render"
	kafkaenv "github.com/k3sync/k3sync/internal/testenv/kafka"
	"github.com/k3sync/k3sync/internal/view"
)

// TestEndToEndOnKafkaBroker follows the example repo through on a real
// Apache Kafka cluster (three KRaft nodes: the example's topics want
// three replicas), which k3sync reaches as the super user over
// SASL_PLAINTEXT with SCRAM-SHA-512, through a proxy that counts its
// writes: a commit is applied as the broker describes it (topics with
// Git's partitions, replicas and configs; ACLs; client quotas; SCRAM users
// that log in with the password k3sync delivered into their Secret), a
// no-op revision writes nothing to Kafka, a topic config changed out of
// band is reported for both tenants and reverted for payments (drift
// policy revert) only, and removing checkout's folder offboards its Kafka
// access (ACLs, quota, SCRAM user and Secret) and orphans its topics,
// which it may not delete, while a topic Git drops with deletion allowed
// (payments.dlq) is deleted.
func TestEndToEndOnKafkaBroker(t *testing.T) {
	begin := time.Now()
	p, d := startDaemon(t, withKafkaBroker(kafkaenv.Options{Brokers: 3}))
	ctx := t.Context()
	rec := d.Reconciler
	cl, err := p.broker.Client() // straight to the brokers: not counted
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	adm := kadm.NewClient(cl)
	l := &leftovers{t: t, p: p, adm: adm, store: d.store}
	t.Logf("peers and daemon ready in %s", time.Since(begin).Round(time.Millisecond))

	// Commit → poll → apply.
	step := time.Now()
	rec.PollOnce(ctx)
	o, err := rec.Overview(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]view.State{"analytics": view.Suspended, "checkout": view.Synced, "payments": view.Synced, "search": view.Synced}
	if got := states(o); fmt.Sprint(got) != fmt.Sprint(want) {
		for _, tn := range []string{"checkout", "payments"} {
			if tv, err := rec.Tenant(ctx, tn); err == nil && len(tv.History) > 0 {
				t.Logf("%s: %s %s", tn, tv.History[0].Result, tv.History[0].Message)
			}
		}
		t.Fatalf("after the first sync: %v, want %v", got, want)
	}
	t.Logf("first sync in %s, %d Kafka writes", time.Since(step).Round(time.Millisecond), p.kafkaWrts.Load())
	if p.kafkaWrts.Load() == 0 {
		t.Error("the proxy counted no Kafka write")
	}

	// Topics, as the broker describes them: Git's partitions, the
	// platform's 3 replicas, Git's configs and no other set on the topic.
	wantTopics := map[string]brokerTopic{
		"payments.transactions": {12, 3, map[string]string{"retention.ms": "604800000", "min.insync.replicas": "2", "cleanup.policy": "delete", "compression.type": "zstd"}},
		"payments.ledger":       {6, 3, map[string]string{"cleanup.policy": "compact", "min.compaction.lag.ms": "3600000"}},
		"payments.dlq":          {1, 3, map[string]string{"retention.ms": "1209600000"}},
		"checkout.orders":       {24, 3, map[string]string{"retention.ms": "259200000", "min.insync.replicas": "2"}},
		"checkout.carts":        {6, 3, map[string]string{"cleanup.policy": "compact,delete", "min.cleanable.dirty.ratio": "0.2", "segment.ms": "86400000"}},
	}
	settle(t, "the topics", func() (errs []string) {
		gotTopics := describeTopics(t, adm)
		for _, name := range slices.Sorted(maps.Keys(wantTopics)) {
			if got, want := fmt.Sprint(gotTopics[name]), fmt.Sprint(wantTopics[name]); got != want {
				errs = append(errs, fmt.Sprintf("topic %s: %s, want %s", name, got, want))
			}
		}
		if got := slices.Sorted(maps.Keys(gotTopics)); fmt.Sprint(got) != fmt.Sprint(slices.Sorted(maps.Keys(wantTopics))) {
			errs = append(errs, fmt.Sprintf("topics: %v (analytics is suspended)", got))
		}
		return errs
	})

	// ACLs, client quotas and SCRAM credentials, as the broker describes
	// them.
	wantACLs := map[string][]string{
		"payments.api": {
			"ALLOW CLUSTER LITERAL kafka-cluster IDEMPOTENT_WRITE *",
			"ALLOW GROUP LITERAL payments.api READ *",
			"ALLOW TOPIC PREFIXED payments. DESCRIBE *",
			"ALLOW TOPIC PREFIXED payments. READ *",
			"ALLOW TOPIC PREFIXED payments. WRITE *",
			"ALLOW TRANSACTIONAL_ID PREFIXED payments.api DESCRIBE *",
			"ALLOW TRANSACTIONAL_ID PREFIXED payments.api WRITE *",
		},
		"payments.settlement": {
			"ALLOW GROUP PREFIXED payments.settlement READ *",
			"ALLOW TOPIC LITERAL payments.ledger DESCRIBE *",
			"ALLOW TOPIC LITERAL payments.ledger READ *",
			"DENY TOPIC LITERAL payments.transactions WRITE *",
		},
		"checkout.service": {
			"ALLOW GROUP PREFIXED checkout. DESCRIBE *",
			"ALLOW GROUP PREFIXED checkout. READ *",
			"ALLOW TOPIC PREFIXED checkout. READ *",
			"ALLOW TOPIC PREFIXED checkout. WRITE *",
		},
	}
	wantQuotas := map[string]string{
		"payments.api":        "[consumer_byte_rate=20971520 producer_byte_rate=10485760]",
		"payments.settlement": "[controller_mutation_rate=10 request_percentage=50]",
		"checkout.service":    "[producer_byte_rate=5242880]",
	}
	wantSCRAM := map[string]string{
		"payments.api":        "SCRAM-SHA-512/8192",
		"payments.settlement": "SCRAM-SHA-256/8192",
		"checkout.service":    "SCRAM-SHA-512/8192",
	}
	settle(t, "the ACLs, quotas and SCRAM users", func() (errs []string) {
		scrams, err := adm.DescribeUserSCRAMs(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, user := range slices.Sorted(maps.Keys(wantACLs)) {
			if got := brokerACLs(t, adm, user); fmt.Sprint(got) != fmt.Sprint(wantACLs[user]) {
				errs = append(errs, fmt.Sprintf("ACLs of %s:\n%s\nwant\n%s", user, strings.Join(got, "\n"), strings.Join(wantACLs[user], "\n")))
			}
			if got := brokerQuotas(t, adm, user); got != wantQuotas[user] {
				errs = append(errs, fmt.Sprintf("quotas of %s: %s, want %s", user, got, wantQuotas[user]))
			}
			var creds []string
			for _, ci := range scrams[user].CredInfos {
				creds = append(creds, fmt.Sprintf("%s/%d", ci.Mechanism, ci.Iterations))
			}
			if got := strings.Join(creds, ","); got != wantSCRAM[user] {
				errs = append(errs, fmt.Sprintf("SCRAM credentials of %s: %q, want %s (render.ScramIterations %d)", user, got, wantSCRAM[user], render.ScramIterations))
			}
		}
		if _, ok := scrams["analytics.etl"]; ok {
			errs = append(errs, "analytics is suspended, its user was created")
		}
		return errs
	})

	// Every SCRAM user logs in with the password k3sync delivered into
	// its Secret, and sees the topics its ACLs let it describe.
	logins := []struct {
		tenant, user string
		clusters     []string
		topics       []string
	}{
		{"payments", "payments.api", []string{"eu-west", "us-east"}, []string{"payments.dlq", "payments.ledger", "payments.transactions"}},
		{"payments", "payments.settlement", []string{"eu-west", "us-east"}, []string{"payments.ledger"}},
		{"checkout", "checkout.service", []string{"eu-west"}, []string{"checkout.carts", "checkout.orders"}},
	}
	passwords := map[string]string{}
	for _, lg := range logins {
		mech, pw := deliveredPassword(t, p, lg.tenant, lg.user, lg.clusters)
		passwords[lg.user] = pw
		if want := strings.Split(wantSCRAM[lg.user], "/")[0]; mech != want {
			t.Errorf("the Secret of %s says mechanism %q, want %s", lg.user, mech, want)
		}
		topics, err := loginAs(t, p, lg.user, pw, mech)
		switch {
		case mech == "SCRAM-SHA-256" && errors.Is(err, kerr.UnsupportedSaslMechanism):
			// The test harness's listener enables SCRAM-SHA-512 only.
			t.Logf("%s: the broker's listener does not enable %s: its credential is checked as described above, not by a login", lg.user, mech)
		case err != nil:
			t.Errorf("%s cannot log in with the delivered password: %v", lg.user, err)
		case fmt.Sprint(topics) != fmt.Sprint(lg.topics):
			t.Errorf("%s sees topics %v, want %v", lg.user, topics, lg.topics)
		}
	}

	// A revision that changes nothing any system sees writes nothing.
	k0, ka0, ko0 := p.writes(d)
	h0 := fileHash(t, p.cfg.State.Path)
	for _, tenant := range []string{"payments", "checkout"} {
		f := "tenants/" + tenant + "/tenant.cue"
		p.repo.WriteFile(f, readFile(t, p.repo.Work+"/"+f)+"\n// Reviewed by the platform team.\n")
	}
	p.repo.Commit("Review payments and checkout")
	rec.PollOnce(ctx)
	if k, ka, ko := p.writes(d); k != k0 || ka != ka0 || ko != ko0 {
		t.Errorf("no-op revision wrote: kubernetes %d, kafka %d, kong %d", k-k0, ka-ka0, ko-ko0)
	}
	if fileHash(t, p.cfg.State.Path) != h0 {
		t.Error("no-op revision wrote to the state file")
	}

	// Out-of-band: retention.ms of a topic of each tenant. The check
	// reports both; it reverts payments' (drift revert) with one write
	// and leaves checkout's (report).
	for _, topic := range []string{"payments.transactions", "checkout.orders"} {
		rs, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "retention.ms", Value: kadm.StringPtr("1000")}}, topic)
		if err == nil {
			_, err = rs.On(topic, nil)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	// Each broker applies a config change from the metadata log at its
	// own pace: the check sees both changes only once every broker it may
	// ask does.
	settle(t, "the out-of-band retention.ms on every broker", func() []string {
		return configEverywhere(t, cl, "retention.ms", "1000", "payments.transactions", "checkout.orders")
	})
	k0, ka0, ko0 = p.writes(d)
	rec.CheckDrift(ctx, "")
	drift, err := rec.Drift(ctx)
	if err != nil {
		t.Fatal(err)
	}
	bySystem := map[string]map[plan.System]bool{}
	for _, dr := range drift {
		for _, it := range dr.Items {
			if bySystem[dr.Tenant] == nil {
				bySystem[dr.Tenant] = map[plan.System]bool{}
			}
			bySystem[dr.Tenant][it.System] = true
		}
	}
	if got := fmt.Sprint(bySystem); got != "map[checkout:map[kafka:true] payments:map[kafka:true]]" {
		t.Errorf("drift report by tenant and system: %s", got)
	}
	if k, ka, ko := p.writes(d); k != k0 || ka != ka0+1 || ko != ko0 {
		t.Errorf("the drift check wrote: kubernetes %d, kafka %d, kong %d; want one Kafka write (IncrementalAlterConfigs)", k-k0, ka-ka0, ko-ko0)
	}
	settle(t, "the drifted topics", func() (errs []string) {
		gotTopics := describeTopics(t, adm)
		if got := gotTopics["payments.transactions"].configs["retention.ms"]; got != "604800000" {
			errs = append(errs, fmt.Sprintf("payments.transactions retention.ms after the check: %s, want Git's 604800000 (reverted)", got))
		}
		if got := gotTopics["checkout.orders"].configs["retention.ms"]; got != "1000" {
			errs = append(errs, fmt.Sprintf("checkout.orders retention.ms after the check: %s, want 1000 (drift report only)", got))
		}
		return errs
	})
	o, err = rec.Overview(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := states(o); got["checkout"] != view.Drifted || got["payments"] != view.Synced {
		t.Errorf("after the check: %v", got)
	}

	// checkout leaves Git: its Kafka access goes, its topics (deletion
	// not allowed) are orphaned. payments drops payments.dlq, which it may
	// delete.
	if got := l.kafka("checkout.service"); len(got) != 6 { // 4 ACLs, the user, the quota
		t.Fatalf("checkout's Kafka access before the removal: %v", got)
	}
	payments := fmt.Sprint(l.kafka("payments.api"), l.kafka("payments.settlement"))
	p.repo.Remove("tenants/checkout/tenant.cue")
	f := "tenants/payments/tenant.cue"
	dlq := "\t\t\"payments.dlq\": {\n\t\t\tpartitions: 1\n\t\t\tconfigs: \"retention.ms\": 1209600000\n\t\t\tdeletion: \"allow\"\n\t\t}\n"
	src := readFile(t, p.repo.Work+"/"+f)
	if !strings.Contains(src, dlq) {
		t.Fatalf("%s has no payments.dlq block to remove", f)
	}
	p.repo.WriteFile(f, strings.Replace(src, dlq, "", 1))
	p.repo.Commit("Offboard checkout, drop payments.dlq")
	_, ka0, _ = p.writes(d)
	rec.PollOnce(ctx)
	_, ka, _ := p.writes(d)
	t.Logf("offboarding: %d Kafka writes", ka-ka0)

	settle(t, "checkout's Kafka access", func() []string {
		if got := l.kafka("checkout.service"); len(got) > 0 {
			return []string{fmt.Sprintf("checkout's Kafka access left (ACLs, SCRAM user, quotas): %v", got)}
		}
		return nil
	})
	if got := l.credentials("eu-west", "checkout"); len(got) > 0 {
		t.Errorf("checkout's credential Secrets left: %v", got)
	}
	settle(t, "checkout.service's login", func() []string {
		if _, err := loginAs(t, p, "checkout.service", passwords["checkout.service"], "SCRAM-SHA-512"); !errors.Is(err, kerr.SaslAuthenticationFailed) {
			return []string{fmt.Sprintf("checkout.service logging in after the offboarding: %v, want SASL_AUTHENTICATION_FAILED", err)}
		}
		return nil
	})
	if got := l.inventory("checkout"); len(got) > 0 {
		t.Errorf("checkout's inventory is not empty: %v", got)
	}
	if row, ok := overviewRow(t, rec, "checkout"); ok {
		t.Errorf("the overview still lists checkout: %+v", row)
	}
	for _, id := range l.inventory("payments") {
		if strings.Contains(id, "payments.dlq") {
			t.Errorf("payments.dlq is still in payments' inventory: %s", id)
		}
	}
	wantTopics["checkout.orders"].configs["retention.ms"] = "1000" // orphaned as it was
	delete(wantTopics, "payments.dlq")
	settle(t, "the topics after the offboarding", func() (errs []string) {
		if got, want := fmt.Sprint(describeTopics(t, adm)), fmt.Sprint(wantTopics); got != want {
			errs = append(errs, fmt.Sprintf("topics after the offboarding:\n%s\nwant (checkout's orphaned, payments.dlq deleted)\n%s", got, want))
		}
		if got := fmt.Sprint(l.kafka("payments.api"), l.kafka("payments.settlement")); got != payments {
			errs = append(errs, fmt.Sprintf("payments' Kafka access changed:\n%s\nwas\n%s", got, payments))
		}
		return errs
	})
	if _, err := loginAs(t, p, "payments.api", passwords["payments.api"], "SCRAM-SHA-512"); err != nil {
		t.Errorf("payments.api cannot log in after checkout's offboarding: %v", err)
	}
	t.Logf("test took %s", time.Since(begin).Round(time.Millisecond))
}

// configEverywhere says which brokers do not describe config key of the
// topics as value.
func configEverywhere(t *testing.T, cl *kgo.Client, key, value string, topics ...string) (errs []string) {
	t.Helper()
	brokers, err := kadm.NewClient(cl).ListBrokers(t.Context())
	if err != nil {
		return []string{fmt.Sprintf("list brokers: %v", err)}
	}
	for _, b := range brokers {
		req := kmsg.NewPtrDescribeConfigsRequest()
		for _, topic := range topics {
			r := kmsg.NewDescribeConfigsRequestResource()
			r.ResourceType, r.ResourceName, r.ConfigNames = kmsg.ConfigResourceTypeTopic, topic, []string{key}
			req.Resources = append(req.Resources, r)
		}
		resp, err := req.RequestWith(t.Context(), cl.Broker(int(b.NodeID)))
		if err != nil {
			errs = append(errs, fmt.Sprintf("broker %d: describe configs: %v", b.NodeID, err))
			continue
		}
		for _, r := range resp.Resources {
			got := "(none)"
			for _, c := range r.Configs {
				if c.Name == key && c.Value != nil {
					got = *c.Value
				}
			}
			if err := kerr.ErrorForCode(r.ErrorCode); err != nil || got != value {
				errs = append(errs, fmt.Sprintf("broker %d: %s %s = %s (%v), want %s", b.NodeID, r.ResourceName, key, got, err, value))
			}
		}
	}
	return errs
}

// brokerTopic is a topic as the broker describes it; configs are those
// set on the topic (DYNAMIC_TOPIC_CONFIG).
type brokerTopic struct {
	partitions, replicas int
	configs              map[string]string
}

func (b brokerTopic) String() string {
	return fmt.Sprintf("%d partitions, %d replicas, configs %v", b.partitions, b.replicas, b.configs)
}

// describeTopics describes every topic but the internal ones.
func describeTopics(t *testing.T, adm *kadm.Client) map[string]brokerTopic {
	t.Helper()
	ctx := t.Context()
	details, err := adm.ListTopics(ctx)
	if err == nil {
		err = details.Error()
	}
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]brokerTopic{}
	if len(details) == 0 {
		return out
	}
	rcs, err := adm.DescribeTopicConfigs(ctx, details.Names()...)
	if err != nil {
		t.Fatal(err)
	}
	for _, td := range details {
		bt := brokerTopic{partitions: len(td.Partitions), replicas: td.Partitions.NumReplicas(), configs: map[string]string{}}
		rc, err := rcs.On(td.Topic, nil)
		if err != nil {
			t.Fatalf("describe configs of %s: %v", td.Topic, err)
		}
		for _, c := range rc.Configs {
			if c.Source == kmsg.ConfigSourceDynamicTopicConfig {
				bt.configs[c.Key] = c.MaybeValue()
			}
		}
		out[td.Topic] = bt
	}
	return out
}

// brokerACLs lists the ACL bindings of user as DescribeACLs shows them:
// permission, resource type, pattern, name, operation, host.
func brokerACLs(t *testing.T, adm *kadm.Client, user string) []string {
	t.Helper()
	principal := "User:" + user
	res, err := adm.DescribeACLs(t.Context(), kadm.NewACLs().AnyResource().ResourcePatternType(kadm.ACLPatternAny).
		Operations(kadm.OpAny).Allow(principal).AllowHosts().Deny(principal).DenyHosts())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range res {
		if r.Err != nil {
			t.Fatalf("describe ACLs of %s: %v", user, r.Err)
		}
		for _, a := range r.Described {
			out = append(out, fmt.Sprintf("%s %s %s %s %s %s", a.Permission, a.Type, a.Pattern, a.Name, a.Operation, a.Host))
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// brokerQuotas is the client quota of the user entity as
// DescribeClientQuotas shows it.
func brokerQuotas(t *testing.T, adm *kadm.Client, user string) string {
	t.Helper()
	qs, err := adm.DescribeClientQuotas(t.Context(), true, []kadm.DescribeClientQuotaComponent{{Type: "user", MatchName: &user}})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, q := range qs {
		for _, v := range q.Values {
			out = append(out, v.Key+"="+strconv.FormatFloat(v.Value, 'f', -1, 64))
		}
	}
	slices.Sort(out)
	return fmt.Sprint(out)
}

// deliveredPassword reads the Secret k3sync delivered for user in the
// tenant's home namespace on each of its clusters: the same mechanism and
// password everywhere.
func deliveredPassword(t *testing.T, p *peers, tenant, user string, clusters []string) (mechanism, password string) {
	t.Helper()
	for i, name := range clusters {
		s, err := p.clusters[name].CoreV1().Secrets(tenant).Get(t.Context(), credentials.KafkaSecretName(user), metav1.GetOptions{})
		if err != nil {
			t.Fatalf("%s: the Secret of %s: %v", name, user, err)
		}
		if got := string(s.Data["username"]); got != user {
			t.Errorf("%s: the Secret of %s names user %q", name, user, got)
		}
		m, pw := string(s.Data["mechanism"]), string(s.Data["password"])
		if pw == "" {
			t.Fatalf("%s: the Secret of %s has no password", name, user)
		}
		if i > 0 && (m != mechanism || pw != password) {
			t.Errorf("%s: the Secret of %s differs from %s's", name, user, clusters[0])
		}
		mechanism, password = m, pw
	}
	return mechanism, password
}

// loginAs logs in to the broker as user and returns the topics it may
// describe.
func loginAs(t *testing.T, p *peers, user, password, mechanism string) ([]string, error) {
	t.Helper()
	auth := scram.Auth{User: user, Pass: password}
	m := auth.AsSha512Mechanism()
	if mechanism == "SCRAM-SHA-256" {
		m = auth.AsSha256Mechanism()
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(p.broker.Bootstrap()...), kgo.SASL(m), kgo.DialTimeout(5*time.Second), kgo.RequestRetries(0))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	topics, err := kadm.NewClient(cl).ListTopics(t.Context())
	if err != nil {
		return nil, err //nolint:wrapcheck // the test reads the Kafka error
	}
	return topics.Names(), nil
}

// settle runs check until it finds nothing wrong, for up to 20 s, and
// reports what it found last. A broker answers from its copy of the
// KRaft metadata, which follows the controller's by a little: what a
// write's answer says is done is seen by every broker a moment later.
func settle(t *testing.T, what string, check func() []string) {
	t.Helper()
	start := time.Now()
	for try := 1; ; try++ {
		errs := check()
		if len(errs) == 0 {
			if try > 1 {
				t.Logf("%s settled after %s (%d checks)", what, time.Since(start).Round(time.Millisecond), try)
			}
			return
		}
		if time.Since(start) > 20*time.Second || t.Context().Err() != nil {
			for _, e := range errs {
				t.Error(e)
			}
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}
