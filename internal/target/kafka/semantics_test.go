package kafka

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/k3sync/k3sync/internal/plan"
	"github.com/k3sync/k3sync/internal/render"
)

// What Kafka itself does, proved on the real broker (and, where kfake
// models it, on kfake too).

// configSources describes the configs of topic: key -> source.
func configSources(t *testing.T, e *env, topic string) map[string]kmsg.ConfigSource {
	t.Helper()
	out, err := describeSources(t, e, topic)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// describeSources is configSources returning the error: a topic just
// created out of band is UNKNOWN_TOPIC_OR_PARTITION to a broker whose
// metadata has not caught up yet.
func describeSources(t *testing.T, e *env, topic string) (map[string]kmsg.ConfigSource, error) {
	rcs, err := e.admin.DescribeTopicConfigs(t.Context(), topic)
	if err != nil {
		return nil, err
	}
	out := map[string]kmsg.ConfigSource{}
	for _, rc := range rcs {
		if rc.Err != nil {
			return nil, rc.Err
		}
		for _, c := range rc.Configs {
			out[c.Key] = c.Source
		}
	}
	return out, nil
}

// alterBroker sets (value != nil) or deletes broker configs: of broker
// "1" (DYNAMIC_BROKER_CONFIG) or, with broker "", the cluster-wide
// default (DYNAMIC_DEFAULT_BROKER_CONFIG).
func alterBroker(t *testing.T, e *env, broker, key string, value *string) {
	t.Helper()
	op := kadm.SetConfig
	if value == nil {
		op = kadm.DeleteConfig
	}
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	r := kmsg.NewIncrementalAlterConfigsRequestResource()
	r.ResourceType = kmsg.ConfigResourceTypeBroker
	r.ResourceName = broker
	c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
	c.Name, c.Op, c.Value = key, kmsg.IncrementalAlterConfigOp(op), value
	r.Configs = append(r.Configs, c)
	req.Resources = append(req.Resources, r)
	// Not t.Context(): the cleanup that puts the configs back runs once
	// it is canceled.
	resp, err := req.RequestWith(context.Background(), e.client)
	if err == nil && len(resp.Resources) == 1 {
		err = brokerError(resp.Resources[0].ErrorCode, resp.Resources[0].ErrorMessage)
	}
	if err != nil {
		t.Fatalf("alter broker %q config %s: %v", broker, key, err)
	}
}

// TestBrokerConfigSources: on the broker, every topic config has a value,
// most of them not the topic's own: Kafka's defaults (DEFAULT_CONFIG),
// the server.properties of the broker (STATIC_BROKER_CONFIG), configs set
// on a broker or on all of them at run time (DYNAMIC_BROKER_CONFIG,
// DYNAMIC_DEFAULT_BROKER_CONFIG). None of them is drift: k3sync only
// looks at what is set on the topic and at what Git sets. A topic config
// Git sets to the value it would have anyway is set on the topic and in
// sync. kfake does not model config sources (it reports the topic's own
// configs and its stock defaults), so this runs on the broker only.
func TestBrokerConfigSources(t *testing.T) {
	p := peers[1]
	e := p.env(t)
	// Broker configs are the broker's, shared by every test: put back.
	t.Cleanup(func() {
		alterBroker(t, e, "1", "log.retention.bytes", nil)
		alterBroker(t, e, "", "log.cleaner.delete.retention.ms", nil)
	})
	alterBroker(t, e, "1", "log.retention.bytes", kmsg.StringPtr("1073741824"))
	alterBroker(t, e, "", "log.cleaner.delete.retention.ms", kmsg.StringPtr("3600000"))

	tenant := &render.Tenant{Name: "cfg", Kafka: &render.KafkaResources{Cluster: "main", Topics: []render.KafkaTopic{{
		// Every config Git sets here is the value the topic would have
		// without it.
		Name: "cfg.pinned", Partitions: 1, ReplicationFactor: 1, Deletable: true, Configs: map[string]string{
			"cleanup.policy":       "delete",     // DEFAULT_CONFIG
			"retention.ms":         "604800000",  // DEFAULT_CONFIG
			"index.interval.bytes": "8192",       // STATIC_BROKER_CONFIG
			"retention.bytes":      "1073741824", // DYNAMIC_BROKER_CONFIG
			"delete.retention.ms":  "3600000",    // DYNAMIC_DEFAULT_BROKER_CONFIG
		},
	}, {
		// Git sets nothing: every config comes from the broker.
		Name: "cfg.inherits", Partitions: 1, ReplicationFactor: 1, Deletable: true,
	}}}}
	d := example(t)
	req := plan.Request{Revision: "test", Platform: &d.Platform, Tenants: []plan.TenantRequest{{Desired: tenant}}}

	e.createTopicOOB(t, "cfg.probe")
	eventually(t, "the broker configs show", func() bool {
		s, err := describeSources(t, e, "cfg.probe")
		return err == nil && s["retention.bytes"] == kmsg.ConfigSourceDynamicBrokerConfig && s["delete.retention.ms"] == kmsg.ConfigSourceDynamicDefaultBrokerConfig
	})
	e.apply(t, req)
	inherits := configSources(t, e, "cfg.inherits")
	for key, want := range map[string]kmsg.ConfigSource{
		"cleanup.policy":       kmsg.ConfigSourceDefaultConfig,
		"index.interval.bytes": kmsg.ConfigSourceStaticBrokerConfig,
		"retention.bytes":      kmsg.ConfigSourceDynamicBrokerConfig,
		"delete.retention.ms":  kmsg.ConfigSourceDynamicDefaultBrokerConfig,
	} {
		if inherits[key] != want {
			t.Errorf("cfg.inherits %s: source %v, want %v", key, inherits[key], want)
		}
	}
	if diff := cmp.Diff(tenant.Kafka.Topics[0].Configs, e.dynamicConfigs(t, "cfg.pinned")); diff != "" {
		t.Errorf("configs set on cfg.pinned (-want +got):\n%s", diff)
	}
	if got := e.dynamicConfigs(t, "cfg.inherits"); len(got) != 0 {
		t.Errorf("configs set on cfg.inherits: %v", got)
	}

	// Converged: the plan is empty, a second apply writes nothing.
	e.wire.reset()
	if again := e.plan(t, req); len(again) != 0 {
		t.Fatalf("plan after apply:\n%s", planText(t, again))
	}
	if results := e.apply(t, req); len(results) != 0 {
		t.Errorf("second apply made %d changes", len(results))
	}
	if got := e.wire.writes(); len(got) != 0 {
		t.Errorf("a no-op plan and apply wrote to Kafka: %v", got)
	}

	// The broker's configs change: not drift, on either topic.
	alterBroker(t, e, "1", "log.retention.bytes", kmsg.StringPtr("2147483648"))
	alterBroker(t, e, "", "log.cleaner.delete.retention.ms", kmsg.StringPtr("7200000"))
	eventually(t, "the new broker configs show", func() bool {
		rcs, err := e.admin.DescribeTopicConfigs(t.Context(), "cfg.inherits")
		if err != nil || len(rcs) != 1 {
			return false
		}
		n := 0
		for _, c := range rcs[0].Configs {
			if c.Key == "retention.bytes" && c.MaybeValue() == "2147483648" || c.Key == "delete.retention.ms" && c.MaybeValue() == "7200000" {
				n++
			}
		}
		return n == 2
	})
	if again := e.plan(t, req); len(again) != 0 {
		t.Errorf("plan after the broker's configs changed:\n%s", planText(t, again))
	}

	// Someone sets, on the topic that inherits everything, a config to
	// the value it has anyway: not drift (Git never set it).
	alter(t, e, "cfg.inherits", kadm.AlterConfig{Op: kadm.SetConfig, Name: "cleanup.policy", Value: kmsg.StringPtr("delete")})
	eventually(t, "cleanup.policy set on cfg.inherits shows", func() bool {
		return e.dynamicConfigs(t, "cfg.inherits")["cleanup.policy"] == "delete"
	})
	if again := e.plan(t, req); len(again) != 0 {
		t.Errorf("plan after a config was set to its default out of band:\n%s", planText(t, again))
	}

	// Git stops setting a config the broker also sets: it is removed from
	// the topic, which falls back to the broker's value; the plan says
	// what that value is.
	delete(tenant.Kafka.Topics[0].Configs, "retention.bytes")
	changes := e.plan(t, req)
	want := []plan.Change{{
		Key: key("cfg", "topic", "cfg.pinned"), Action: plan.Update,
		Fields: []plan.FieldChange{{Path: "configs.retention.bytes", Before: "1073741824", After: "-1"}},
		Notes:  []string{"configs.retention.bytes is no longer set in Git: k3sync removes it from the topic, which falls back to the default (this cluster's default is 2147483648)"},
	}}
	if diff := cmp.Diff(want, changes); diff != "" {
		t.Errorf("plan of a config dropped from Git (-want +got):\n%s", diff)
	}
	e.apply(t, req)
	if got := configSources(t, e, "cfg.pinned")["retention.bytes"]; got != kmsg.ConfigSourceDynamicBrokerConfig {
		t.Errorf("cfg.pinned retention.bytes: source %v after the reset, want the broker's", got)
	}
	if again := e.plan(t, req); len(again) != 0 {
		t.Errorf("plan after the reset:\n%s", planText(t, again))
	}
}

// createTopicOOB creates a topic out of band unless it exists.
func (e *env) createTopicOOB(t *testing.T, topic string) {
	t.Helper()
	if _, ok := e.topics(t)[topic]; ok {
		return
	}
	if _, err := e.admin.CreateTopic(t.Context(), 1, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
}

// TestTopicDeletionIsAsynchronous: a broker answers DeleteTopics once the
// controller committed it, and keeps listing the topic for a moment. An
// apply that deleted a topic is followed at once by a plan and an apply:
// nothing to do, nothing written, nothing recreated; put back in Git at
// once, the topic is created again, not blocked as someone else's. A topic
// deleted out of band while it still shows is created again once gone.
func TestTopicDeletionIsAsynchronous(t *testing.T) { onPeers(t, testTopicDeletionIsAsynchronous) }

func testTopicDeletionIsAsynchronous(t *testing.T, p peer) {
	e, d := appliedOn(t, p)
	dlq := *d.topic(t, "payments", "payments.dlq") // deletable
	d.removeTopic(t, "payments", "payments.dlq")
	if diff := cmp.Diff([]string{"delete topic payments.dlq"}, summary(e.plan(t, d.Request()))); diff != "" {
		t.Fatalf("plan (-want +got):\n%s", diff)
	}
	e.apply(t, d.Request())
	e.wire.reset()
	for i := range 3 {
		if again := e.plan(t, d.Request()); len(again) != 0 {
			t.Errorf("plan %d right after the delete:\n%s", i, planText(t, again))
		}
		if results := e.apply(t, d.Request()); len(results) != 0 {
			t.Errorf("apply %d right after the delete: %d changes", i, len(results))
		}
	}
	if got := e.wire.writes(); len(got) != 0 {
		t.Errorf("plans and applies right after the delete wrote: %v", got)
	}
	if _, ok := e.topics(t)["payments.dlq"]; ok {
		t.Error("the deleted topic still shows once the apply returned")
	}

	// Back in Git at once: created again.
	k := d.kafka(t, "payments")
	k.Topics = append(k.Topics, dlq)
	if diff := cmp.Diff([]string{"create topic payments.dlq"}, summary(e.plan(t, d.Request()))); diff != "" {
		t.Fatalf("plan once back in Git (-want +got):\n%s", diff)
	}
	for _, r := range e.apply(t, d.Request()) {
		if r.Err != nil {
			t.Errorf("%s: %v", r.Key, r.Err)
		}
	}
	if again := e.plan(t, d.Request()); len(again) != 0 {
		t.Errorf("plan after the topic was created again:\n%s", planText(t, again))
	}

	// Deleted out of band: whether the broker still lists it or not, the
	// plan never fails, and the topic is created again once gone.
	if _, err := e.admin.DeleteTopics(t.Context(), "payments.dlq"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the topic deleted out of band is planned again", func() bool {
		changes := e.plan(t, d.Request())
		return len(changes) == 1 && changes[0].Action == plan.Create && changes[0].Drift
	})
	e.apply(t, d.Request())
	if got := e.topics(t)["payments.dlq"]; got != int(dlq.Partitions) {
		t.Errorf("payments.dlq: %d partitions after it was created again", got)
	}
	if diff := cmp.Diff(dlq.Configs, e.dynamicConfigs(t, "payments.dlq")); diff != "" {
		t.Errorf("payments.dlq configs (-want +got):\n%s", diff)
	}
	if again := e.plan(t, d.Request()); len(again) != 0 {
		t.Errorf("plan after the topic was created again:\n%s", planText(t, again))
	}
}

// TestACLDeleteIsExact: ACL bindings are stored and described as Kafka
// has them, literal and prefixed apart; removing one from Git deletes
// exactly that binding, even next to bindings that differ from it only by
// pattern type, host, operation or permission, some of them k3sync's,
// some someone else's; a second apply writes nothing.
func TestACLDeleteIsExact(t *testing.T) { onPeers(t, testACLDeleteIsExact) }

func testACLDeleteIsExact(t *testing.T, p peer) {
	e, d := appliedOn(t, p)
	k := d.kafka(t, "payments")
	twin := func(pattern, host, op, perm string) render.KafkaACL {
		return render.KafkaACL{Principal: "User:payments.api", Host: host, ResourceType: "topic", ResourceName: "payments.", PatternType: pattern, Operation: op, Permission: perm}
	}
	// payments.api already reads prefixed:payments. (from *).
	ours := []render.KafkaACL{
		twin("literal", "*", "read", "allow"),
		twin("prefixed", "10.0.0.1", "read", "allow"),
		twin("prefixed", "*", "read", "deny"),
	}
	k.ACLs = append(k.ACLs, ours...)
	e.apply(t, d.Request())
	// Someone else's: literal, write.
	theirs := kadm.NewACLs().Topics("payments.").ResourcePatternType(kadm.ACLPatternLiteral).Operations(kadm.OpWrite).Allow("User:payments.api").AllowHosts("*")
	if _, err := e.admin.CreateACLs(t.Context(), theirs); err != nil {
		t.Fatal(err)
	}
	theirName := "User:payments.api allow write topic literal:payments. from *"
	eventually(t, "the foreign binding shows", func() bool { return slices.Contains(e.acls(t), theirName) })
	before := e.acls(t)
	for _, a := range ours {
		if !slices.Contains(before, aclName(normalACL(a))) {
			t.Errorf("binding not described as made: %s", aclName(normalACL(a)))
		}
	}
	e.wire.reset()
	if again := e.plan(t, d.Request()); len(again) != 0 {
		t.Fatalf("plan after apply:\n%s", planText(t, again))
	}
	e.apply(t, d.Request())
	if got := e.wire.writes(); len(got) != 0 {
		t.Errorf("a no-op apply wrote: %v", got)
	}

	for _, gone := range append([]render.KafkaACL{twin("prefixed", "*", "read", "allow")}, ours...) {
		name := aclName(normalACL(gone))
		before := e.acls(t)
		k.ACLs = slices.DeleteFunc(k.ACLs, func(a render.KafkaACL) bool { return aclName(normalACL(a)) == name })
		if diff := cmp.Diff([]string{"delete acl " + name}, summary(e.plan(t, d.Request()))); diff != "" {
			t.Fatalf("plan (-want +got):\n%s", diff)
		}
		e.apply(t, d.Request())
		want := slices.DeleteFunc(slices.Clone(before), func(a string) bool { return a == name })
		if diff := cmp.Diff(want, e.acls(t)); diff != "" {
			t.Errorf("removing %s: bindings after (-want +got):\n%s", name, diff)
		}
	}
	if !slices.Contains(e.acls(t), theirName) {
		t.Error("someone else's binding was deleted")
	}
	if again := e.plan(t, d.Request()); len(again) != 0 {
		t.Errorf("plan after the deletes:\n%s", planText(t, again))
	}
}

// TestQuotasAsDescribed: DescribeClientQuotas shows exactly the values
// k3sync set, as the broker stores them (doubles), including fractions
// and rates below one; the plan after is empty and a second apply writes
// nothing.
func TestQuotasAsDescribed(t *testing.T) { onPeers(t, testQuotasAsDescribed) }

func testQuotasAsDescribed(t *testing.T, p peer) {
	e, d := appliedOn(t, p)
	q := d.kafka(t, "payments").Quotas
	q[1].Values = map[string]float64{"request_percentage": 12.5, "controller_mutation_rate": 0.5, "consumer_byte_rate": 3 << 30}
	e.apply(t, d.Request())
	described, err := e.admin.DescribeClientQuotas(t.Context(), false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(q[1].Values, quotasOf(described, "payments.settlement")); diff != "" {
		t.Errorf("payments.settlement quotas (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(q[0].Values, quotasOf(described, "payments.api")); diff != "" {
		t.Errorf("payments.api quotas (-want +got):\n%s", diff)
	}
	e.wire.reset()
	if again := e.plan(t, d.Request()); len(again) != 0 {
		t.Fatalf("plan after apply:\n%s", planText(t, again))
	}
	e.apply(t, d.Request())
	if got := e.wire.writes(); len(got) != 0 {
		t.Errorf("a no-op apply wrote: %v", got)
	}
}

// TestApplyWaitsForItsWrites: an apply returns once the reads show what it
// wrote. kfake stands for a broker whose metadata lags: after the
// CreateAcls, it answers DescribeAcls three times as before it (no
// binding). The apply reads until it sees its bindings, so the plan after
// it is empty; without the wait, that plan would create them all again.
func TestApplyWaitsForItsWrites(t *testing.T) {
	e := newEnv(t)
	d := example(t)
	var created atomic.Bool
	var stale atomic.Int32
	stale.Store(3)
	e.cluster.Control(func(req kmsg.Request) (kmsg.Response, error, bool) {
		e.cluster.KeepControl()
		switch req.Key() {
		case int16(kmsg.CreateACLs):
			created.Store(true)
		case int16(kmsg.DescribeACLs):
			if created.Load() && stale.Add(-1) >= 0 {
				resp := kmsg.NewPtrDescribeACLsResponse()
				resp.SetVersion(req.GetVersion())
				return resp, nil, true
			}
		}
		return nil, nil, false
	})
	e.apply(t, d.Request())
	if n := stale.Load(); n > 0 {
		t.Errorf("the apply returned with %d stale answers to come", n)
	}
	if again := e.plan(t, d.Request()); len(again) != 0 {
		t.Errorf("plan after the apply:\n%s", planText(t, again))
	}
}

// TestApplyWaitsForItsConfigResets: a config Git no longer sets is
// removed from the topic, and the apply returns once the reads show it
// gone. kfake stands for a broker whose metadata lags: after the
// IncrementalAlterConfigs, it answers DescribeConfigs three times as
// before it (the config still set on the topic). Without the wait, the
// apply would return while the topic still shows the config, and a plan
// then would take it for one set outside Git.
func TestApplyWaitsForItsConfigResets(t *testing.T) {
	e := newEnv(t)
	tenant := &render.Tenant{Name: "cfg", Kafka: &render.KafkaResources{Cluster: "main", Topics: []render.KafkaTopic{{
		Name: "cfg.reset", Partitions: 1, ReplicationFactor: 1, Configs: map[string]string{"retention.ms": "3600000"},
	}}}}
	d := example(t)
	req := plan.Request{Revision: "test", Platform: &d.Platform, Tenants: []plan.TenantRequest{{Desired: tenant}}}
	e.apply(t, req)

	// What the broker answers before the reset: retention.ms set on the
	// topic.
	describe := kmsg.NewPtrDescribeConfigsRequest()
	describe.IncludeSynonyms = true
	r := kmsg.NewDescribeConfigsRequestResource()
	r.ResourceType, r.ResourceName = kmsg.ConfigResourceTypeTopic, "cfg.reset"
	describe.Resources = append(describe.Resources, r)
	before, err := describe.RequestWith(t.Context(), e.client)
	if err != nil {
		t.Fatal(err)
	}
	if got := e.dynamicConfigs(t, "cfg.reset")["retention.ms"]; got != "3600000" {
		t.Fatalf("retention.ms on cfg.reset: %q, want 3600000", got)
	}

	var altered atomic.Bool
	var stale atomic.Int32
	stale.Store(3)
	e.cluster.Control(func(req kmsg.Request) (kmsg.Response, error, bool) {
		e.cluster.KeepControl()
		switch req.Key() {
		case int16(kmsg.IncrementalAlterConfigs):
			altered.Store(true)
		case int16(kmsg.DescribeConfigs):
			if altered.Load() && stale.Add(-1) >= 0 {
				resp := *before
				resp.SetVersion(req.GetVersion())
				return &resp, nil, true
			}
		}
		return nil, nil, false
	})
	tenant.Kafka.Topics[0].Configs = nil
	e.apply(t, req)
	if n := stale.Load(); n > 0 {
		t.Errorf("the apply returned with %d stale answers to come", n)
	}
	if got, ok := e.dynamicConfigs(t, "cfg.reset")["retention.ms"]; ok {
		t.Errorf("retention.ms still set on cfg.reset after the apply: %s", got)
	}
}
