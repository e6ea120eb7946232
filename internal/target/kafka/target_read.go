package kafka

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"golang.org/x/sync/errgroup"

	"github.com/k3sync/k3sync/internal/render"
)

// liveConfig is one config of a live topic.
type liveConfig struct {
	value string
	// dynamic: set on the topic itself (DYNAMIC_TOPIC_CONFIG), not
	// inherited from the broker.
	dynamic bool
	// def is what the key falls back to without the topic's own value,
	// when the broker reported it.
	def        string
	hasDefault bool
}

// liveTopic is a topic as Kafka has it.
type liveTopic struct {
	partitions  int32
	replication int16
	configs     map[string]liveConfig
}

// snapshot is the live state of what a plan looks at. A nil map means the
// kind was not read because nothing desired or owned is of that kind.
type snapshot struct {
	topics map[string]*liveTopic // the topics asked about that exist
	acls   map[render.KafkaACL]bool
	quotas map[string]map[string]float64 // user entity -> key -> value
	users  map[string]map[string]int32   // user -> mechanism -> iterations
}

// scope is what to read: the topics desired or owned, and whether any ACL,
// quota or user is desired or owned.
type scope struct {
	topics              []string
	acls, quotas, users bool
}

// read takes a fresh snapshot: every request goes to the brokers (no
// client-side metadata cache) and all of them are in flight at once, one
// request per kind, so a plan costs one round trip of latency whatever
// the number of tenants and resources.
//
// A topic being created or deleted may show in one of Metadata and
// DescribeConfigs and not in the other (a broker applies the change to
// the metadata it answers from between the two): the reads are then made
// again, a few times, rather than failing the plan.
func (t *Target) read(ctx context.Context, sc scope) (*snapshot, error) {
	for attempt := 1; ; attempt++ {
		snap, err := t.readOnce(ctx, sc)
		if !errors.Is(err, errRaced) || attempt == readAttempts || ctx.Err() != nil {
			return snap, err
		}
		select {
		case <-ctx.Done():
			return snap, err
		case <-time.After(time.Duration(attempt) * 20 * time.Millisecond):
		}
	}
}

// readAttempts is how often read tries when topics change while it reads.
const readAttempts = 4

// errRaced: Metadata and DescribeConfigs did not see the same topics.
var errRaced = errors.New("topic changed while reading, plan again")

func (t *Target) readOnce(ctx context.Context, sc scope) (*snapshot, error) {
	snap := &snapshot{}
	var (
		meta    map[string]*liveTopic
		configs map[string]map[string]liveConfig
	)
	g, gctx := errgroup.WithContext(ctx)
	if len(sc.topics) > 0 {
		g.Go(func() (err error) { meta, err = t.readTopics(gctx, sc.topics); return })
		g.Go(func() (err error) { configs, err = t.readConfigs(gctx, sc.topics); return })
	}
	if sc.acls {
		g.Go(func() (err error) { snap.acls, err = t.readACLs(gctx); return })
	}
	if sc.quotas {
		g.Go(func() (err error) { snap.quotas, err = t.readQuotas(gctx); return })
	}
	if sc.users {
		g.Go(func() (err error) { snap.users, err = t.readUsers(gctx); return })
	}
	if err := g.Wait(); err != nil {
		return nil, fmt.Errorf("kafka %s: read: %w", t.name, err)
	}
	snap.topics = meta
	var errs []error
	for name, lt := range meta {
		c, ok := configs[name]
		if !ok {
			// Metadata and DescribeConfigs raced a create or delete.
			errs = append(errs, fmt.Errorf("kafka topic %s: describe configs: %w", name, errRaced))
			continue
		}
		lt.configs = c
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("kafka %s: read: %w", t.name, err)
	}
	return snap, nil
}

// readTopics reads partitions and replication of the named topics with a
// Metadata request of our own: kadm.ListTopics may answer from the client's
// metadata cache, a plan must not.
func (t *Target) readTopics(ctx context.Context, topics []string) (map[string]*liveTopic, error) {
	req := kmsg.NewPtrMetadataRequest()
	req.AllowAutoTopicCreation = false
	req.Topics = make([]kmsg.MetadataRequestTopic, len(topics))
	for i, name := range topics {
		req.Topics[i] = kmsg.NewMetadataRequestTopic()
		req.Topics[i].Topic = kmsg.StringPtr(name)
	}
	resp, err := req.RequestWith(ctx, t.client)
	if err != nil {
		return nil, fmt.Errorf("metadata: %w", err)
	}
	out := make(map[string]*liveTopic, len(resp.Topics))
	var errs []error
	for _, rt := range resp.Topics {
		name := ""
		if rt.Topic != nil {
			name = *rt.Topic
		}
		switch err := kerr.ErrorForCode(rt.ErrorCode); {
		case errors.Is(err, kerr.UnknownTopicOrPartition):
			continue
		case err != nil && len(rt.Partitions) == 0:
			errs = append(errs, fmt.Errorf("kafka topic %s: metadata: %w", name, err))
			continue
		}
		lt := &liveTopic{partitions: int32(len(rt.Partitions))}
		for _, p := range rt.Partitions {
			lt.replication = max(lt.replication, int16(len(p.Replicas)))
		}
		out[name] = lt
	}
	return out, errors.Join(errs...)
}

// readConfigs describes the configs of all the topics in one request.
func (t *Target) readConfigs(ctx context.Context, topics []string) (map[string]map[string]liveConfig, error) {
	req := kmsg.NewPtrDescribeConfigsRequest()
	req.IncludeSynonyms = true
	req.Resources = make([]kmsg.DescribeConfigsRequestResource, len(topics))
	for i, name := range topics {
		r := kmsg.NewDescribeConfigsRequestResource()
		r.ResourceType = kmsg.ConfigResourceTypeTopic
		r.ResourceName = name
		req.Resources[i] = r
	}
	resp, err := req.RequestWith(ctx, t.client)
	if err != nil {
		return nil, fmt.Errorf("describe configs: %w", err)
	}
	out := make(map[string]map[string]liveConfig, len(resp.Resources))
	var errs []error
	for _, r := range resp.Resources {
		if err := kerr.ErrorForCode(r.ErrorCode); err != nil {
			if !errors.Is(err, kerr.UnknownTopicOrPartition) {
				errs = append(errs, fmt.Errorf("kafka topic %s: describe configs: %w", r.ResourceName, err))
			}
			continue
		}
		cfg := make(map[string]liveConfig, len(r.Configs))
		for _, c := range r.Configs {
			if c.Value == nil || c.IsSensitive {
				continue
			}
			lc := liveConfig{value: *c.Value, dynamic: c.Source == kmsg.ConfigSourceDynamicTopicConfig}
			for _, s := range c.ConfigSynonyms {
				if s.Source != kmsg.ConfigSourceDynamicTopicConfig && s.Value != nil {
					lc.def, lc.hasDefault = *s.Value, true
					break
				}
			}
			if !lc.dynamic {
				lc.def, lc.hasDefault = lc.value, true
			}
			cfg[c.Name] = lc
		}
		out[r.ResourceName] = cfg
	}
	return out, errors.Join(errs...)
}

// readACLs describes every ACL of the cluster with one ANY filter.
func (t *Target) readACLs(ctx context.Context) (map[render.KafkaACL]bool, error) {
	req := kmsg.NewPtrDescribeACLsRequest()
	req.ResourceType = kmsg.ACLResourceTypeAny
	req.ResourcePatternType = kmsg.ACLResourcePatternTypeAny
	req.Operation = kmsg.ACLOperationAny
	req.PermissionType = kmsg.ACLPermissionTypeAny
	resp, err := req.RequestWith(ctx, t.client)
	if err != nil {
		return nil, fmt.Errorf("describe acls: %w", err)
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return nil, fmt.Errorf("describe acls: %w%s", err, brokerMessage(resp.ErrorMessage))
	}
	out := map[render.KafkaACL]bool{}
	for _, r := range resp.Resources {
		for _, a := range r.ACLs {
			out[liveACL(r, a)] = true
		}
	}
	return out, nil
}

// readQuotas describes the quotas of every user entity (and only user
// entities: user+client-id quotas are someone else's).
func (t *Target) readQuotas(ctx context.Context) (map[string]map[string]float64, error) {
	req := kmsg.NewPtrDescribeClientQuotasRequest()
	c := kmsg.NewDescribeClientQuotasRequestComponent()
	c.EntityType = "user"
	c.MatchType = 2 // any specified name
	req.Components = []kmsg.DescribeClientQuotasRequestComponent{c}
	req.Strict = true
	resp, err := req.RequestWith(ctx, t.client)
	if err != nil {
		return nil, fmt.Errorf("describe client quotas: %w", err)
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return nil, fmt.Errorf("describe client quotas: %w%s", err, brokerMessage(resp.ErrorMessage))
	}
	out := map[string]map[string]float64{}
	for _, e := range resp.Entries {
		if len(e.Entity) != 1 || e.Entity[0].Type != "user" || e.Entity[0].Name == nil {
			continue
		}
		values := make(map[string]float64, len(e.Values))
		for _, v := range e.Values {
			values[v.Key] = v.Value
		}
		out[*e.Entity[0].Name] = values
	}
	return out, nil
}

// readUsers describes every SCRAM user: mechanisms and iterations, never
// anything secret (Kafka does not return it).
func (t *Target) readUsers(ctx context.Context) (map[string]map[string]int32, error) {
	described, err := t.admin.DescribeUserSCRAMs(ctx)
	if err != nil {
		return nil, fmt.Errorf("describe user scram credentials: %w", err)
	}
	out := make(map[string]map[string]int32, len(described))
	var errs []error
	for _, d := range described {
		if d.Err != nil {
			if !errors.Is(d.Err, kerr.ResourceNotFound) {
				errs = append(errs, fmt.Errorf("kafka user %s: describe: %w", d.User, d.Err))
			}
			continue
		}
		mechs := make(map[string]int32, len(d.CredInfos))
		for _, ci := range d.CredInfos {
			mechs[mechanismName(ci.Mechanism)] = ci.Iterations
		}
		out[d.User] = mechs
	}
	return out, errors.Join(errs...)
}

// brokerMessage is ": message" when the broker said more than its code.
func brokerMessage(m *string) string {
	if m == nil || *m == "" {
		return ""
	}
	return ": " + *m
}
