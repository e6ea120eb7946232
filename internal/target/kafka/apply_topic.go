package kafka

import (
	"context"
	"errors"
	"maps"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// timeoutMillis is how long the controller may take over a topic request.
const timeoutMillis = 30_000

// createTopics creates the topics of items in one CreateTopics request.
func (w *writer) createTopics(ctx context.Context, items []*item) {
	const verb = "create"
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = timeoutMillis
	req.ValidateOnly = w.dry
	byName := make(map[string]*item, len(items))
	for _, it := range items {
		want := it.topic.create
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic = want.Name
		rt.NumPartitions = want.Partitions
		rt.ReplicationFactor = want.ReplicationFactor
		for _, k := range slices.Sorted(maps.Keys(want.Configs)) {
			c := kmsg.NewCreateTopicsRequestTopicConfig()
			c.Name = k
			c.Value = kmsg.StringPtr(want.Configs[k])
			rt.Configs = append(rt.Configs, c)
		}
		req.Topics = append(req.Topics, rt)
		byName[want.Name] = it
	}
	if err := w.limit(ctx, len(items)); err != nil {
		refuseAll(items, verb, err)
		return
	}
	resp, err := req.RequestWith(ctx, w.t.client)
	if err != nil {
		failAll(items, verb, err)
		return
	}
	seen := map[*item]bool{}
	for _, rt := range resp.Topics {
		it := byName[rt.Topic]
		if it == nil || seen[it] {
			continue
		}
		seen[it] = true
		if err := brokerError(rt.ErrorCode, rt.ErrorMessage); err != nil {
			it.fail(verb, err)
			if errors.Is(err, kerr.TopicAlreadyExists) && !w.dry {
				// The plan just saw no such topic, and franz-go sends a
				// request again when the connection to the broker broke
				// after it was sent: the topic is most likely the one
				// the first send created, whose answer was lost. The
				// outcome is unknown, not a refusal: the topic stays
				// owned and pending, as after a timeout.
				it.definitive = false
			}
		}
	}
	unanswered(items, seen, verb)
	w.dryNote(items, "dry run: validated by the controller (ValidateOnly), not created")
}

// createPartitions grows the topics of items in one CreatePartitions
// request.
func (w *writer) createPartitions(ctx context.Context, items []*item) {
	const verb = "add partitions"
	req := kmsg.NewPtrCreatePartitionsRequest()
	req.TimeoutMillis = timeoutMillis
	req.ValidateOnly = w.dry
	byName := make(map[string]*item, len(items))
	for _, it := range items {
		rt := kmsg.NewCreatePartitionsRequestTopic()
		rt.Topic = it.change.Name
		rt.Count = it.topic.partitions
		req.Topics = append(req.Topics, rt)
		byName[rt.Topic] = it
	}
	if err := w.limit(ctx, len(items)); err != nil {
		refuseAll(items, verb, err)
		return
	}
	resp, err := req.RequestWith(ctx, w.t.client)
	if err != nil {
		failAll(items, verb, err)
		return
	}
	seen := map[*item]bool{}
	for _, rt := range resp.Topics {
		it := byName[rt.Topic]
		if it == nil || seen[it] {
			continue
		}
		seen[it] = true
		if err := brokerError(rt.ErrorCode, rt.ErrorMessage); err != nil {
			it.fail(verb, err)
		}
	}
	unanswered(items, seen, verb)
	w.dryNote(items, "dry run: partition increase validated by the controller (ValidateOnly), not made")
}

// alterConfigs sets and resets the configs of the topics of items in one
// IncrementalAlterConfigs request: only the keys that change, so keys
// someone else set stay as they are.
func (w *writer) alterConfigs(ctx context.Context, items []*item) {
	const verb = "alter configs"
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	req.ValidateOnly = w.dry
	byName := make(map[string]*item, len(items))
	for _, it := range items {
		r := kmsg.NewIncrementalAlterConfigsRequestResource()
		r.ResourceType = kmsg.ConfigResourceTypeTopic
		r.ResourceName = it.change.Name
		for _, k := range slices.Sorted(maps.Keys(it.topic.set)) {
			c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
			c.Name = k
			c.Op = kmsg.IncrementalAlterConfigOpSet
			c.Value = kmsg.StringPtr(it.topic.set[k])
			r.Configs = append(r.Configs, c)
		}
		for _, k := range it.topic.reset {
			c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
			c.Name = k
			c.Op = kmsg.IncrementalAlterConfigOpDelete
			r.Configs = append(r.Configs, c)
		}
		req.Resources = append(req.Resources, r)
		byName[r.ResourceName] = it
	}
	resp, err := req.RequestWith(ctx, w.t.client)
	if err != nil {
		failAll(items, verb, err)
		return
	}
	seen := map[*item]bool{}
	for _, r := range resp.Resources {
		it := byName[r.ResourceName]
		if it == nil || seen[it] {
			continue
		}
		seen[it] = true
		if err := brokerError(r.ErrorCode, r.ErrorMessage); err != nil {
			it.fail(verb, err)
		}
	}
	unanswered(items, seen, verb)
	w.dryNote(items, "dry run: config changes validated by the broker (ValidateOnly), not made")
}

// deleteTopics deletes the topics of items in one DeleteTopics request.
// Kafka cannot validate a delete, so a dry run sends nothing.
func (w *writer) deleteTopics(ctx context.Context, items []*item) {
	const verb = "delete"
	if w.dry {
		w.dryNote(items, "dry run: not sent (Kafka has no validate-only delete)")
		return
	}
	names := make([]string, len(items))
	for i, it := range items {
		names[i] = it.change.Name
	}
	if err := w.limit(ctx, len(items)); err != nil {
		refuseAll(items, verb, err)
		return
	}
	resp, err := w.t.admin.DeleteTopics(ctx, names...)
	if err != nil {
		failAll(items, verb, err)
		return
	}
	seen := map[*item]bool{}
	for _, it := range items {
		r, ok := resp[it.change.Name]
		if !ok {
			continue
		}
		seen[it] = true
		// A topic already gone is what the delete wanted.
		if r.Err != nil && !errors.Is(r.Err, kerr.UnknownTopicOrPartition) {
			it.fail(verb, r.Err)
		}
	}
	unanswered(items, seen, verb)
}

// limit waits for the mutation rate; dry runs mutate nothing.
func (w *writer) limit(ctx context.Context, n int) error {
	if w.dry {
		return nil
	}
	return w.t.limiter.take(ctx, n)
}

// dryNote notes on a dry run what happened instead of the change.
func (w *writer) dryNote(items []*item, note string) {
	if !w.dry {
		return
	}
	for _, it := range items {
		it.notes = append(it.notes, note)
	}
}
