package model

// DriftPolicy is the tenant's drift policy, the platform default unless
// the tenant overrides it.
func (t *Tenant) DriftPolicy(p *Platform) DriftPolicy {
	if t.Policies.Drift != "" {
		return t.Policies.Drift
	}
	return p.Policy.Defaults.Drift
}

// DriftSchedule is the tenant's drift check schedule.
func (t *Tenant) DriftSchedule(p *Platform) string {
	if t.Policies.DriftSchedule != "" {
		return t.Policies.DriftSchedule
	}
	return p.Policy.Defaults.DriftSchedule
}

// NetworkIsolation is the tenant's effective isolation level.
func (t *Tenant) NetworkIsolation(p *Platform) NetworkIsolation {
	if t.Kubernetes != nil && t.Kubernetes.NetworkIsolation != "" {
		return t.Kubernetes.NetworkIsolation
	}
	return p.Policy.Defaults.NetworkIsolation
}

// NamespaceDeletable reports whether k3sync may delete the namespace once it
// is removed from Git: the namespace, the tenant or the platform allows it.
func (t *Tenant) NamespaceDeletable(p *Platform, ns *Namespace) bool {
	return ns.Deletion == Allow || t.Policies.Deletion.Namespaces == Allow || p.Policy.Deletion.AllowNamespaceDeletion
}

// TopicDeletable reports whether k3sync may delete the topic once it is
// removed from Git.
func (t *Tenant) TopicDeletable(p *Platform, topic *Topic) bool {
	return topic.Deletion == Allow || t.Policies.Deletion.Topics == Allow || p.Policy.Deletion.AllowTopicDeletion
}

// TopicPartitions is the topic's partition count, the platform default if unset.
func (p *Platform) TopicPartitions(topic *Topic) int32 {
	if topic.Partitions > 0 {
		return topic.Partitions
	}
	return p.Policy.Defaults.Topic.Partitions
}

// TopicReplication is the topic's replication factor, the platform default
// capped at the cluster's limit if unset.
func (p *Platform) TopicReplication(cluster string, topic *Topic) int16 {
	if topic.Replication > 0 {
		return topic.Replication
	}
	r := p.Policy.Defaults.Topic.Replication
	if kc, ok := p.Kafka[cluster]; ok && kc.Limits.MaxReplicationFactor > 0 && r > kc.Limits.MaxReplicationFactor {
		r = kc.Limits.MaxReplicationFactor
	}
	return r
}
