package kafka

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/k3sync/k3sync/internal/plan"
	"github.com/k3sync/k3sync/internal/render"
)

// applied is an env on kfake with the example repo applied.
func applied(t *testing.T) (*env, *desired) {
	t.Helper()
	return appliedOn(t, peers[0])
}

// appliedOn is an env on p with the example repo applied.
func appliedOn(t *testing.T, p peer) (*env, *desired) {
	t.Helper()
	e := p.env(t)
	d := example(t)
	fitBroker(p, d)
	e.apply(t, d.Request())
	e.wire.reset()
	return e, d
}

// TestPlanNoopReads counts what a no-op plan asks Kafka: one request per
// kind, all in flight at once, so one round trip. The broker holds the
// first read for a while: reads sent one after another would take one
// round trip each. kfake only: holding a request is kfake's (Control);
// the requests a plan sends are counted on both peers by
// TestPlanReadsOnlyWhatIsManaged.
func TestPlanNoopReads(t *testing.T) {
	e, d := applied(t)
	e.warm(t)
	e.holdFirstRead(300 * time.Millisecond)
	if changes := e.plan(t, d.Request()); len(changes) != 0 {
		t.Fatalf("plan after apply:\n%s", planText(t, changes))
	}
	want := map[string]int{"Metadata": 1, "DescribeConfigs": 1, "DescribeACLs": 1, "DescribeClientQuotas": 1, "DescribeUserSCRAMCredentials": 1}
	if diff := cmp.Diff(want, e.wire.counts()); diff != "" {
		t.Errorf("requests of a no-op plan (-want +got):\n%s", diff)
	}
	if got := e.wire.roundTrips(); got != 1 {
		t.Errorf("a no-op plan took %d round trips, want 1", got)
	}
}

// TestPlanReadsOnlyWhatIsManaged: a tenant with topics only costs topic
// reads.
func TestPlanReadsOnlyWhatIsManaged(t *testing.T) { onPeers(t, testPlanReadsOnlyWhatIsManaged) }

func testPlanReadsOnlyWhatIsManaged(t *testing.T, p peer) {
	e := p.env(t)
	d := example(t)
	k := d.kafka(t, "checkout")
	k.ACLs, k.Quotas, k.Users = nil, nil, nil
	req := plan.Request{Platform: &d.Platform, Tenants: []plan.TenantRequest{{Desired: &render.Tenant{Name: "checkout", Kafka: k}}}}
	e.plan(t, req)
	if diff := cmp.Diff(map[string]int{"Metadata": 1, "DescribeConfigs": 1}, e.wire.counts()); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
}

// TestDrift changes things behind k3sync's back with another client: the
// plan shows drift on exactly what changed.
func TestDrift(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(t *testing.T, e *env)
		want   []plan.Change
	}{{
		name: "topic config",
		change: func(t *testing.T, e *env) {
			alter(t, e, "payments.transactions", kadm.AlterConfig{Op: kadm.SetConfig, Name: "retention.ms", Value: kmsg.StringPtr("1000")})
		},
		want: []plan.Change{{
			Key: key("payments", "topic", "payments.transactions"), Action: plan.Update, Drift: true,
			Fields: []plan.FieldChange{{Path: "configs.retention.ms", Before: "1000", After: "604800000", Drift: true}},
		}},
	}, {
		name: "topic config reset out of band",
		change: func(t *testing.T, e *env) {
			alter(t, e, "checkout.orders", kadm.AlterConfig{Op: kadm.DeleteConfig, Name: "retention.ms"})
		},
		want: []plan.Change{{
			Key: key("checkout", "topic", "checkout.orders"), Action: plan.Update, Drift: true,
			Fields: []plan.FieldChange{{Path: "configs.retention.ms", Before: "604800000", After: "259200000", Drift: true}},
		}},
	}, {
		name: "partitions added out of band",
		change: func(t *testing.T, e *env) {
			if _, err := e.admin.UpdatePartitions(t.Context(), 8, "payments.ledger"); err != nil {
				t.Fatal(err)
			}
		},
		want: []plan.Change{{
			Key: key("payments", "topic", "payments.ledger"), Action: plan.Blocked, Drift: true,
			Fields: []plan.FieldChange{{Path: "partitions", Before: int32(8), After: int32(6), Drift: true}},
			Notes: []string{
				"partition decrease from 8 to 6 is impossible in Kafka: create a new topic with 6 partitions, migrate producers and consumers to it, then remove this one from Git",
				"no other change is made to this topic until Git asks for what Kafka can do",
			},
		}},
	}, {
		name: "acl deleted",
		change: func(t *testing.T, e *env) {
			b := kadm.NewACLs().Groups("payments.api").ResourcePatternType(kadm.ACLPatternLiteral).Operations(kadm.OpRead).Allow("User:payments.api").AllowHosts("*")
			if _, err := e.admin.DeleteACLs(t.Context(), b); err != nil {
				t.Fatal(err)
			}
		},
		want: []plan.Change{{
			Key: key("payments", "acl", "User:payments.api allow read group literal:payments.api from *"), Action: plan.Create, Drift: true, Level: 1,
			Notes: []string{"deleted outside k3sync, which owns it: k3sync creates it again"},
		}},
	}, {
		name: "quota changed",
		change: func(t *testing.T, e *env) {
			_, err := e.admin.AlterClientQuotas(t.Context(), []kadm.AlterClientQuotaEntry{{
				Entity: []kadm.ClientQuotaEntityComponent{{Type: "user", Name: kmsg.StringPtr("checkout.service")}},
				Ops:    []kadm.AlterClientQuotaOp{{Key: "producer_byte_rate", Value: 1}, {Key: "consumer_byte_rate", Value: 2}},
			}})
			if err != nil {
				t.Fatal(err)
			}
		},
		want: []plan.Change{{
			Key: key("checkout", "quota", "checkout.service"), Action: plan.Update, Drift: true, Level: 1,
			Fields: []plan.FieldChange{{Path: "producer_byte_rate", Before: float64(1), After: float64(5242880), Drift: true}},
			Notes:  []string{"consumer_byte_rate=2 is set outside Git: k3sync leaves it as it is"},
		}},
	}, {
		name: "user deleted",
		change: func(t *testing.T, e *env) {
			if _, err := e.admin.AlterUserSCRAMs(t.Context(), []kadm.DeleteSCRAM{{User: "analytics.etl", Mechanism: kadm.ScramSha512}}, nil); err != nil {
				t.Fatal(err)
			}
		},
		want: []plan.Change{{
			Key: key("analytics", "user", "analytics.etl"), Action: plan.Create, Drift: true, Level: 1,
			Fields: []plan.FieldChange{
				{Path: "mechanism", After: "SCRAM-SHA-512"}, {Path: "iterations", After: int32(8192)},
				{Path: "password", After: generatedPassword, Sensitive: true},
			},
			Notes: []string{
				"k3sync generates the password and delivers it to the tenant before Kafka gets it",
				"deleted outside k3sync, which owns it: k3sync creates it again, with a new password",
			},
		}},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			onPeers(t, func(t *testing.T, p peer) {
				e, d := appliedOn(t, p)
				tc.change(t, e)
				var got []plan.Change
				eventually(t, "the plan shows the drift", func() bool {
					got = e.plan(t, d.Request())
					return len(got) > 0
				})
				if diff := cmp.Diff(tc.want, got); diff != "" {
					t.Errorf("plan (-want +got):\n%s", diff)
				}
				if got[0].Action == plan.Blocked {
					return
				}
				e.apply(t, d.Request())
				if again := e.plan(t, d.Request()); len(again) != 0 {
					t.Errorf("drift not reverted:\n%s", planText(t, again))
				}
			})
		})
	}
}

func key(tenant, kind, name string) plan.Key {
	return plan.Key{Tenant: tenant, System: plan.Kafka, Target: "main", Kind: kind, Name: name}
}

func alter(t *testing.T, e *env, topic string, cfg ...kadm.AlterConfig) {
	t.Helper()
	resp, err := e.admin.AlterTopicConfigs(t.Context(), cfg, topic)
	if err == nil {
		err = resp[0].Err
	}
	if err != nil {
		t.Fatal(err)
	}
}

// TestGitChanges edits Git: each change is planned as a change in Git
// (no drift), applied, and the next plan is empty.
func TestGitChanges(t *testing.T) {
	for _, tc := range []struct {
		name  string
		edit  func(t *testing.T, d *desired)
		want  []plan.Change
		check func(t *testing.T, e *env)
	}{{
		name: "config removed from Git is reset to the default",
		edit: func(t *testing.T, d *desired) {
			delete(d.topic(t, "payments", "payments.transactions").Configs, "compression.type")
		},
		want: []plan.Change{{
			Key: key("payments", "topic", "payments.transactions"), Action: plan.Update,
			Fields: []plan.FieldChange{{Path: "configs.compression.type", Before: "zstd", After: "producer"}},
			Notes:  []string{"configs.compression.type is no longer set in Git: k3sync removes it from the topic, which falls back to the default"},
		}},
		check: func(t *testing.T, e *env) {
			if v, ok := e.dynamicConfigs(t, "payments.transactions")["compression.type"]; ok {
				t.Errorf("compression.type is still set on the topic: %s", v)
			}
		},
	}, {
		name: "config changed",
		edit: func(t *testing.T, d *desired) {
			d.topic(t, "checkout", "checkout.carts").Configs["segment.ms"] = "3600000"
		},
		want: []plan.Change{{
			Key: key("checkout", "topic", "checkout.carts"), Action: plan.Update,
			Fields: []plan.FieldChange{{Path: "configs.segment.ms", Before: "86400000", After: "3600000"}},
		}},
	}, {
		name: "partitions increased",
		edit: func(t *testing.T, d *desired) {
			d.topic(t, "checkout", "checkout.carts").Partitions = 9
		},
		want: []plan.Change{{
			Key: key("checkout", "topic", "checkout.carts"), Action: plan.Update,
			Fields: []plan.FieldChange{{Path: "partitions", Before: int32(6), After: int32(9)}},
		}},
		check: func(t *testing.T, e *env) {
			if got := e.topics(t)["checkout.carts"]; got != 9 {
				t.Errorf("checkout.carts has %d partitions, want 9", got)
			}
		},
	}, {
		name: "deletion allowed later",
		edit: func(t *testing.T, d *desired) {
			d.topic(t, "checkout", "checkout.orders").Deletable = true
		},
		want: []plan.Change{{
			Key: key("checkout", "topic", "checkout.orders"), Action: plan.Update,
			Fields: []plan.FieldChange{{Path: "deletable", Before: false, After: true}},
		}},
	}, {
		name: "quota key removed",
		edit: func(t *testing.T, d *desired) {
			delete(d.kafka(t, "payments").Quotas[0].Values, "producer_byte_rate")
		},
		want: []plan.Change{{
			Key: key("payments", "quota", "payments.api"), Action: plan.Update, Level: 1,
			Fields: []plan.FieldChange{{Path: "producer_byte_rate", Before: float64(10485760)}},
		}},
	}, {
		name: "acl removed",
		edit: func(t *testing.T, d *desired) {
			k := d.kafka(t, "analytics")
			k.ACLs = k.ACLs[1:]
		},
		want: []plan.Change{{
			Key: key("analytics", "acl", "User:analytics.etl allow read group literal:analytics.etl from *"), Action: plan.Delete, Level: 1,
		}},
		check: func(t *testing.T, e *env) {
			for _, a := range e.acls(t) {
				if strings.Contains(a, "group literal:analytics.etl") {
					t.Errorf("ACL still there: %s", a)
				}
			}
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			onPeers(t, func(t *testing.T, p peer) {
				e, d := appliedOn(t, p)
				tc.edit(t, d)
				got := e.plan(t, d.Request())
				if diff := cmp.Diff(tc.want, got); diff != "" {
					t.Fatalf("plan (-want +got):\n%s", diff)
				}
				results := e.apply(t, d.Request())
				if len(results) != len(tc.want) {
					t.Errorf("apply: %d results, want %d", len(results), len(tc.want))
				}
				if tc.check != nil {
					tc.check(t, e)
				}
				if again := e.plan(t, d.Request()); len(again) != 0 {
					t.Errorf("not converged:\n%s", planText(t, again))
				}
			})
		})
	}
}

// TestBlocked: what Kafka cannot do is blocked with the way forward, and
// nothing of that topic is changed.
func TestBlocked(t *testing.T) { onPeers(t, testBlocked) }

func testBlocked(t *testing.T, p peer) {
	e, d := appliedOn(t, p)
	tt := d.topic(t, "checkout", "checkout.orders")
	tt.Partitions = 12
	tt.Configs["retention.ms"] = "1"
	d.topic(t, "analytics", "analytics.sessions").ReplicationFactor = 3
	changes := e.plan(t, d.Request())
	if diff := cmp.Diff([]string{"blocked topic analytics.sessions", "blocked topic checkout.orders"}, summary(changes)); diff != "" {
		t.Fatalf("plan (-want +got):\n%s", diff)
	}
	for _, c := range changes {
		if len(c.Notes) == 0 {
			t.Errorf("%s: blocked without a note", c.Key)
		}
	}
	if !strings.Contains(changes[0].Notes[0], "kafka-reassign-partitions") {
		t.Errorf("replication factor note: %q", changes[0].Notes[0])
	}
	if !strings.Contains(changes[1].Notes[0], "partition decrease from 24 to 12 is impossible") || !strings.Contains(changes[1].Notes[0], "create a new topic") {
		t.Errorf("partition decrease note: %q", changes[1].Notes[0])
	}
	results, err := e.target.Apply(t.Context(), d.Request(), plan.ApplyOptions{})
	if err != nil {
		t.Fatalf("blocked changes are not apply failures: %v", err)
	}
	for _, r := range results {
		if !errorsIs(r.Err, plan.ErrBlocked) {
			t.Errorf("%s: result error %v, want ErrBlocked", r.Key, r.Err)
		}
	}
	if got := e.wire.writes(); len(got) != 0 {
		t.Errorf("blocked changes wrote to Kafka: %v", got)
	}
	if got := e.topics(t)["checkout.orders"]; got != 24 {
		t.Errorf("checkout.orders has %d partitions", got)
	}
	if got := e.dynamicConfigs(t, "checkout.orders")["retention.ms"]; got != "259200000" {
		t.Errorf("checkout.orders retention.ms = %s: a blocked topic was changed", got)
	}
}

// TestForeignConfig: a config set on an owned topic by someone else is
// never erased; it is noted on the topic's change.
func TestForeignConfig(t *testing.T) { onPeers(t, testForeignConfig) }

func testForeignConfig(t *testing.T, p peer) {
	e, d := appliedOn(t, p)
	alter(t, e, "payments.ledger", kadm.AlterConfig{Op: kadm.SetConfig, Name: "max.message.bytes", Value: kmsg.StringPtr("2097152")})
	eventually(t, "max.message.bytes shows on payments.ledger", func() bool {
		return e.dynamicConfigs(t, "payments.ledger")["max.message.bytes"] == "2097152"
	})
	if changes := e.plan(t, d.Request()); len(changes) != 0 {
		t.Fatalf("a foreign config made a change:\n%s", planText(t, changes))
	}
	d.topic(t, "payments", "payments.ledger").Configs["min.compaction.lag.ms"] = "60000"
	want := []plan.Change{{
		Key: key("payments", "topic", "payments.ledger"), Action: plan.Update,
		Fields: []plan.FieldChange{{Path: "configs.min.compaction.lag.ms", Before: "3600000", After: "60000"}},
		Notes:  []string{"configs.max.message.bytes=2097152 is set outside Git: k3sync leaves it as it is"},
	}}
	if diff := cmp.Diff(want, e.plan(t, d.Request())); diff != "" {
		t.Fatalf("plan (-want +got):\n%s", diff)
	}
	e.apply(t, d.Request())
	if got := e.dynamicConfigs(t, "payments.ledger")["max.message.bytes"]; got != "2097152" {
		t.Errorf("foreign config erased: max.message.bytes = %q", got)
	}
}
