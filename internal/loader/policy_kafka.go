package loader

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/k3sync/k3sync/internal/kafkaspec"
	"github.com/k3sync/k3sync/internal/model"
)

func (c *tenantCheck) kafka() {
	k := c.t.Kafka
	if k == nil {
		return
	}
	name := c.t.Name
	prefix := name + "."
	kc, ok := c.p.Kafka[k.Cluster]
	if !ok {
		c.errorf(p("kafka", "cluster"), "Kafka cluster %q is not defined in platform.cue (known: %s)", k.Cluster, keys(c.p.Kafka))
	}
	if n, limit := len(k.Topics), c.p.Policy.Limits.MaxTopicsPerTenant; n > limit {
		c.errorf(p("kafka", "topics"), "%d topics, the platform allows at most %d per tenant", n, limit)
	}
	for _, tn := range sortedKeys(k.Topics) {
		topic := k.Topics[tn]
		at := p("kafka", "topics", tn)
		if err := kafkaspec.ValidateTopicName(tn); err != nil {
			c.errorf(at, "%v", err)
		}
		if !strings.HasPrefix(tn, prefix) {
			c.errorf(at, "topic %q is outside tenant %s's prefix %q", tn, name, prefix)
		}
		c.claims.claim(c, at, "topic", k.Cluster+"/"+kafkaspec.CollisionKey(tn), fmt.Sprintf("topic %q on Kafka cluster %s (Kafka treats '.' and '_' alike)", tn, k.Cluster))
		if !ok {
			continue
		}
		if parts := c.p.TopicPartitions(topic); parts > kc.Limits.MaxPartitionsPerTopic {
			c.errorf(append(at, "partitions"), "%d partitions, Kafka cluster %s allows at most %d per topic", parts, kc.Name, kc.Limits.MaxPartitionsPerTopic)
		}
		if rf := c.p.TopicReplication(kc.Name, topic); rf > kc.Limits.MaxReplicationFactor {
			c.errorf(append(at, "replication"), "replication factor %d, Kafka cluster %s allows at most %d", rf, kc.Name, kc.Limits.MaxReplicationFactor)
		}
		broker := kafkaspec.Broker{TieredStorage: kc.TieredStorage}
		valid := true
		for _, key := range sortedKeys(topic.Configs) {
			value := topic.Configs[key]
			if err := broker.ValidateTopicConfig(key, value); err != nil {
				c.errorf(append(at, "configs", key), "%v", err)
				valid = false
				continue
			}
			if !slices.Contains(kc.Limits.AllowedConfigKeys, key) {
				c.errorf(append(at, "configs", key), "config %q is not allowed on Kafka cluster %s (allowed: %s)", key, kc.Name, strings.Join(kc.Limits.AllowedConfigKeys, ", "))
			}
		}
		if valid {
			// The rules between keys, once each key is valid.
			if err := broker.ValidateTopicConfigs(topic.Configs); err != nil {
				c.errorf(append(at, "configs"), "%v", err)
			}
			c.topicCeilings(append(at, "configs"), topic.Configs)
		}
		if mir, ok := topic.Configs["min.insync.replicas"]; ok {
			if n, err := kafkaspec.ParseInteger(mir); err == nil && n > int64(c.p.TopicReplication(kc.Name, topic)) {
				c.errorf(append(at, "configs", "min.insync.replicas"), "min.insync.replicas %d exceeds the replication factor %d: producers with acks=all would always fail", n, c.p.TopicReplication(kc.Name, topic))
			}
		}
	}
	if len(k.Users) > 0 && !c.hasNamespaces() {
		c.errorf(p("kafka", "users"), "SCRAM users need a Kubernetes namespace of tenant %s to receive their passwords as Secrets", name)
	}
	for _, un := range sortedKeys(k.Users) {
		u := k.Users[un]
		at := p("kafka", "users", un)
		if err := kafkaspec.ValidateUserName(un); err != nil {
			c.errorf(at, "%v", err)
		}
		if !strings.HasPrefix(un, prefix) {
			c.errorf(at, "user %q is outside tenant %s's prefix %q", un, name, prefix)
		}
		c.claims.claim(c, at, "kafka user", k.Cluster+"/"+un, fmt.Sprintf("Kafka user %q on %s", un, k.Cluster))
		for i, acl := range u.ACLs {
			c.acl(append(at, "acls", fmt.Sprint(i)), prefix, acl)
		}
		c.quota(append(at, "quota"), u.Quota)
	}
}

// topicCeilings checks a topic's valid configs against the platform's
// ceilings and floors (policy.guardrails.kafka.maxTopicConfigs and
// minTopicConfigs).
func (c *tenantCheck) topicCeilings(at []string, configs model.TopicConfigs) {
	g := c.p.Policy.Guardrails.Kafka
	for _, key := range sortedKeys(configs) {
		ceil, hasCeil := g.MaxTopicConfigs[key]
		floor, hasFloor := g.MinTopicConfigs[key]
		if !hasCeil && !hasFloor {
			continue
		}
		v, err := kafkaspec.ParseInteger(configs[key])
		switch {
		case err != nil:
			// Not an integer key: the platform's mistake, reported there.
		case hasCeil && v < 0:
			c.errorf(append(slices.Clone(at), key), "%s %d sets no limit (Kafka reads -1 as unlimited, -2 as another config's value); the platform caps it at %d (policy.guardrails.kafka.maxTopicConfigs)", key, v, ceil)
		case hasCeil && v > ceil:
			c.errorf(append(slices.Clone(at), key), "%s %d is above the platform's ceiling %d (policy.guardrails.kafka.maxTopicConfigs)", key, v, ceil)
		case hasFloor && v >= 0 && v < floor:
			c.errorf(append(slices.Clone(at), key), "%s %d is below the platform's floor %d (policy.guardrails.kafka.minTopicConfigs)", key, v, floor)
		}
	}
	// An empty cleanup.policy is Kafka's "keep forever", whatever the
	// retention configs say.
	if cp, ok := configs["cleanup.policy"]; ok && len(kafkaspec.ParseList(cp)) == 0 {
		for _, key := range []string{"retention.ms", "retention.bytes"} {
			if ceil, ok := g.MaxTopicConfigs[key]; ok {
				c.errorf(append(slices.Clone(at), "cleanup.policy"), "an empty cleanup.policy keeps the topic's data forever (Kafka applies no retention); the platform caps %s at %d (policy.guardrails.kafka.maxTopicConfigs): set \"delete\" or \"compact,delete\"", key, ceil)
				break
			}
		}
	}
}

// checkKafkaGuardrails reports the platform's own mistakes in its Kafka
// guardrails: a ceiling on a key that is not an integer topic config
// would bound nothing.
func (l *loader) checkKafkaGuardrails(p *model.Platform) {
	if l.platform == nil {
		return
	}
	g := p.Policy.Guardrails.Kafka
	for _, b := range []struct {
		field, what string
		keys        map[string]int64
	}{{"maxTopicConfigs", "ceiling", g.MaxTopicConfigs}, {"minTopicConfigs", "floor", g.MinTopicConfigs}} {
		for _, key := range sortedKeys(b.keys) {
			if spec, ok := kafkaspec.TopicConfigs[key]; !ok || (spec.Type != kafkaspec.Int && spec.Type != kafkaspec.Long) {
				path := []string{"policy", "guardrails", "kafka", b.field, key}
				l.errs.Addf(l.platform.locate(path), formatSelectors(path), "%q is not an integer topic config of Kafka: a %s on it bounds nothing", key, b.what)
			}
		}
	}
	for _, key := range sortedKeys(g.MinTopicConfigs) {
		if ceil, ok := g.MaxTopicConfigs[key]; ok && g.MinTopicConfigs[key] > ceil {
			path := []string{"policy", "guardrails", "kafka", "minTopicConfigs", key}
			l.errs.Addf(l.platform.locate(path), formatSelectors(path), "the floor %d on %s is above its ceiling %d (maxTopicConfigs): no value would be allowed", g.MinTopicConfigs[key], key, ceil)
		}
	}
}

// quota checks a user's client quota against the platform's ceilings. A
// ceiling makes its quota required: a user without it is unlimited.
func (c *tenantCheck) quota(at []string, q *model.KafkaQuota) {
	if q == nil {
		q = &model.KafkaQuota{}
	}
	ceil := c.p.Policy.Guardrails.Kafka.MaxQuota
	atMost(c, at, "producerByteRate", q.ProducerByteRate, ceil.ProducerByteRate)
	atMost(c, at, "consumerByteRate", q.ConsumerByteRate, ceil.ConsumerByteRate)
	atMost(c, at, "requestPercentage", q.RequestPercentage, ceil.RequestPercentage)
	atMost(c, at, "controllerMutationRate", q.ControllerMutationRate, ceil.ControllerMutationRate)
}

func atMost[N int64 | float64](c *tenantCheck, at []string, field string, v, ceil *N) {
	switch {
	case ceil == nil:
	case v == nil:
		c.errorf(at, "%s is required: the platform caps it at %v (policy.guardrails.kafka.maxQuota)", field, *ceil)
	case *v > *ceil:
		c.errorf(append(slices.Clone(at), field), "%s %v is above the platform's ceiling %v (policy.guardrails.kafka.maxQuota)", field, *v, *ceil)
	}
}

func (c *tenantCheck) acl(at []string, prefix string, acl model.KafkaACL) {
	g := c.p.Policy.Guardrails.Kafka
	for j, op := range acl.Operations {
		opAt := append(slices.Clone(at), "operations", fmt.Sprint(j))
		if err := kafkaspec.ValidateACLOperation(acl.Resource, op); err != nil {
			c.errorf(opAt, "%v", err)
		} else if acl.Resource == "cluster" && !slices.Contains(g.AllowedClusterOperations, op) {
			// On the cluster, "alter" creates ACLs on any topic and "create"
			// creates topics outside the tenant's prefix.
			c.errorf(opAt, "operation %q on the cluster resource reaches beyond the tenant: the platform allows %s (policy.guardrails.kafka.allowedClusterOperations)", op, quotedList(g.AllowedClusterOperations))
		} else if acl.Resource == "topic" && acl.Permission != "deny" && !slices.Contains(g.AllowedTopicOperations, op) {
			// A deny ACL takes rights away; an allow ACL with "create",
			// "alter", "alter-configs" or "delete" lets the user's client
			// change the tenant's topics past the guardrails Git is held to.
			c.errorf(opAt, "operation %q on topics lets the user's client create, change or delete topics outside Git, past the platform's topic guardrails: the platform allows %s (policy.guardrails.kafka.allowedTopicOperations)", op, quotedList(g.AllowedTopicOperations))
		}
	}
	// The principal is always User:<the user's name>: the schema has no
	// field that names another. The host only narrows who the ACL matches,
	// and Kafka compares it with the client's IP address.
	if acl.Host != "*" {
		hostAt := append(slices.Clone(at), "host")
		if g.WildcardHostOnly {
			c.errorf(hostAt, "host %q: the platform allows only \"*\" (policy.guardrails.kafka.wildcardHostOnly)", acl.Host)
		} else if ip, err := netip.ParseAddr(acl.Host); err != nil || ip.Zone() != "" {
			c.errorf(hostAt, "host %q is not \"*\" or an IP address: Kafka matches an ACL's host against the client's IP address, without patterns or names", acl.Host)
		}
	}
	nameAt := append(slices.Clone(at), "name")
	switch acl.Resource {
	case "cluster":
		if acl.Name != kafkaspec.ClusterResourceName || acl.Pattern != "literal" {
			c.errorf(nameAt, "the cluster resource is named %q with a literal pattern", kafkaspec.ClusterResourceName)
		}
		return
	case "topic":
		var err error
		if acl.Pattern == "prefixed" {
			err = kafkaspec.ValidatePrefix(acl.Name)
		} else {
			err = kafkaspec.ValidateTopicName(acl.Name)
		}
		if err != nil {
			c.errorf(nameAt, "%v", err)
		}
	}
	if !strings.HasPrefix(acl.Name, prefix) {
		c.errorf(nameAt, "%s %q is outside tenant %s's prefix %q", acl.Resource, acl.Name, c.t.Name, prefix)
	}
}

// quotedList prints names as "a", "b"; "none" when there are none.
func quotedList(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, ", ")
}
