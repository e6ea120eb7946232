package kafka

import (
	"fmt"
	"maps"
	"slices"

	"github.com/k3sync/k3sync/internal/plan"
	"github.com/k3sync/k3sync/internal/render"
)

// diffTopics plans the tenant's topics: desired ones against Kafka and the
// last applied state, then the owned ones Git no longer has.
func (t *Target) diffTopics(tp *tenantPlan, snap *snapshot, allowDelete bool) {
	want := map[string]*render.KafkaTopic{}
	if tp.desired != nil {
		for i := range tp.desired.Topics {
			want[tp.desired.Topics[i].Name] = &tp.desired.Topics[i]
		}
	}
	for _, name := range slices.Sorted(maps.Keys(want)) {
		it := t.newItem(tp, kindTopic, name, levelTopics)
		if !it.owned && snap.topics[name] != nil {
			if ok, _ := tp.adopts(it.id); ok {
				// Diffed as a topic whose last applied state is unknown:
				// Git's configs are set, others left as they are.
				diffTopic(it, want[name], nil, snap.topics[name])
				if it.change.Action != plan.Blocked {
					adopted(it, "")
					it.record = record(want[name])
				}
				tp.add(it)
				continue
			}
			t.notOwned(tp, kindTopic, name, levelTopics, "")
			continue
		}
		var base *render.KafkaTopic
		if it.owned {
			// A last applied value that does not decode is an owned
			// topic with nothing known about it.
			base = cmpOr(decode[render.KafkaTopic](tp.entry.Resources[it.id]), &render.KafkaTopic{Name: name})
		}
		if snap.topics[name] != nil {
			tp.confirm(it)
		}
		if diffTopic(it, want[name], base, snap.topics[name]) {
			tp.add(it)
		}
	}
	for _, id := range tp.owned(kindTopic) {
		_, name, _ := splitID(id)
		if want[name] != nil || t.keepClaimed(tp, id, levelTopics) {
			continue
		}
		live := snap.topics[name]
		if live == nil {
			tp.prune = append(tp.prune, id)
			continue
		}
		base := decode[render.KafkaTopic](tp.entry.Resources[id])
		it := t.newItem(tp, kindTopic, name, levelTopics)
		if allowDelete || base != nil && base.Deletable {
			it.change.Action = plan.Delete
			it.change.Fields = []plan.FieldChange{{Path: "partitions", Before: live.partitions}}
			it.change.Notes = []string{fmt.Sprintf("removed from Git and deletable: k3sync deletes the topic and the data of its %d partitions", live.partitions)}
			it.topic = &topicWork{delete: true}
		} else {
			it.change.Action = plan.Orphan
			it.change.Notes = []string{"removed from Git: topic data is kept; k3sync stops managing the topic (to have it deleted, set deletion: \"allow\" on it before removing it from Git)"}
		}
		tp.add(it)
	}
}

func cmpOr[T any](v, fallback *T) *T {
	if v != nil {
		return v
	}
	return fallback
}

// diffTopic fills it with what makes live match want, base being the last
// applied state (nil when nothing is known of it: a topic k3sync does not
// own is never diffed, see notOwned). It reports whether there is a
// change.
func diffTopic(it *item, want, base *render.KafkaTopic, live *liveTopic) bool {
	c := &it.change
	if live == nil {
		c.Action = plan.Create
		c.Fields = []plan.FieldChange{
			{Path: "partitions", After: want.Partitions},
			{Path: "replicationFactor", After: want.ReplicationFactor},
		}
		for _, k := range slices.Sorted(maps.Keys(want.Configs)) {
			c.Fields = append(c.Fields, plan.FieldChange{Path: "configs." + k, After: want.Configs[k]})
		}
		switch {
		case it.pending:
			c.Notes = append(c.Notes, pendingNote)
		case base != nil:
			c.Drift = true
			c.Notes = append(c.Notes, "deleted outside k3sync, which owns it: k3sync creates it again, empty")
		}
		it.topic = &topicWork{create: want}
		it.record = record(want)
		return true
	}

	work := &topicWork{set: map[string]string{}}
	var blocked, notes []string
	if want.Partitions != live.partitions {
		c.Fields = append(c.Fields, plan.FieldChange{
			Path: "partitions", Before: live.partitions, After: want.Partitions,
			Drift: base != nil && base.Partitions != live.partitions,
		})
		if want.Partitions > live.partitions {
			work.partitions = want.Partitions
		} else {
			blocked = append(blocked, fmt.Sprintf("partition decrease from %d to %d is impossible in Kafka: create a new topic with %d partitions, migrate producers and consumers to it, then remove this one from Git", live.partitions, want.Partitions, want.Partitions))
		}
	}
	if want.ReplicationFactor != live.replication {
		c.Fields = append(c.Fields, plan.FieldChange{
			Path: "replicationFactor", Before: live.replication, After: want.ReplicationFactor,
			Drift: base != nil && base.ReplicationFactor != live.replication,
		})
		blocked = append(blocked, fmt.Sprintf("replication factor change from %d to %d is not done by k3sync: reassign the partitions with kafka-reassign-partitions.sh (or Cruise Control); the topic is in sync once Kafka matches Git", live.replication, want.ReplicationFactor))
	}
	notes = diffConfigs(c, work, want, base, live)
	if base != nil && base.Deletable != want.Deletable {
		// No Kafka write, but the last applied state must learn it: it
		// decides what happens once the topic leaves Git.
		c.Fields = append(c.Fields, plan.FieldChange{Path: "deletable", Before: base.Deletable, After: want.Deletable})
	}

	switch {
	case len(blocked) > 0:
		c.Action = plan.Blocked
		c.Notes = append(append(blocked, "no other change is made to this topic until Git asks for what Kafka can do"), c.Notes...)
	case len(c.Fields) > 0:
		c.Action = plan.Update
		if work.partitions > 0 || len(work.set) > 0 || len(work.reset) > 0 {
			it.topic = work
		}
	default:
		return false
	}
	c.Notes = append(c.Notes, notes...)
	it.record = record(want)
	return true
}

// diffConfigs adds the config fields of a live topic to c and the writes to
// work; it returns notes about configs set outside Git.
//
// Three states per key: want (Git), base (what k3sync last applied: the key
// set to a value, or not set) and live (set on the topic, or inherited).
// Live differing from base is drift. A key k3sync set and Git dropped is
// reset to the default; a key set on the topic by someone else and never
// by Git is reported and left alone.
func diffConfigs(c *plan.Change, work *topicWork, want, base *render.KafkaTopic, live *liveTopic) []string {
	keys := map[string]bool{}
	for k := range want.Configs {
		keys[k] = true
	}
	var baseConfigs map[string]string
	if base != nil {
		baseConfigs = base.Configs
		for k := range baseConfigs {
			keys[k] = true
		}
	}
	for k, lc := range live.configs {
		if lc.dynamic {
			keys[k] = true
		}
	}
	var notes []string
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		lc, inLive := live.configs[k]
		liveSet := inLive && lc.dynamic
		bv, inBase := baseConfigs[k]
		wv, inWant := want.Configs[k]
		drift := base != nil && (inBase != liveSet || inBase && !sameConfig(k, bv, lc.value))
		var before any
		current := configDefault(k, lc)
		if inLive {
			before, current = lc.value, lc.value
		}
		switch {
		case inWant:
			if sameConfig(k, wv, current) {
				continue
			}
			c.Fields = append(c.Fields, plan.FieldChange{Path: "configs." + k, Before: before, After: wv, Drift: drift})
			work.set[k] = wv
		case inBase && liveSet:
			def := configDefault(k, lc)
			c.Fields = append(c.Fields, plan.FieldChange{Path: "configs." + k, Before: lc.value, After: def, Drift: drift})
			note := fmt.Sprintf("configs.%s is no longer set in Git: k3sync removes it from the topic, which falls back to the default", k)
			if lc.hasDefault && !sameConfig(k, lc.def, def) {
				note += fmt.Sprintf(" (this cluster's default is %s)", lc.def)
			}
			c.Notes = append(c.Notes, note)
			work.reset = append(work.reset, k)
		case liveSet && !inBase:
			notes = append(notes, fmt.Sprintf("configs.%s=%s is set outside Git: k3sync leaves it as it is", k, lc.value))
		}
	}
	return notes
}
