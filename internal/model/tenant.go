package model

// Tenant is tenants/<name>/*.cue.
type Tenant struct {
	Name       string            `json:"name"`
	Owners     []string          `json:"owners"`
	Kubernetes *TenantKubernetes `json:"kubernetes,omitempty"`
	Kafka      *TenantKafka      `json:"kafka,omitempty"`
	Kong       *TenantKong       `json:"kong,omitempty"`
	Policies   TenantPolicies    `json:"policies"`

	// Dir is the tenant's folder relative to the repo root.
	Dir string `json:"-"`
	// Files are the tenant's CUE files relative to the repo root, sorted.
	Files []string `json:"-"`
}

// TenantPolicies are a tenant's overrides of the platform policy.
type TenantPolicies struct {
	Drift         DriftPolicy `json:"drift,omitempty"`
	DriftSchedule string      `json:"driftSchedule,omitempty"`
	Suspend       bool        `json:"suspend"`
	// Adopt: desired resources that exist and that no tenant owns are
	// adopted instead of blocked.
	Adopt bool `json:"adopt,omitempty"`
	// Mode is ModeManage or ModeObserve.
	Mode        string         `json:"mode,omitempty"`
	Deletion    TenantDeletion `json:"deletion"`
	SyncWindows []SyncWindow   `json:"syncWindows"`
}

// Tenant modes (policies.mode).
const (
	// ModeManage: k3sync applies the tenant.
	ModeManage = "manage"
	// ModeObserve: k3sync plans the tenant and checks it for drift, and
	// never writes anything of it.
	ModeObserve = "observe"
)

// TenantDeletion overrides deletion protection for a whole kind.
type TenantDeletion struct {
	Namespaces Protection `json:"namespaces"`
	Topics     Protection `json:"topics"`
}

// SyncWindow allows or denies applies while its cron schedule is active.
type SyncWindow struct {
	Kind     string `json:"kind"`
	Schedule string `json:"schedule"`
	Duration string `json:"duration"`
	// ManualSync lets an operator's manual sync of the tenant through
	// the window (Argo CD's manualSync): a deny window does not block it,
	// and an allow window counts as open for it.
	ManualSync bool `json:"manualSync,omitempty"`
}

// TenantKubernetes is what a tenant has on Kubernetes.
type TenantKubernetes struct {
	Clusters         []string              `json:"clusters"`
	Namespaces       map[string]*Namespace `json:"namespaces"`
	Access           []AccessGrant         `json:"access"`
	NetworkIsolation NetworkIsolation      `json:"networkIsolation,omitempty"`
	AllowIngressFrom []string              `json:"allowIngressFrom"`
	// Deployer: k3sync's deployer ServiceAccount and its RoleBinding in
	// every namespace; nil means true.
	Deployer *bool `json:"deployer,omitempty"`
}

// HasDeployer reports whether k3sync renders its deployer ServiceAccount
// and RoleBinding in the tenant's namespaces.
func (k *TenantKubernetes) HasDeployer() bool { return k.Deployer == nil || *k.Deployer }

// Namespace is a tenant namespace, created on every cluster of the tenant.
type Namespace struct {
	Name        string            `json:"name"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	Quota       Quota             `json:"quota"`
	LimitRange  *LimitRange       `json:"limitRange,omitempty"`
	Deletion    Protection        `json:"deletion,omitempty"`
}

// Quota becomes a ResourceQuota.
type Quota struct {
	// Name is the ResourceQuota's name; "" for render.QuotaName.
	Name     string     `json:"name,omitempty"`
	Requests Resources  `json:"requests"`
	Limits   *Resources `json:"limits,omitempty"`
	Pods     int64      `json:"pods"`
}

// Resources are CPU and memory quantities.
type Resources struct {
	CPU    string `json:"cpu,omitempty"`
	Memory string `json:"memory,omitempty"`
}

// LimitRange becomes a LimitRange for containers.
type LimitRange struct {
	// Name is the LimitRange's name; "" for render.LimitRangeName.
	Name           string     `json:"name,omitempty"`
	DefaultRequest *Resources `json:"defaultRequest,omitempty"`
	Default        *Resources `json:"default,omitempty"`
	Max            *Resources `json:"max,omitempty"`
}

// AccessGrant binds a group to a role in the tenant's namespaces.
type AccessGrant struct {
	// Name is the RoleBinding's name; "" for render.RoleBindingName.
	Name       string   `json:"name,omitempty"`
	Group      string   `json:"group"`
	Role       string   `json:"role"`
	Namespaces []string `json:"namespaces,omitempty"`
}

// TenantKafka is what a tenant has on Kafka.
type TenantKafka struct {
	Cluster string                `json:"cluster"`
	Topics  map[string]*Topic     `json:"topics"`
	Users   map[string]*KafkaUser `json:"users"`
}

// Topic is a Kafka topic.
type Topic struct {
	Name        string       `json:"name"`
	Partitions  int32        `json:"partitions,omitempty"`
	Replication int16        `json:"replication,omitempty"`
	Configs     TopicConfigs `json:"configs"`
	Deletion    Protection   `json:"deletion,omitempty"`
}

// KafkaUser is a SCRAM principal User:<Name>.
type KafkaUser struct {
	Name      string      `json:"name"`
	Mechanism string      `json:"mechanism"`
	ACLs      []KafkaACL  `json:"acls"`
	Quota     *KafkaQuota `json:"quota,omitempty"`
}

// KafkaACL is one ACL entry of a user.
type KafkaACL struct {
	Resource   string   `json:"resource"`
	Name       string   `json:"name"`
	Pattern    string   `json:"pattern"`
	Permission string   `json:"permission"`
	Host       string   `json:"host"`
	Operations []string `json:"operations"`
}

// KafkaQuota is a user's client quota.
type KafkaQuota struct {
	ProducerByteRate       *int64   `json:"producerByteRate,omitempty"`
	ConsumerByteRate       *int64   `json:"consumerByteRate,omitempty"`
	RequestPercentage      *float64 `json:"requestPercentage,omitempty"`
	ControllerMutationRate *float64 `json:"controllerMutationRate,omitempty"`
}

// TenantKong is what a tenant has on Kong.
type TenantKong struct {
	Gateway   string                   `json:"gateway"`
	Services  map[string]*KongService  `json:"services"`
	Consumers map[string]*KongConsumer `json:"consumers"`
	Upstreams map[string]*KongUpstream `json:"upstreams"`
}

// KongService is a Kong service with its routes and plugins.
type KongService struct {
	Name           string                 `json:"name"`
	URL            string                 `json:"url"`
	Retries        *int                   `json:"retries,omitempty"`
	ConnectTimeout *int                   `json:"connectTimeout,omitempty"`
	ReadTimeout    *int                   `json:"readTimeout,omitempty"`
	WriteTimeout   *int                   `json:"writeTimeout,omitempty"`
	Routes         map[string]*KongRoute  `json:"routes"`
	Plugins        map[string]*KongPlugin `json:"plugins"`
}

// KongRoute is a Kong route of a service.
type KongRoute struct {
	Name         string                 `json:"name"`
	Paths        []string               `json:"paths"`
	Methods      []string               `json:"methods,omitempty"`
	Hosts        []string               `json:"hosts,omitempty"`
	Protocols    []string               `json:"protocols"`
	StripPath    bool                   `json:"stripPath"`
	PreserveHost bool                   `json:"preserveHost"`
	Plugins      map[string]*KongPlugin `json:"plugins"`
}

// KongPlugin is a plugin on a service, route or consumer.
type KongPlugin struct {
	Name    string         `json:"name"`
	Enabled bool           `json:"enabled"`
	Config  map[string]any `json:"config"`
}

// KongConsumer is a Kong consumer.
type KongConsumer struct {
	Username string                 `json:"username"`
	CustomID string                 `json:"customId,omitempty"`
	KeyAuth  bool                   `json:"keyAuth"`
	Groups   []string               `json:"groups"`
	Plugins  map[string]*KongPlugin `json:"plugins"`
}

// KongUpstream is a Kong upstream with its targets.
type KongUpstream struct {
	Name      string       `json:"name"`
	Algorithm string       `json:"algorithm"`
	Targets   []KongTarget `json:"targets"`
}

// KongTarget is one target of an upstream.
type KongTarget struct {
	Target string `json:"target"`
	Weight int    `json:"weight"`
}
