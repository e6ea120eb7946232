package kafkaspec

import (
	"fmt"
	"slices"
	"strings"
)

// ClusterResourceName is the only name of the cluster ACL resource.
const ClusterResourceName = "kafka-cluster"

// operations lists the operations Kafka defines for each resource type
// (AclOperation in Kafka's authorizer docs). "all" applies to every type.
var operations = map[string][]string{
	"topic":            {"all", "read", "write", "create", "delete", "alter", "describe", "describe-configs", "alter-configs"},
	"group":            {"all", "read", "describe", "delete"},
	"cluster":          {"all", "create", "cluster-action", "describe-configs", "alter-configs", "idempotent-write", "alter", "describe"},
	"transactional-id": {"all", "describe", "write"},
}

// ValidateACLOperation reports why op is meaningless on resource.
func ValidateACLOperation(resource, op string) error {
	ops, ok := operations[resource]
	if !ok {
		return fmt.Errorf("unknown ACL resource type %q", resource)
	}
	if !slices.Contains(ops, op) {
		return fmt.Errorf("operation %q does not apply to %s resources (valid: %s)", op, resource, strings.Join(ops, ", "))
	}
	return nil
}

// QuotaKeys are the client quota keys Kafka knows, as in QuotaConfig.
var QuotaKeys = []string{"consumer_byte_rate", "controller_mutation_rate", "producer_byte_rate", "request_percentage"}
