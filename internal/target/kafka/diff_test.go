package kafka

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/k3sync/k3sync/internal/plan"
	"github.com/k3sync/k3sync/internal/render"
)

// TestDiffTopic is the three-way topic diff on its own: Git, last applied
// and live, and the change and writes that follow.
func TestDiffTopic(t *testing.T) {
	git := &render.KafkaTopic{Name: "a.t", Partitions: 6, ReplicationFactor: 3, Configs: map[string]string{"retention.ms": "1000", "cleanup.policy": "compact"}}
	with := func(f func(*render.KafkaTopic)) *render.KafkaTopic {
		c := *git
		c.Configs = map[string]string{}
		for k, v := range git.Configs {
			c.Configs[k] = v
		}
		f(&c)
		return &c
	}
	// live is a topic as git, with changes.
	live := func(parts int32, rf int16, dynamic map[string]string) *liveTopic {
		lt := &liveTopic{partitions: parts, replication: rf, configs: map[string]liveConfig{
			"retention.ms":   {value: "604800000", def: "604800000", hasDefault: true},
			"cleanup.policy": {value: "delete", def: "delete", hasDefault: true},
		}}
		for k, v := range dynamic {
			lt.configs[k] = liveConfig{value: v, dynamic: true, def: lt.configs[k].def, hasDefault: lt.configs[k].hasDefault}
		}
		return lt
	}
	inSync := map[string]string{"retention.ms": "1000", "cleanup.policy": "compact"}
	for _, tc := range []struct {
		name       string
		want, base *render.KafkaTopic
		live       *liveTopic
		change     *plan.Change // nil: no change
		work       *topicWork
	}{{
		name: "missing",
		want: git,
		change: &plan.Change{Action: plan.Create, Fields: []plan.FieldChange{
			{Path: "partitions", After: int32(6)}, {Path: "replicationFactor", After: int16(3)},
			{Path: "configs.cleanup.policy", After: "compact"}, {Path: "configs.retention.ms", After: "1000"},
		}},
		work: &topicWork{create: git},
	}, {
		name: "in sync",
		want: git, base: git, live: live(6, 3, inSync),
	}, {
		name: "equal after normalising",
		want: with(func(t *render.KafkaTopic) { t.Configs["cleanup.policy"] = "compact, delete" }),
		base: git, live: live(6, 3, map[string]string{"retention.ms": "1000", "cleanup.policy": "compact,delete"}),
	}, {
		name: "changed in Git",
		want: with(func(t *render.KafkaTopic) { t.Configs["retention.ms"] = "2000" }), base: git, live: live(6, 3, inSync),
		change: &plan.Change{Action: plan.Update, Fields: []plan.FieldChange{{Path: "configs.retention.ms", Before: "1000", After: "2000"}}},
		work:   &topicWork{set: map[string]string{"retention.ms": "2000"}},
	}, {
		name: "drift",
		want: git, base: git, live: live(6, 3, map[string]string{"retention.ms": "5", "cleanup.policy": "compact"}),
		change: &plan.Change{Action: plan.Update, Drift: true, Fields: []plan.FieldChange{{Path: "configs.retention.ms", Before: "5", After: "1000", Drift: true}}},
		work:   &topicWork{set: map[string]string{"retention.ms": "1000"}},
	}, {
		name: "removed from Git: reset",
		want: with(func(t *render.KafkaTopic) { delete(t.Configs, "retention.ms") }), base: git, live: live(6, 3, inSync),
		change: &plan.Change{Action: plan.Update, Fields: []plan.FieldChange{{Path: "configs.retention.ms", Before: "1000", After: "604800000"}},
			Notes: []string{"configs.retention.ms is no longer set in Git: k3sync removes it from the topic, which falls back to the default"}},
		work: &topicWork{set: map[string]string{}, reset: []string{"retention.ms"}},
	}, {
		name: "removed from Git, broker default differs",
		want: with(func(t *render.KafkaTopic) { delete(t.Configs, "retention.ms") }), base: git,
		live: func() *liveTopic {
			lt := live(6, 3, inSync)
			lt.configs["retention.ms"] = liveConfig{value: "1000", dynamic: true, def: "86400000", hasDefault: true}
			return lt
		}(),
		change: &plan.Change{Action: plan.Update, Fields: []plan.FieldChange{{Path: "configs.retention.ms", Before: "1000", After: "604800000"}},
			Notes: []string{"configs.retention.ms is no longer set in Git: k3sync removes it from the topic, which falls back to the default (this cluster's default is 86400000)"}},
		work: &topicWork{set: map[string]string{}, reset: []string{"retention.ms"}},
	}, {
		name: "removed from Git, already default",
		want: with(func(t *render.KafkaTopic) { delete(t.Configs, "retention.ms") }), base: git,
		live: live(6, 3, map[string]string{"cleanup.policy": "compact"}),
	}, {
		name: "foreign key, nothing else",
		want: git, base: git, live: live(6, 3, map[string]string{"retention.ms": "1000", "cleanup.policy": "compact", "segment.ms": "1"}),
	}, {
		name: "partitions grow",
		want: with(func(t *render.KafkaTopic) { t.Partitions = 8 }), base: git, live: live(6, 3, inSync),
		change: &plan.Change{Action: plan.Update, Fields: []plan.FieldChange{{Path: "partitions", Before: int32(6), After: int32(8)}}},
		work:   &topicWork{partitions: 8, set: map[string]string{}},
	}, {
		name: "partitions shrink",
		want: with(func(t *render.KafkaTopic) { t.Partitions = 3; t.Configs["retention.ms"] = "9" }), base: git, live: live(6, 3, inSync),
		change: &plan.Change{Action: plan.Blocked,
			Fields: []plan.FieldChange{{Path: "partitions", Before: int32(6), After: int32(3)}, {Path: "configs.retention.ms", Before: "1000", After: "9"}},
			Notes: []string{
				"partition decrease from 6 to 3 is impossible in Kafka: create a new topic with 3 partitions, migrate producers and consumers to it, then remove this one from Git",
				"no other change is made to this topic until Git asks for what Kafka can do",
			}},
	}, {
		name: "replication factor",
		want: with(func(t *render.KafkaTopic) { t.ReplicationFactor = 2 }), base: git, live: live(6, 3, inSync),
		change: &plan.Change{Action: plan.Blocked,
			Fields: []plan.FieldChange{{Path: "replicationFactor", Before: int16(3), After: int16(2)}},
			Notes: []string{
				"replication factor change from 3 to 2 is not done by k3sync: reassign the partitions with kafka-reassign-partitions.sh (or Cruise Control); the topic is in sync once Kafka matches Git",
				"no other change is made to this topic until Git asks for what Kafka can do",
			}},
	}, {
		name: "deleted out of band",
		want: git, base: git,
		change: &plan.Change{Action: plan.Create, Drift: true, Fields: []plan.FieldChange{
			{Path: "partitions", After: int32(6)}, {Path: "replicationFactor", After: int16(3)},
			{Path: "configs.cleanup.policy", After: "compact"}, {Path: "configs.retention.ms", After: "1000"},
		}, Notes: []string{"deleted outside k3sync, which owns it: k3sync creates it again, empty"}},
		work: &topicWork{create: git},
	}, {
		name: "deletable changed",
		want: with(func(t *render.KafkaTopic) { t.Deletable = true }), base: git, live: live(6, 3, inSync),
		change: &plan.Change{Action: plan.Update, Fields: []plan.FieldChange{{Path: "deletable", Before: false, After: true}}},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			it := &item{}
			changed := diffTopic(it, tc.want, tc.base, tc.live)
			if tc.change == nil {
				if changed {
					t.Fatalf("unexpected change: %+v", it.change)
				}
				return
			}
			if !changed {
				t.Fatal("no change")
			}
			// Drift is summed up when the change joins the plan.
			tp := &tenantPlan{}
			tp.add(it)
			if diff := cmp.Diff(*tc.change, it.change); diff != "" {
				t.Errorf("change (-want +got):\n%s", diff)
			}
			if tc.work != nil && tc.work.set == nil && it.topic != nil && len(it.topic.set) == 0 {
				it.topic.set = nil
			}
			if diff := cmp.Diff(tc.work, it.topic, cmp.AllowUnexported(topicWork{})); diff != "" {
				t.Errorf("work (-want +got):\n%s", diff)
			}
		})
	}
}

// TestSameConfig compares config values as the broker parses them.
func TestSameConfig(t *testing.T) {
	for _, tc := range []struct {
		key, a, b string
		same      bool
	}{
		{"cleanup.policy", "compact,delete", "compact, delete", true},
		{"cleanup.policy", "compact,delete", "delete,compact", false},
		{"preallocate", "TRUE", "true", true},
		{"retention.ms", "0100", "100", true},
		{"retention.ms", "100", "1000", false},
		{"min.cleanable.dirty.ratio", "0.50", "0.5", true},
		{"compression.type", "zstd", "ZSTD", false},
		{"unknown.key", "a", "a ", true},
		// Java's syntax, which the broker accepts and kafkaspec validates:
		// the same value, not a change planned on every apply.
		{"retention.ms", "+100", "100", true},
		{"min.insync.replicas", "\u0662", "2", true},
		{"min.cleanable.dirty.ratio", "0.5d", "0.5", true},
		{"retention.ms", "1e3", "1000", false},
	} {
		if got := sameConfig(tc.key, tc.a, tc.b); got != tc.same {
			t.Errorf("sameConfig(%s, %q, %q) = %v", tc.key, tc.a, tc.b, got)
		}
	}
}
