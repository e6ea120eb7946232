package loader

import (
	"fmt"
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
		for _, key := range sortedKeys(topic.Configs) {
			value := topic.Configs[key]
			if err := kafkaspec.ValidateTopicConfig(key, value); err != nil {
				c.errorf(append(at, "configs", key), "%v", err)
				continue
			}
			if !slices.Contains(kc.Limits.AllowedConfigKeys, key) {
				c.errorf(append(at, "configs", key), "config %q is not allowed on Kafka cluster %s (allowed: %s)", key, kc.Name, strings.Join(kc.Limits.AllowedConfigKeys, ", "))
			}
		}
		if mir, ok := topic.Configs["min.insync.replicas"]; ok {
			if n, err := parseInt(mir); err == nil && n > int64(c.p.TopicReplication(kc.Name, topic)) {
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
	}
}

func (c *tenantCheck) acl(at []string, prefix string, acl model.KafkaACL) {
	for j, op := range acl.Operations {
		if err := kafkaspec.ValidateACLOperation(acl.Resource, op); err != nil {
			c.errorf(append(slices.Clone(at), "operations", fmt.Sprint(j)), "%v", err)
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
