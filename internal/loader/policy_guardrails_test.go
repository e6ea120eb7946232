package loader

import (
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
)

// tenantFile is a tenant file whose body starts on line 5.
func tenantFile(body string) *fstest.MapFile {
	return &fstest.MapFile{Data: []byte("package k3sync\n\nowners: [\"team@example.com\"]\n\n" + body)}
}

// namespaceA is tenant a's namespace, lines 5-8; Kafka users need one.
const namespaceA = `kubernetes: {
	clusters: ["eu-west"]
	namespaces: a: quota: {requests: {cpu: "1", memory: "1Gi"}, pods: 10}
}
`

// TestKubernetesKafkaGuardrails loads hostile tenants against the
// default guardrails, then the same tenants against platforms that widen
// a guardrail on purpose. want is what `k3sync validate` prints; the
// platform's extra lines start at platform.cue:33.
func TestKubernetesKafkaGuardrails(t *testing.T) {
	platform := testPlatform(t)
	tests := []struct {
		name string
		// platform is appended to testdata/platform.cue.
		platform string
		// tenant is the folder name; body its tenant.cue after the owners.
		tenant, body string
		// reserved are the namespaces k3sync's configuration reserves.
		reserved []string
		want     string
	}{
		{
			name:   "tenant kube claims kube-system",
			tenant: "kube",
			body: `kubernetes: {
	clusters: ["eu-west"]
	namespaces: "kube-system": quota: {requests: {cpu: "1", memory: "1Gi"}, pods: 10}
}
`,
			want: `tenants/kube/tenant.cue:1:1: tenant name "kube" is reserved (kube-* namespaces belong to Kubernetes): rename the folder tenants/kube
tenants/kube/tenant.cue:7:14: kubernetes.namespaces."kube-system": namespace "kube-system" is reserved (kube-* namespaces belong to Kubernetes): no tenant may claim it`,
		},
		{
			name:   "tenant default claims the default namespace",
			tenant: "default",
			body: `kubernetes: {
	clusters: ["eu-west"]
	namespaces: default: quota: {requests: {cpu: "1", memory: "1Gi"}, pods: 10}
}
`,
			want: `tenants/default/tenant.cue:1:1: tenant name "default" is reserved (the "default" namespace belongs to Kubernetes): rename the folder tenants/default
tenants/default/tenant.cue:7:14: kubernetes.namespaces.default: namespace "default" is reserved (Kubernetes' default namespace): no tenant may claim it`,
		},
		{
			name:     "a namespace the platform reserves by name and by prefix",
			platform: `policy: guardrails: kubernetes: reservedNamespaces: ["a-ops", "a-platform-*"]` + "\n",
			tenant:   "a",
			body: `kubernetes: {
	clusters: ["eu-west"]
	namespaces: "a-ops": quota: {requests: {cpu: "1", memory: "1Gi"}, pods: 10}
	namespaces: "a-platform-logs": quota: {requests: {cpu: "1", memory: "1Gi"}, pods: 10}
}
`,
			want: `tenants/a/tenant.cue:7:14: kubernetes.namespaces."a-ops": namespace "a-ops" is reserved (policy.guardrails.kubernetes.reservedNamespaces): no tenant may claim it
tenants/a/tenant.cue:8:14: kubernetes.namespaces."a-platform-logs": namespace "a-platform-logs" is reserved (policy.guardrails.kubernetes.reservedNamespaces): no tenant may claim it`,
		},
		{
			// Sixty million digits, which every sum and comparison of the
			// capacity check would work through; a pod count whose sum
			// would wrap past the capacity check.
			name:   "quantities too large to add",
			tenant: "a",
			body: `kubernetes: {
	clusters: ["eu-west"]
	namespaces: a: quota: {requests: {cpu: "1e60000000", memory: "1Gi"}, pods: 9223372036854775807}
	namespaces: "a-b": quota: {requests: {cpu: "1", memory: "100000000000000000000Gi"}, pods: 1}
}
`,
			want: `tenants/a/tenant.cue:7:41: kubernetes.namespaces.a.quota.requests.cpu: invalid value "1e60000000" (out of bound =~"^([0-9]{1,19}(\\.[0-9]{0,9})?|\\.[0-9]{1,9})([KMGTPE]i|[numkMGTPE]|[eE][+-]?[0-9]{1,2})?$")
tenants/a/tenant.cue:7:77: kubernetes.namespaces.a.quota.pods: invalid value 9223372036854775807 (out of bound <=1000000)
tenants/a/tenant.cue:8:58: kubernetes.namespaces."a-b".quota.requests.memory: invalid value "100000000000000000000Gi" (out of bound =~"^([0-9]{1,19}(\\.[0-9]{0,9})?|\\.[0-9]{1,9})([KMGTPE]i|[numkMGTPE]|[eE][+-]?[0-9]{1,2})?$")`,
		},
		{
			name:     "k3sync's own namespace, from its configuration",
			tenant:   "platform",
			reserved: []string{"platform-system"},
			body: `kubernetes: {
	clusters: ["eu-west"]
	namespaces: "platform-system": quota: {requests: {cpu: "1", memory: "1Gi"}, pods: 10}
}
`,
			want: `tenants/platform/tenant.cue:7:14: kubernetes.namespaces."platform-system": namespace "platform-system" is reserved (k3sync's own namespace): no tenant may claim it`,
		},
		{
			name:   "tenant named k3sync",
			tenant: "k3sync",
			body: `kubernetes: {
	clusters: ["eu-west"]
	namespaces: k3sync: quota: {requests: {cpu: "1", memory: "1Gi"}, pods: 10}
}
`,
			want: `tenants/k3sync/tenant.cue:1:1: tenant name "k3sync" is reserved (k3sync's own namespace and label domain): rename the folder tenants/k3sync`,
		},
		{
			name:     "a tenant name the platform reserves",
			platform: `policy: guardrails: kubernetes: reservedTenants: ["shared"]` + "\n",
			tenant:   "shared",
			body: `kubernetes: {
	clusters: ["eu-west"]
	namespaces: shared: quota: {requests: {cpu: "1", memory: "1Gi"}, pods: 10}
}
`,
			want: `tenants/shared/tenant.cue:1:1: tenant name "shared" is reserved (policy.guardrails.kubernetes.reservedTenants): rename the folder tenants/shared`,
		},
		{
			name:   "admin granted to system:authenticated and system:masters",
			tenant: "a",
			body: namespaceA + `kubernetes: access: [
	{group: "system:authenticated", role: "admin"},
	{group: "system:masters", role: "view"},
]
`,
			want: `tenants/a/tenant.cue:10:3: kubernetes.access.0.group: group "system:authenticated" is a Kubernetes system group: tenants may not grant roles to system:* groups
tenants/a/tenant.cue:11:3: kubernetes.access.1.group: group "system:masters" is a Kubernetes system group: tenants may not grant roles to system:* groups`,
		},
		{
			name:   "ClusterRole cluster-admin",
			tenant: "a",
			body:   namespaceA + `kubernetes: access: [{group: "a-devs", role: "cluster-admin"}]` + "\n",
			want:   `tenants/a/tenant.cue:9:40: kubernetes.access.0.role: ClusterRole "cluster-admin" may not be bound by tenants (allowed: admin, edit, view)`,
		},
		{
			name:     "the platform allows its own aggregated ClusterRole",
			platform: `policy: guardrails: kubernetes: allowedClusterRoles: ["view", "edit", "platform:debugger"]` + "\n",
			tenant:   "a",
			body:     namespaceA + `kubernetes: access: [{group: "a-devs", role: "platform:debugger"}, {group: "a-sre", role: "admin"}]` + "\n",
			want:     `tenants/a/tenant.cue:9:85: kubernetes.access.1.role: ClusterRole "admin" may not be bound by tenants (allowed: edit, platform:debugger, view)`,
		},
		{
			// Each apply would take the binding from the other grant.
			name:   "two grants of one RoleBinding name",
			tenant: "a",
			body: namespaceA + `kubernetes: access: [
	{group: "a-devs", role: "edit", name: "devs"},
	{group: "a-ops", role: "view", name: "ops"},
	{group: "a-sre", role: "admin", name: "devs"},
]
`,
			want: `tenants/a/tenant.cue:12:34: kubernetes.access.2.name: RoleBinding name "devs" is also access[0]'s in namespace "a": each grant needs a name of its own`,
		},
		{
			// Both would be RoleBinding k3sync:edit:a-devs: one group
			// would get no access, and each apply take it from the other.
			name:   "two grants whose made-up RoleBinding names meet",
			tenant: "a",
			body: namespaceA + `kubernetes: access: [
	{group: "a/devs", role: "edit"},
	{group: "a-devs", role: "edit"},
]
`,
			want: `tenants/a/tenant.cue:11:2: kubernetes.access.1.name: RoleBinding name "k3sync:edit:a-devs" (made of its group and role; set name) is also access[0]'s in namespace "a": each grant needs a name of its own`,
		},
		{
			// Not k3sync's own bindings: a grant's name is a DNS label,
			// k3sync's names have colons.
			name:   "a grant named as k3sync's deployer binding",
			tenant: "a",
			body:   namespaceA + `kubernetes: access: [{group: "a-ci", role: "edit", name: "k3sync:deployer"}]` + "\n",
			want:   `tenants/a/tenant.cue:9:58: kubernetes.access.0.name: invalid value "k3sync:deployer" (out of bound =~"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")`,
		},
		{
			name:     "a group outside the platform's pattern",
			platform: `policy: guardrails: kubernetes: groupPattern: "^{tenant}-[a-z]+$"` + "\n",
			tenant:   "a",
			body:     namespaceA + `kubernetes: access: [{group: "a-devs", role: "edit"}, {group: "b-devs", role: "edit"}, {group: "a-devs-b", role: "edit"}]` + "\n",
			want: `tenants/a/tenant.cue:9:56: kubernetes.access.1.group: group "b-devs" does not match the platform's group pattern "^a-[a-z]+$"
tenants/a/tenant.cue:9:89: kubernetes.access.2.group: group "a-devs-b" does not match the platform's group pattern "^a-[a-z]+$"`,
		},
		{
			name:     "a group pattern that is no regular expression",
			platform: `policy: guardrails: kubernetes: groupPattern: "^{tenant}-(devs$"` + "\n",
			tenant:   "a",
			body:     namespaceA + `kubernetes: access: [{group: "a-devs", role: "edit"}]` + "\n",
			want:     `platform.cue:33:33: policy.guardrails.kubernetes.groupPattern: invalid regular expression "^{tenant}-(devs$": error parsing regexp: missing closing ): ` + "`^tenant-(devs$`",
		},
		{
			name:   "pod-security label and a k3sync annotation",
			tenant: "a",
			body: `kubernetes: {
	clusters: ["eu-west"]
	namespaces: a: {
		quota: {requests: {cpu: "1", memory: "1Gi"}, pods: 10}
		labels: "pod-security.kubernetes.io/enforce": "privileged"
		labels: "app.kubernetes.io/managed-by":       "someone-else"
		annotations: "k3sync.io/tenant":              "b"
		annotations: "scheduler.alpha.kubernetes.io/node-selector": "role=infra"
	}
}
`,
			want: `tenants/a/tenant.cue:9:11: kubernetes.namespaces.a.labels."pod-security.kubernetes.io/enforce": label "pod-security.kubernetes.io/enforce" has the reserved prefix "pod-security.kubernetes.io": only keys the platform allows (policy.guardrails.kubernetes.allowedLabelKeys)
tenants/a/tenant.cue:10:11: kubernetes.namespaces.a.labels."app.kubernetes.io/managed-by": label "app.kubernetes.io/managed-by" is reserved for k3sync
tenants/a/tenant.cue:11:16: kubernetes.namespaces.a.annotations."k3sync.io/tenant": annotation "k3sync.io/tenant" is reserved for k3sync
tenants/a/tenant.cue:12:16: kubernetes.namespaces.a.annotations."scheduler.alpha.kubernetes.io/node-selector": annotation "scheduler.alpha.kubernetes.io/node-selector" has the reserved prefix "scheduler.alpha.kubernetes.io": only keys the platform allows (policy.guardrails.kubernetes.allowedAnnotationKeys)`,
		},
		{
			name: "the platform allows app.kubernetes.io labels, never k3sync's own",
			platform: `policy: guardrails: kubernetes: allowedLabelKeys: ["app.kubernetes.io/"]
policy: guardrails: kubernetes: allowedAnnotationKeys: ["scheduler.alpha.kubernetes.io/node-selector"]
`,
			tenant: "a",
			body: `kubernetes: {
	clusters: ["eu-west"]
	namespaces: a: {
		quota: {requests: {cpu: "1", memory: "1Gi"}, pods: 10}
		labels: "app.kubernetes.io/part-of":          "shop"
		labels: "app.kubernetes.io/managed-by":       "someone-else"
		annotations: "scheduler.alpha.kubernetes.io/node-selector": "role=infra"
	}
}
`,
			want: `tenants/a/tenant.cue:10:11: kubernetes.namespaces.a.labels."app.kubernetes.io/managed-by": label "app.kubernetes.io/managed-by" is reserved for k3sync`,
		},
		{
			// OpenShift exempts a run-level namespace from security context
			// constraints and places its pods by the node-selector
			// annotation; Rancher moves a namespace into the project its
			// projectId names.
			name:   "label and annotation keys distributions act on",
			tenant: "a",
			body: `kubernetes: {
	clusters: ["eu-west"]
	namespaces: a: {
		quota: {requests: {cpu: "1", memory: "1Gi"}, pods: 10}
		labels: "openshift.io/run-level": "0"
		annotations: "OpenShift.io/node-selector": "node-role.kubernetes.io/master="
		annotations: "field.cattle.io/projectId":  "c-abc:p-system"
		labels: "example.com/team":                "a"
	}
}
`,
			want: `tenants/a/tenant.cue:9:11: kubernetes.namespaces.a.labels."openshift.io/run-level": label "openshift.io/run-level" has the reserved prefix "openshift.io": only keys the platform allows (policy.guardrails.kubernetes.allowedLabelKeys)
tenants/a/tenant.cue:10:16: kubernetes.namespaces.a.annotations."OpenShift.io/node-selector": annotation "OpenShift.io/node-selector" has the reserved prefix "openshift.io": only keys the platform allows (policy.guardrails.kubernetes.allowedAnnotationKeys)
tenants/a/tenant.cue:11:16: kubernetes.namespaces.a.annotations."field.cattle.io/projectId": annotation "field.cattle.io/projectId" has the reserved prefix "field.cattle.io": only keys the platform allows (policy.guardrails.kubernetes.allowedAnnotationKeys)`,
		},
		{
			name: "the platform reserves its own key domains and allows one key",
			platform: `policy: guardrails: kubernetes: reservedKeyDomains: ["openshift.io", "capsule.clastix.io"]
policy: guardrails: kubernetes: allowedAnnotationKeys: ["openshift.io/display-name"]
`,
			tenant: "a",
			body: `kubernetes: {
	clusters: ["eu-west"]
	namespaces: a: {
		quota: {requests: {cpu: "1", memory: "1Gi"}, pods: 10}
		labels: "capsule.clastix.io/tenant":  "b"
		annotations: "openshift.io/display-name": "Team A"
		annotations: "field.cattle.io/projectId": "c-abc:p-a"
	}
}
`,
			want: `tenants/a/tenant.cue:9:11: kubernetes.namespaces.a.labels."capsule.clastix.io/tenant": label "capsule.clastix.io/tenant" has the reserved prefix "capsule.clastix.io": only keys the platform allows (policy.guardrails.kubernetes.allowedLabelKeys)`,
		},
		{
			name:   "label and annotation keys Kubernetes would refuse",
			tenant: "a",
			body: `kubernetes: {
	clusters: ["eu-west"]
	namespaces: a: {
		quota: {requests: {cpu: "1", memory: "1Gi"}, pods: 10}
		labels: "team name":   "x"
		labels: tier:          "-batch"
		annotations: "a//b":   "x"
	}
}
`,
			want: `tenants/a/tenant.cue:9:11: kubernetes.namespaces.a.labels."team name": invalid label key "team name": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')
tenants/a/tenant.cue:10:11: kubernetes.namespaces.a.labels.tier: label "tier": invalid value "-batch": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')
tenants/a/tenant.cue:11:16: kubernetes.namespaces.a.annotations."a//b": invalid annotation key "a//b": a valid label key must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')`,
		},
		{
			name:   "Kafka: operation all on the cluster",
			tenant: "a",
			body: namespaceA + `kafka: {
	cluster: "main"
	users: "a.app": acls: [{resource: "cluster", name: "kafka-cluster", operations: ["idempotent-write", "all", "alter"]}]
}
`,
			want: `tenants/a/tenant.cue:11:103: kafka.users."a.app".acls.0.operations.1: operation "all" on the cluster resource reaches beyond the tenant: the platform allows "idempotent-write" (policy.guardrails.kafka.allowedClusterOperations)
tenants/a/tenant.cue:11:110: kafka.users."a.app".acls.0.operations.2: operation "alter" on the cluster resource reaches beyond the tenant: the platform allows "idempotent-write" (policy.guardrails.kafka.allowedClusterOperations)`,
		},
		{
			name:     "Kafka: the platform allows describe on the cluster",
			platform: `policy: guardrails: kafka: allowedClusterOperations: ["idempotent-write", "describe"]` + "\n",
			tenant:   "a",
			body: namespaceA + `kafka: {
	cluster: "main"
	users: "a.app": acls: [{resource: "cluster", name: "kafka-cluster", operations: ["describe", "alter"]}]
}
`,
			want: `tenants/a/tenant.cue:11:95: kafka.users."a.app".acls.0.operations.1: operation "alter" on the cluster resource reaches beyond the tenant: the platform allows "idempotent-write", "describe" (policy.guardrails.kafka.allowedClusterOperations)`,
		},
		{
			name:   "Kafka: ACL hosts that are patterns or names",
			tenant: "a",
			body: namespaceA + `kafka: {
	cluster: "main"
	users: "a.app": acls: [
		{resource: "topic", name: "a.orders", host: "10.0.0.*", operations: ["read"]},
		{resource: "topic", name: "a.orders", host: "broker.example.com", operations: ["read"]},
		{resource: "topic", name: "a.orders", host: "10.1.2.3", operations: ["write"]},
		{resource: "topic", name: "a.orders", host: "fe80::1%eth0", operations: ["write"]},
	]
}
`,
			want: `tenants/a/tenant.cue:12:41: kafka.users."a.app".acls.0.host: host "10.0.0.*" is not "*" or an IP address: Kafka matches an ACL's host against the client's IP address, without patterns or names
tenants/a/tenant.cue:13:41: kafka.users."a.app".acls.1.host: host "broker.example.com" is not "*" or an IP address: Kafka matches an ACL's host against the client's IP address, without patterns or names
tenants/a/tenant.cue:15:41: kafka.users."a.app".acls.3.host: host "fe80::1%eth0" is not "*" or an IP address: Kafka matches an ACL's host against the client's IP address, without patterns or names`,
		},
		{
			name:     "Kafka: the platform allows only the * host",
			platform: `policy: guardrails: kafka: wildcardHostOnly: true` + "\n",
			tenant:   "a",
			body: namespaceA + `kafka: {
	cluster: "main"
	users: "a.app": acls: [
		{resource: "topic", name: "a.orders", operations: ["read"]},
		{resource: "topic", name: "a.orders", host: "10.1.2.3", operations: ["write"]},
	]
}
`,
			want: `tenants/a/tenant.cue:13:41: kafka.users."a.app".acls.1.host: host "10.1.2.3": the platform allows only "*" (policy.guardrails.kafka.wildcardHostOnly)`,
		},
		{
			name:   "Kafka: prefixed names without the tenant's dot, and wildcards",
			tenant: "a",
			body: namespaceA + `kafka: {
	cluster: "main"
	users: "a.app": acls: [
		{resource: "group", name: "a", pattern: "prefixed", operations: ["read"]},
		{resource: "transactional-id", name: "a", pattern: "prefixed", operations: ["write"]},
		{resource: "topic", name: "*", operations: ["read"]},
		{resource: "group", name: "*", operations: ["read"]},
		{resource: "topic", name: "a.", pattern: "prefixed", operations: ["read"]},
	]
}
`,
			want: `tenants/a/tenant.cue:12:23: kafka.users."a.app".acls.0.name: group "a" is outside tenant a's prefix "a."
tenants/a/tenant.cue:13:34: kafka.users."a.app".acls.1.name: transactional-id "a" is outside tenant a's prefix "a."
tenants/a/tenant.cue:14:23: kafka.users."a.app".acls.2.name: topic "*" is outside tenant a's prefix "a."
tenants/a/tenant.cue:14:23: kafka.users."a.app".acls.2.name: topic name "*" has illegal character '*' at 0: Kafka allows only ASCII letters, digits, '.', '_' and '-'
tenants/a/tenant.cue:15:23: kafka.users."a.app".acls.3.name: group "*" is outside tenant a's prefix "a."`,
		},
		{
			name:   "Kafka: an ACL for another principal",
			tenant: "a",
			body: namespaceA + `kafka: {
	cluster: "main"
	users: "a.app": acls: [{resource: "topic", name: "a.orders", principal: "User:*", operations: ["read"]}]
}
`,
			want: `tenants/a/tenant.cue:11:63: kafka.users."a.app".acls.0.principal: field not allowed`,
		},
		{
			name: "Kafka: a quota above the platform's ceiling, and one missing",
			platform: `policy: guardrails: kafka: maxQuota: {producerByteRate: 10485760, requestPercentage: 50}
`,
			tenant: "a",
			body: namespaceA + `kafka: {
	cluster: "main"
	users: "a.app": {acls: [], quota: {producerByteRate: 20971520, requestPercentage: 50}}
	users: "a.batch": {acls: [], quota: producerByteRate: 1048576}
	users: "a.idle": acls: []
}
`,
			want: `tenants/a/tenant.cue:11:37: kafka.users."a.app".quota.producerByteRate: producerByteRate 20971520 is above the platform's ceiling 10485760 (policy.guardrails.kafka.maxQuota)
tenants/a/tenant.cue:12:31: kafka.users."a.batch".quota: requestPercentage is required: the platform caps it at 50 (policy.guardrails.kafka.maxQuota)
tenants/a/tenant.cue:13:9: kafka.users."a.idle".quota: producerByteRate is required: the platform caps it at 10485760 (policy.guardrails.kafka.maxQuota)
tenants/a/tenant.cue:13:9: kafka.users."a.idle".quota: requestPercentage is required: the platform caps it at 50 (policy.guardrails.kafka.maxQuota)`,
		},
		{
			// a.sly writes its numbers as Kafka reads them and a Go parser
			// does not: a leading control character (Java's trim drops it)
			// and Arabic-Indic digits.
			name: "Kafka: topic configs above the platform's ceilings, or unlimited",
			platform: `policy: guardrails: kafka: maxTopicConfigs: {"retention.ms": 2592000000, "retention.bytes": 10737418240, "max.message.bytes": 1048588}
`,
			tenant: "a",
			body: namespaceA + `kafka: {
	cluster: "main"
	topics: "a.forever": configs: {"retention.ms": "-1", "retention.bytes": -1}
	topics: "a.year": configs: {"retention.ms": 31536000000, "max.message.bytes": "1048589", "segment.ms": "3600000"}
	topics: "a.month": configs: {"retention.ms": "2592000000", "retention.bytes": "10737418240"}
	topics: "a.default": partitions: 3
	topics: "a.sly": configs: {"retention.ms": "\u0001-1", "retention.bytes": "١٠٠٠٠٠٠٠٠٠٠٠", "min.insync.replicas": "\u00015"}
}
`,
			want: `tenants/a/tenant.cue:11:33: kafka.topics."a.forever".configs."retention.ms": retention.ms -1 sets no limit (Kafka reads -1 as unlimited, -2 as another config's value); the platform caps it at 2592000000 (policy.guardrails.kafka.maxTopicConfigs)
tenants/a/tenant.cue:11:55: kafka.topics."a.forever".configs."retention.bytes": retention.bytes -1 sets no limit (Kafka reads -1 as unlimited, -2 as another config's value); the platform caps it at 10737418240 (policy.guardrails.kafka.maxTopicConfigs)
tenants/a/tenant.cue:12:30: kafka.topics."a.year".configs."retention.ms": retention.ms 31536000000 is above the platform's ceiling 2592000000 (policy.guardrails.kafka.maxTopicConfigs)
tenants/a/tenant.cue:12:59: kafka.topics."a.year".configs."max.message.bytes": max.message.bytes 1048589 is above the platform's ceiling 1048588 (policy.guardrails.kafka.maxTopicConfigs)
tenants/a/tenant.cue:15:29: kafka.topics."a.sly".configs."retention.ms": retention.ms -1 sets no limit (Kafka reads -1 as unlimited, -2 as another config's value); the platform caps it at 2592000000 (policy.guardrails.kafka.maxTopicConfigs)
tenants/a/tenant.cue:15:57: kafka.topics."a.sly".configs."retention.bytes": retention.bytes 100000000000 is above the platform's ceiling 10737418240 (policy.guardrails.kafka.maxTopicConfigs)
tenants/a/tenant.cue:15:104: kafka.topics."a.sly".configs."min.insync.replicas": min.insync.replicas 5 exceeds the replication factor 3: producers with acks=all would always fail`,
		},
		{
			name: "Kafka: a ceiling on a topic config that is not an integer",
			platform: `policy: guardrails: kafka: maxTopicConfigs: {"cleanup.policy": 1, "retention.days": 30}
`,
			tenant: "a",
			body: namespaceA + `kafka: {
	cluster: "main"
	topics: "a.events": configs: "cleanup.policy": "compact"
}
`,
			want: `platform.cue:33:46: policy.guardrails.kafka.maxTopicConfigs."cleanup.policy": "cleanup.policy" is not an integer topic config of Kafka: a ceiling on it bounds nothing
platform.cue:33:67: policy.guardrails.kafka.maxTopicConfigs."retention.days": "retention.days" is not an integer topic config of Kafka: a ceiling on it bounds nothing`,
		},
		{
			// An allow ACL with these lets the user's client make, resize,
			// reconfigure and delete topics outside Git; a deny ACL only
			// takes rights away, and groups are the tenant's own.
			name:   "Kafka: topic operations beyond the platform's allowedTopicOperations",
			tenant: "a",
			body: namespaceA + `kafka: {
	cluster: "main"
	users: "a.app": acls: [{resource: "topic", name: "a.", pattern: "prefixed", operations: ["read", "write", "describe", "describe-configs", "create", "alter", "alter-configs", "delete", "all"]},
		{resource: "topic", name: "a.", pattern: "prefixed", permission: "deny", operations: ["all"]},
		{resource: "group", name: "a.", pattern: "prefixed", operations: ["read", "delete"]}]
}
`,
			want: `tenants/a/tenant.cue:11:140: kafka.users."a.app".acls.0.operations.4: operation "create" on topics lets the user's client create, change or delete topics outside Git, past the platform's topic guardrails: the platform allows "read", "write", "describe", "describe-configs" (policy.guardrails.kafka.allowedTopicOperations)
tenants/a/tenant.cue:11:150: kafka.users."a.app".acls.0.operations.5: operation "alter" on topics lets the user's client create, change or delete topics outside Git, past the platform's topic guardrails: the platform allows "read", "write", "describe", "describe-configs" (policy.guardrails.kafka.allowedTopicOperations)
tenants/a/tenant.cue:11:159: kafka.users."a.app".acls.0.operations.6: operation "alter-configs" on topics lets the user's client create, change or delete topics outside Git, past the platform's topic guardrails: the platform allows "read", "write", "describe", "describe-configs" (policy.guardrails.kafka.allowedTopicOperations)
tenants/a/tenant.cue:11:176: kafka.users."a.app".acls.0.operations.7: operation "delete" on topics lets the user's client create, change or delete topics outside Git, past the platform's topic guardrails: the platform allows "read", "write", "describe", "describe-configs" (policy.guardrails.kafka.allowedTopicOperations)
tenants/a/tenant.cue:11:186: kafka.users."a.app".acls.0.operations.8: operation "all" on topics lets the user's client create, change or delete topics outside Git, past the platform's topic guardrails: the platform allows "read", "write", "describe", "describe-configs" (policy.guardrails.kafka.allowedTopicOperations)`,
		},
		{
			name: "Kafka: topic operations the platform widens",
			platform: `policy: guardrails: kafka: allowedTopicOperations: ["read", "write", "describe", "create"]
`,
			tenant: "a",
			body: namespaceA + `kafka: {
	cluster: "main"
	users: "a.streams": acls: [{resource: "topic", name: "a.streams-", pattern: "prefixed", operations: ["read", "write", "create"]}]
}
`,
		},
		{
			// An empty cleanup.policy keeps data forever (Kafka 4.x);
			// "compact" is bounded by the keys written, not by the
			// ceilings, and stays allowed.
			name: "Kafka: an empty cleanup.policy under retention ceilings; floors",
			platform: `policy: guardrails: kafka: {
	maxTopicConfigs: {"retention.ms": 2592000000, "segment.ms": 604800000}
	minTopicConfigs: {"segment.ms": 3600000, "segment.bytes": 16777216}
}
`,
			tenant: "a",
			body: namespaceA + `kafka: {
	cluster: "main"
	topics: "a.forever": configs: {"cleanup.policy": "", "retention.ms": 604800000}
	topics: "a.sly": configs: {"cleanup.policy": "\u0001"}
	topics: "a.state": configs: {"cleanup.policy": "compact"}
	topics: "a.tiny": configs: {"segment.ms": 1, "segment.bytes": "1048576"}
	topics: "a.fine": configs: {"segment.ms": 3600000, "segment.bytes": 16777216, "cleanup.policy": "compact,delete"}
}
`,
			want: `tenants/a/tenant.cue:11:33: kafka.topics."a.forever".configs."cleanup.policy": an empty cleanup.policy keeps the topic's data forever (Kafka applies no retention); the platform caps retention.ms at 2592000000 (policy.guardrails.kafka.maxTopicConfigs): set "delete" or "compact,delete"
tenants/a/tenant.cue:12:29: kafka.topics."a.sly".configs."cleanup.policy": an empty cleanup.policy keeps the topic's data forever (Kafka applies no retention); the platform caps retention.ms at 2592000000 (policy.guardrails.kafka.maxTopicConfigs): set "delete" or "compact,delete"
tenants/a/tenant.cue:14:30: kafka.topics."a.tiny".configs."segment.ms": segment.ms 1 is below the platform's floor 3600000 (policy.guardrails.kafka.minTopicConfigs)
tenants/a/tenant.cue:14:47: kafka.topics."a.tiny".configs."segment.bytes": segment.bytes 1048576 is below the platform's floor 16777216 (policy.guardrails.kafka.minTopicConfigs)`,
		},
		{
			name: "Kafka: a floor above its ceiling, a floor on a config that is not an integer",
			platform: `policy: guardrails: kafka: {maxTopicConfigs: "segment.ms": 3600000, minTopicConfigs: {"segment.ms": 86400000, "cleanup.policy": 1}}
`,
			tenant: "a",
			body:   namespaceA,
			want: `platform.cue:33:87: policy.guardrails.kafka.minTopicConfigs."segment.ms": the floor 86400000 on segment.ms is above its ceiling 3600000 (maxTopicConfigs): no value would be allowed
platform.cue:33:111: policy.guardrails.kafka.minTopicConfigs."cleanup.policy": "cleanup.policy" is not an integer topic config of Kafka: a floor on it bounds nothing`,
		},
		{
			name: "Kafka: configs the brokers refuse together, tiered storage the cluster lacks",
			platform: `kafka: main: limits: allowedConfigKeys: ["min.compaction.lag.ms", "max.compaction.lag.ms", "remote.storage.enable"]
`,
			tenant: "a",
			body: namespaceA + `kafka: {
	cluster: "main"
	topics: "a.events": configs: {"min.compaction.lag.ms": "600000", "max.compaction.lag.ms": "60000"}
	topics: "a.archive": configs: "remote.storage.enable": "true"
}
`,
			want: `tenants/a/tenant.cue:11:22: kafka.topics."a.events".configs: min.compaction.lag.ms (600000) is greater than max.compaction.lag.ms (60000)
tenants/a/tenant.cue:12:32: kafka.topics."a.archive".configs."remote.storage.enable": remote.storage.enable=true needs brokers with tiered storage (remote.log.storage.system.enable); the platform says the cluster has none (tieredStorage)`,
		},
		{
			name:   "adoption the platform does not allow",
			tenant: "a",
			body: namespaceA + `policies: adopt: true
`,
			want: "tenants/a/tenant.cue:9:11: policies.adopt: the platform does not let tenants adopt existing resources (policy.adoption in platform.cue)",
		},
		{
			name:     "adoption the platform allows",
			platform: "policy: adoption: true\n",
			tenant:   "a",
			body: namespaceA + `policies: adopt: true
`,
		},
		{
			name: "Kafka: tiered storage on a cluster that has it",
			platform: `kafka: main: {tieredStorage: true, limits: allowedConfigKeys: ["remote.storage.enable"]}
`,
			tenant: "a",
			body: namespaceA + `kafka: {
	cluster: "main"
	topics: "a.archive": configs: "remote.storage.enable": "true"
}
`,
		},
		{
			name: "Kafka: quotas within the platform's ceilings",
			platform: `policy: guardrails: kafka: maxQuota: {producerByteRate: 10485760, requestPercentage: 50}
`,
			tenant: "a",
			body: namespaceA + `kafka: {
	cluster: "main"
	users: "a.app": {acls: [], quota: {producerByteRate: 10485760, requestPercentage: 12.5, consumerByteRate: 99999999}}
}
`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fsys := fstest.MapFS{
				"platform.cue":                         {Data: append(append([]byte{}, platform...), tt.platform...)},
				"tenants/" + tt.tenant + "/tenant.cue": tenantFile(tt.body),
			}
			_, err := LoadWith(t.Context(), fsys, Options{ReservedNamespaces: tt.reserved})
			got := ""
			if err != nil {
				l, ok := Validation(err)
				if !ok {
					t.Fatalf("error is not a validation list: %v", err)
				}
				got = l.Error()
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("k3sync validate (-want +got):\n%s", diff)
			}
		})
	}
}
