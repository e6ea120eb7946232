package kafka

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/k3sync/k3sync/internal/kafkaspec"
	"github.com/k3sync/k3sync/internal/render"
)

// Kinds of resources, as plan.Key.Kind and as the prefix of inventory IDs.
const (
	kindTopic = "topic"
	kindACL   = "acl"
	kindQuota = "quota"
	kindUser  = "user"
	// kindPending marks are not resources (see pendingID).
	kindPending = "pending"
)

// Levels: topics first, then what refers to them; deletes in reverse.
const (
	levelTopics = 0
	levelAccess = 1
)

// inventoryID is the key of a resource in state.Entry.Resources.
func inventoryID(kind, name string) string { return kind + "/" + name }

// splitID is the inverse of inventoryID.
func splitID(id string) (kind, name string, ok bool) {
	return strings.Cut(id, "/")
}

// aclName is the stable name of an ACL binding, such as
// "User:payments.api allow read topic prefixed:payments. from *".
func aclName(a render.KafkaACL) string {
	return fmt.Sprintf("%s %s %s %s %s:%s from %s", a.Principal, a.Permission, a.Operation, a.ResourceType, a.PatternType, a.ResourceName, aclHost(a))
}

func aclHost(a render.KafkaACL) string {
	if a.Host == "" {
		return "*"
	}
	return a.Host
}

// normalACL fills defaults, so that bindings compare equal to what Kafka
// returns.
func normalACL(a render.KafkaACL) render.KafkaACL {
	a.Host = aclHost(a)
	if a.PatternType == "" {
		a.PatternType = "literal"
	}
	if a.Permission == "" {
		a.Permission = "allow"
	}
	return a
}

var (
	aclResourceTypes = map[string]kmsg.ACLResourceType{
		"topic":            kmsg.ACLResourceTypeTopic,
		"group":            kmsg.ACLResourceTypeGroup,
		"cluster":          kmsg.ACLResourceTypeCluster,
		"transactional-id": kmsg.ACLResourceTypeTransactionalId,
		"delegation-token": kmsg.ACLResourceTypeDelegationToken,
		"user":             kmsg.ACLResourceTypeUser,
	}
	aclPatterns = map[string]kmsg.ACLResourcePatternType{
		"literal":  kmsg.ACLResourcePatternTypeLiteral,
		"prefixed": kmsg.ACLResourcePatternTypePrefixed,
	}
	aclPermissions = map[string]kmsg.ACLPermissionType{
		"allow": kmsg.ACLPermissionTypeAllow,
		"deny":  kmsg.ACLPermissionTypeDeny,
	}
	aclOperations = map[string]kmsg.ACLOperation{
		"all":              kmsg.ACLOperationAll,
		"read":             kmsg.ACLOperationRead,
		"write":            kmsg.ACLOperationWrite,
		"create":           kmsg.ACLOperationCreate,
		"delete":           kmsg.ACLOperationDelete,
		"alter":            kmsg.ACLOperationAlter,
		"describe":         kmsg.ACLOperationDescribe,
		"cluster-action":   kmsg.ACLOperationClusterAction,
		"describe-configs": kmsg.ACLOperationDescribeConfigs,
		"alter-configs":    kmsg.ACLOperationAlterConfigs,
		"idempotent-write": kmsg.ACLOperationIdempotentWrite,
		"create-tokens":    kmsg.ACLOperationCreateTokens,
		"describe-tokens":  kmsg.ACLOperationDescribeTokens,
	}
)

// reverse maps an enum back to k3sync's name for it, or the enum's own
// String for values k3sync never writes.
func reverse[K comparable](m map[string]K, v K) string {
	for name, e := range m {
		if e == v {
			return name
		}
	}
	return strings.ToLower(fmt.Sprint(v))
}

// aclBinding is an ACL binding in Kafka's enums.
type aclBinding struct {
	principal, host, name string
	resource              kmsg.ACLResourceType
	pattern               kmsg.ACLResourcePatternType
	operation             kmsg.ACLOperation
	permission            kmsg.ACLPermissionType
}

// binding converts a to Kafka's enums; the loader validated every name.
func binding(a render.KafkaACL) (aclBinding, error) {
	a = normalACL(a)
	b := aclBinding{principal: a.Principal, host: a.Host, name: a.ResourceName}
	var ok [4]bool
	b.resource, ok[0] = aclResourceTypes[a.ResourceType]
	b.pattern, ok[1] = aclPatterns[a.PatternType]
	b.operation, ok[2] = aclOperations[a.Operation]
	b.permission, ok[3] = aclPermissions[a.Permission]
	if slices.Contains(ok[:], false) {
		return aclBinding{}, fmt.Errorf("kafka acl %s: unknown resource type, pattern, operation or permission", aclName(a))
	}
	return b, nil
}

// liveACL converts a described ACL to k3sync's form.
func liveACL(d kmsg.DescribeACLsResponseResource, a kmsg.DescribeACLsResponseResourceACL) render.KafkaACL {
	return render.KafkaACL{
		Principal:    a.Principal,
		Host:         a.Host,
		ResourceType: reverse(aclResourceTypes, d.ResourceType),
		ResourceName: d.ResourceName,
		PatternType:  reverse(aclPatterns, d.ResourcePatternType),
		Operation:    reverse(aclOperations, a.Operation),
		Permission:   reverse(aclPermissions, a.PermissionType),
	}
}

// scramMechanism converts a render mechanism name to kadm's.
func scramMechanism(m string) (kadm.ScramMechanism, error) {
	switch m {
	case "SCRAM-SHA-256":
		return kadm.ScramSha256, nil
	case "SCRAM-SHA-512":
		return kadm.ScramSha512, nil
	}
	return 0, fmt.Errorf("unknown SCRAM mechanism %q", m)
}

func mechanismName(m kadm.ScramMechanism) string {
	switch m {
	case kadm.ScramSha256:
		return "SCRAM-SHA-256"
	case kadm.ScramSha512:
		return "SCRAM-SHA-512"
	}
	return fmt.Sprintf("SCRAM-%d", m)
}

// record encodes a last applied value for the state store.
func record(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		// Only plain render values are recorded; they always marshal.
		panic(fmt.Sprintf("kafka: encode last applied state: %v", err))
	}
	return b
}

// decode reads a last applied value; a value that does not decode is
// treated as unknown (nil), never as an error, so that a damaged entry
// cannot stop every plan: the resource is still in the inventory.
func decode[T any](raw json.RawMessage) *T {
	if raw == nil {
		return nil
	}
	v := new(T)
	if err := json.Unmarshal(raw, v); err != nil {
		return nil
	}
	return v
}

// configDefault is what a plan shows key falling back to once Git stops
// setting it: Kafka's stock default from kafkaspec, or the broker's own
// when kafkaspec does not know the key.
func configDefault(key string, live liveConfig) string {
	if k, ok := kafkaspec.TopicConfigs[key]; ok {
		return k.Default
	}
	return live.def
}

// sameConfig reports whether the broker reads a and b, two values of
// config key, as one value (kafkaspec.SameValue).
func sameConfig(key, a, b string) bool { return kafkaspec.SameValue(key, a, b) }
