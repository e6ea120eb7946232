package importer

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/k3sync/k3sync/internal/kafkaspec"
)

// acl is one live ACL binding in the schema's words.
type acl struct {
	principal                                 string
	resource, name, pattern, permission, host string
	operation                                 string
}

var (
	aclResources = map[kmsg.ACLResourceType]string{
		kmsg.ACLResourceTypeTopic:           "topic",
		kmsg.ACLResourceTypeGroup:           "group",
		kmsg.ACLResourceTypeTransactionalId: "transactional-id",
		kmsg.ACLResourceTypeCluster:         "cluster",
	}
	aclResourceOrder = []string{"topic", "group", "transactional-id", "cluster"}
	aclPatterns      = map[kmsg.ACLResourcePatternType]string{
		kmsg.ACLResourcePatternTypeLiteral:  "literal",
		kmsg.ACLResourcePatternTypePrefixed: "prefixed",
	}
	aclPermissions = map[kmsg.ACLPermissionType]string{
		kmsg.ACLPermissionTypeAllow: "allow",
		kmsg.ACLPermissionTypeDeny:  "deny",
	}
	aclOperations = map[kmsg.ACLOperation]string{
		kmsg.ACLOperationAll:             "all",
		kmsg.ACLOperationRead:            "read",
		kmsg.ACLOperationWrite:           "write",
		kmsg.ACLOperationCreate:          "create",
		kmsg.ACLOperationDelete:          "delete",
		kmsg.ACLOperationAlter:           "alter",
		kmsg.ACLOperationDescribe:        "describe",
		kmsg.ACLOperationClusterAction:   "cluster-action",
		kmsg.ACLOperationDescribeConfigs: "describe-configs",
		kmsg.ACLOperationAlterConfigs:    "alter-configs",
		kmsg.ACLOperationIdempotentWrite: "idempotent-write",
	}
	// operationOrder is the schema's order of operations.
	operationOrder = []string{"all", "read", "write", "create", "delete", "alter", "describe", "cluster-action", "describe-configs", "alter-configs", "idempotent-write"}
	quotaFields    = map[string]string{
		"producer_byte_rate":       "producerByteRate",
		"consumer_byte_rate":       "consumerByteRate",
		"request_percentage":       "requestPercentage",
		"controller_mutation_rate": "controllerMutationRate",
	}
	integer = regexp.MustCompile(`^-?[0-9]{1,18}$`)
)

func (im *importer) kafka(ctx context.Context, src *Sources) (*obj, error) {
	if src.Kafka == nil {
		return nil, nil
	}
	name, prefix, tenant := src.KafkaCluster, im.opts.TopicPrefix, im.opts.Tenant
	out := &obj{}
	out.set("cluster", lit(quote(name)))
	if im.opts.Platform != nil {
		if _, ok := im.platform.Kafka[name]; !ok {
			im.skip(out, "Kafka cluster %s of the config file is not in platform.cue", q(name))
		}
	}
	limits := im.platform.Kafka[name].Limits

	// Topics, with only the configs set on the topic.
	listed, err := src.Kafka.ListTopics(ctx)
	if err != nil {
		return nil, fmt.Errorf("kafka %s: list topics: %w", name, err)
	}
	var topics []kadm.TopicDetail
	for _, td := range listed.Sorted() {
		if td.IsInternal || !strings.HasPrefix(td.Topic, prefix) {
			continue
		}
		if td.Err != nil {
			return nil, fmt.Errorf("kafka %s: topic %s: %w", name, td.Topic, td.Err)
		}
		topics = append(topics, td)
	}
	configs := map[string]map[string]string{}
	if len(topics) > 0 {
		names := make([]string, len(topics))
		for i, td := range topics {
			names[i] = td.Topic
		}
		rcs, err := src.Kafka.DescribeTopicConfigs(ctx, names...)
		if err != nil {
			return nil, fmt.Errorf("kafka %s: describe configs: %w", name, err)
		}
		for _, rc := range rcs {
			if rc.Err != nil {
				return nil, fmt.Errorf("kafka %s: topic %s: describe configs: %w", name, rc.Name, rc.Err)
			}
			set := map[string]string{}
			for _, c := range rc.Configs {
				if c.Source == kmsg.ConfigSourceDynamicTopicConfig && c.Value != nil && !c.Sensitive {
					set[c.Key] = *c.Value
				}
			}
			configs[rc.Name] = set
		}
	}
	im.opts.Progress("kafka %s: %d topics read", name, len(topics))
	topicsObj := &obj{}
	broker := kafkaspec.Broker{TieredStorage: im.platform.Kafka[name].TieredStorage}
	for _, td := range topics {
		if err := kafkaspec.ValidateTopicName(td.Topic); err != nil {
			im.skip(topicsObj, "topic %s: %s", q(td.Topic), q(err.Error()))
			continue
		}
		if !strings.HasPrefix(td.Topic, tenant+".") {
			im.skip(topicsObj, "topic %s is outside tenant %s's prefix %s", q(td.Topic), tenant, q(tenant+"."))
			continue
		}
		to := &obj{}
		to.set("partitions", num(len(td.Partitions)))
		rf := 0
		for _, p := range td.Partitions {
			rf = max(rf, len(p.Replicas))
		}
		to.set("replication", num(rf))
		co := &obj{}
		cfg := configs[td.Topic]
		for _, k := range slices.Sorted(maps.Keys(cfg)) {
			v := cfg[k]
			if err := broker.ValidateTopicConfig(k, v); err != nil {
				im.skip(co, "topic %s: config %s=%s: %s", q(td.Topic), q(k), q(v), q(err.Error()))
				continue
			}
			if !slices.Contains(limits.AllowedConfigKeys, k) {
				im.skip(co, "topic %s: config %s=%s is not one the platform allows topics to set", q(td.Topic), q(k), q(v))
				continue
			}
			co.set(quote(k), configValue(v))
		}
		if !co.empty() {
			to.set("configs", co)
		}
		topicsObj.set(quote(td.Topic), to)
		im.counts["topics"]++
	}
	if !topicsObj.empty() {
		out.set("topics", topicsObj)
	}

	// ACLs, client quotas and SCRAM users, all read in bulk.
	acls, err := readACLs(ctx, src.KafkaClient)
	if err != nil {
		return nil, fmt.Errorf("kafka %s: %w", name, err)
	}
	quotas, err := readQuotas(ctx, src.KafkaClient)
	if err != nil {
		return nil, fmt.Errorf("kafka %s: %w", name, err)
	}
	scrams, err := src.Kafka.DescribeUserSCRAMs(ctx)
	if err != nil {
		return nil, fmt.Errorf("kafka %s: describe SCRAM users: %w", name, err)
	}
	im.opts.Progress("kafka %s: %d ACLs, %d user quotas, %d SCRAM users read", name, len(acls), len(quotas), len(scrams))

	usersObj := &obj{}
	users := map[string]bool{}
	userACLs := map[string][]acl{}
	for _, a := range acls {
		user, isUser := strings.CutPrefix(a.principal, "User:")
		mine := isUser && strings.HasPrefix(user, prefix)
		onMine := a.resource != "cluster" && strings.HasPrefix(a.name, prefix)
		if !mine && !onMine {
			continue
		}
		switch {
		case !isUser || user == "*":
			im.skip(usersObj, "ACL of %s: %s %s %s %s %s from host %s: the principal is not a user of the tenant", q(a.principal), a.permission, a.operation, a.resource, a.pattern, q(a.name), q(a.host))
		case !strings.HasPrefix(user, tenant+"."):
			im.skip(usersObj, "ACL of %s: %s %s %s %s %s: user %s is outside tenant %s's prefix %s", q(a.principal), a.permission, a.operation, a.resource, a.pattern, q(a.name), q(user), tenant, q(tenant+"."))
		case a.resource == "":
			im.skip(usersObj, "ACL of %s on %s: the resource type is not one a tenant may name", q(a.principal), q(a.name))
		case a.pattern == "" || a.permission == "" || a.operation == "":
			im.skip(usersObj, "ACL of %s on %s %s: pattern, permission or operation is not one a tenant may use", q(a.principal), a.resource, q(a.name))
		default:
			users[user] = true
			userACLs[user] = append(userACLs[user], a)
		}
	}
	for u := range quotas {
		if strings.HasPrefix(u, prefix) {
			users[u] = true
		}
	}
	mechanisms := map[string][]string{}
	for _, d := range scrams {
		if d.Err != nil {
			if errors.Is(d.Err, kerr.ResourceNotFound) {
				continue
			}
			return nil, fmt.Errorf("kafka %s: SCRAM user %s: %w", name, d.User, d.Err)
		}
		if !strings.HasPrefix(d.User, prefix) {
			continue
		}
		users[d.User] = true
		for _, ci := range d.CredInfos {
			switch ci.Mechanism {
			case kadm.ScramSha256, kadm.ScramSha512:
				mechanisms[d.User] = append(mechanisms[d.User], ci.Mechanism.String())
			default:
				im.skip(usersObj, "Kafka user %s: a SCRAM credential of unknown mechanism %d", q(d.User), ci.Mechanism)
			}
		}
	}
	for _, u := range slices.Sorted(maps.Keys(users)) {
		if !strings.HasPrefix(u, tenant+".") {
			im.skip(usersObj, "Kafka user %s is outside tenant %s's prefix %s", q(u), tenant, q(tenant+"."))
			continue
		}
		uo := &obj{}
		mechs := mechanisms[u]
		slices.Sort(mechs)
		switch {
		case len(mechs) == 0:
			uo.set("mechanism", lit(quote("SCRAM-SHA-512")), "No SCRAM credential exists: k3sync creates one.")
		default:
			mech := mechs[len(mechs)-1] // SCRAM-SHA-512 when both
			uo.set("mechanism", lit(quote(mech)), "The existing SCRAM credential is adopted; its password is never read.")
			for _, other := range mechs[:len(mechs)-1] {
				im.skip(uo, "Kafka user %s also has a %s credential: a tenant user has one mechanism (%s imported)", q(u), q(other), mech)
			}
		}
		uo.set("acls", list{elems: groupACLs(userACLs[u]), multiline: true})
		if vals, ok := quotas[u]; ok {
			qo := &obj{}
			for _, k := range slices.Sorted(maps.Keys(vals)) {
				f, known := quotaFields[k]
				switch {
				case !known:
					im.skip(uo, "Kafka user %s: quota %s=%s is not one the tenant schema has", q(u), q(k), float(vals[k]))
				case (k == "producer_byte_rate" || k == "consumer_byte_rate") && vals[k] != float64(int64(vals[k])):
					im.skip(uo, "Kafka user %s: quota %s=%s is not a whole number of bytes", q(u), q(k), float(vals[k]))
				default:
					qo.set(f, lit(float(vals[k])))
				}
			}
			if !qo.empty() {
				uo.set("quota", qo)
			}
		}
		usersObj.set(quote(u), uo)
		im.counts["kafka users"]++
	}
	if !usersObj.empty() {
		out.set("users", usersObj)
	}
	return out, nil
}

// configValue writes a topic config as the examples do: whole numbers
// and booleans bare, everything else as a string (Kafka's own text).
func configValue(v string) lit {
	if integer.MatchString(v) || v == "true" || v == "false" {
		return lit(v)
	}
	return lit(quote(v))
}

// groupACLs groups a user's bindings by resource, name, pattern,
// permission and host, with their operations together.
func groupACLs(acls []acl) []string {
	type key struct{ resource, name, pattern, permission, host string }
	ops := map[key][]string{}
	for _, a := range acls {
		k := key{a.resource, a.name, a.pattern, a.permission, a.host}
		if !slices.Contains(ops[k], a.operation) {
			ops[k] = append(ops[k], a.operation)
		}
	}
	ks := slices.SortedFunc(maps.Keys(ops), func(a, b key) int {
		return cmp.Or(cmp.Compare(slices.Index(aclResourceOrder, a.resource), slices.Index(aclResourceOrder, b.resource)),
			cmp.Compare(a.name, b.name), cmp.Compare(a.pattern, b.pattern), cmp.Compare(a.permission, b.permission), cmp.Compare(a.host, b.host))
	})
	out := make([]string, 0, len(ks))
	for _, k := range ks {
		o := ops[k]
		slices.SortFunc(o, func(a, b string) int { return slices.Index(operationOrder, a) - slices.Index(operationOrder, b) })
		pairs := []string{"resource", quote(k.resource), "name", quote(k.name)}
		if k.pattern != "literal" {
			pairs = append(pairs, "pattern", quote(k.pattern))
		}
		if k.permission != "allow" {
			pairs = append(pairs, "permission", quote(k.permission))
		}
		if k.host != "*" {
			pairs = append(pairs, "host", quote(k.host))
		}
		pairs = append(pairs, "operations", "["+strings.Join(quoteAll(o), ", ")+"]")
		out = append(out, inline(pairs...))
	}
	return out
}

// readACLs describes every ACL of the cluster with one ANY filter; values
// the schema has no word for are "".
func readACLs(ctx context.Context, adm kmsg.Requestor) ([]acl, error) {
	req := kmsg.NewPtrDescribeACLsRequest()
	req.ResourceType = kmsg.ACLResourceTypeAny
	req.ResourcePatternType = kmsg.ACLResourcePatternTypeAny
	req.Operation = kmsg.ACLOperationAny
	req.PermissionType = kmsg.ACLPermissionTypeAny
	resp, err := req.RequestWith(ctx, adm)
	if err != nil {
		return nil, fmt.Errorf("describe acls: %w", err)
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return nil, fmt.Errorf("describe acls: %w", err)
	}
	var out []acl
	for _, r := range resp.Resources {
		for _, a := range r.ACLs {
			out = append(out, acl{
				principal: a.Principal, host: a.Host, name: r.ResourceName,
				resource: aclResources[r.ResourceType], pattern: aclPatterns[r.ResourcePatternType],
				permission: aclPermissions[a.PermissionType], operation: aclOperations[a.Operation],
			})
		}
	}
	slices.SortFunc(out, func(a, b acl) int {
		return cmp.Or(cmp.Compare(a.principal, b.principal), cmp.Compare(a.resource, b.resource), cmp.Compare(a.name, b.name),
			cmp.Compare(a.pattern, b.pattern), cmp.Compare(a.permission, b.permission), cmp.Compare(a.host, b.host), cmp.Compare(a.operation, b.operation))
	})
	return out, nil
}

// readQuotas describes the quotas of every user entity (alone: quotas of a
// user and client id together are not a tenant's).
func readQuotas(ctx context.Context, adm kmsg.Requestor) (map[string]map[string]float64, error) {
	req := kmsg.NewPtrDescribeClientQuotasRequest()
	c := kmsg.NewDescribeClientQuotasRequestComponent()
	c.EntityType = "user"
	c.MatchType = 2 // any specified name
	req.Components = []kmsg.DescribeClientQuotasRequestComponent{c}
	req.Strict = true
	resp, err := req.RequestWith(ctx, adm)
	if err != nil {
		return nil, fmt.Errorf("describe client quotas: %w", err)
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return nil, fmt.Errorf("describe client quotas: %w", err)
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
