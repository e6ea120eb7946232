package kafka

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/k3sync/k3sync/internal/apply"
	"github.com/k3sync/k3sync/internal/config"
	"github.com/k3sync/k3sync/internal/model"
	"github.com/k3sync/k3sync/internal/plan"
	"github.com/k3sync/k3sync/internal/render"
	"github.com/k3sync/k3sync/internal/state"
	"github.com/k3sync/k3sync/internal/target/contracttest"
)

// contractPeer is a Kafka cluster the contract runs on, for one subtest.
type contractPeer struct {
	// cfg reaches the cluster; the target is built from it.
	cfg config.Kafka
	// admin are the options of the out-of-band client (seed brokers,
	// SASL, TLS).
	admin []kgo.Opt
	// target are options added to the target's client (a dialer).
	target []kgo.Opt
	// failNextCreate makes the cluster fail the next CreateTopics with
	// UNKNOWN_SERVER_ERROR, before it creates anything.
	failNextCreate func(t *testing.T)
}

// contractPeers are the clusters the contract runs on. Another peer (a
// real broker, internal/testenv/kafka) joins with one entry: a function
// returning a contractPeer for a subtest, a fresh cluster or a shared one
// (the suite names every subtest's tenants, hence topics, apart).
var contractPeers = []struct {
	name  string
	start func(t *testing.T) contractPeer
}{
	{"kfake", kfakeContractPeer},
	{"broker", brokerContractPeer},
}

func kfakeContractPeer(t *testing.T) contractPeer {
	c := cluster(t)
	return contractPeer{
		cfg:   config.Kafka{Brokers: c.ListenAddrs()},
		admin: []kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)},
		failNextCreate: func(*testing.T) {
			c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.CreateTopics}, Err: kerr.UnknownServerError})
		},
	}
}

// brokerContractPeer is the shared real broker; the suite's tenants, hence
// topics, have names of their own, so it is not emptied. k3sync logs in
// with SCRAM-SHA-512 as the super user. The next create fails the way it
// does on a real network: the CreateTopics reaches the broker, which
// creates the topics, and the answer is lost with the connection (see
// cutter); franz-go then retries on a new connection and the broker
// answers TOPIC_ALREADY_EXISTS.
func brokerContractPeer(t *testing.T) contractPeer {
	c := sharedBroker(t)
	user, pass := c.AdminUser()
	file := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(file, []byte(pass), 0o600); err != nil {
		t.Fatal(err)
	}
	cut := &cutter{}
	return contractPeer{
		cfg: config.Kafka{Brokers: c.Bootstrap(), SASL: &config.SASL{
			Mechanism: c.Mechanism(), Username: user, Secret: config.Secret{PasswordFile: file},
		}},
		admin:  []kgo.Opt{kgo.SeedBrokers(c.Bootstrap()...), kgo.SASL(scram.Auth{User: user, Pass: pass}.AsSha512Mechanism())},
		target: []kgo.Opt{kgo.Dialer(cut.dial)},
		failNextCreate: func(t *testing.T) {
			cut.armed.Store(true)
			t.Cleanup(func() {
				if cut.cuts.Load() == 0 {
					t.Error(errNoCut)
				}
			})
		},
	}
}

func TestContract(t *testing.T) {
	for _, p := range contractPeers {
		t.Run(p.name, func(t *testing.T) { contracttest.Run(t, kafkaHarness{start: p.start}) })
	}
}

type kafkaHarness struct {
	start func(t *testing.T) contractPeer
}

// contractCluster is the Kafka cluster name of the target.
const contractCluster = "main"

func (h kafkaHarness) Start(t *testing.T) contracttest.Env {
	p := h.start(t)
	e := &kafkaEnv{peer: p, store: state.NewMemory(), writes: &writeCounter{}}
	tg, err := New(contractCluster, p.cfg, e.store, nil, WithClientOptions(append([]kgo.Opt{kgo.WithHooks(e.writes)}, p.target...)...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tg.Close)
	e.target = tg
	cl, err := kgo.NewClient(p.admin...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	e.client, e.admin = cl, kadm.NewClient(cl)
	e.platform = &model.Platform{
		Kafka: map[string]model.KafkaCluster{contractCluster: {Name: contractCluster, Brokers: 3}},
		Policy: model.Policy{
			Defaults: model.PolicyDefaults{Drift: model.DriftRevert, Topic: model.TopicDefaults{Partitions: 1, Replication: 1}},
			Deletion: model.PolicyDeletion{MaxDeletesPerPlan: 100},
		},
	}
	return e
}

// writeCounter counts the write requests a client sends.
type writeCounter struct{ n atomic.Int64 }

var contractWriteKeys = map[int16]bool{
	int16(kmsg.CreateTopics): true, int16(kmsg.CreatePartitions): true, int16(kmsg.IncrementalAlterConfigs): true,
	int16(kmsg.AlterConfigs): true, int16(kmsg.DeleteTopics): true, int16(kmsg.CreateACLs): true,
	int16(kmsg.DeleteACLs): true, int16(kmsg.AlterClientQuotas): true, int16(kmsg.AlterUserSCRAMCredentials): true,
	int16(kmsg.DeleteRecords): true,
}

func (w *writeCounter) OnBrokerWrite(_ kgo.BrokerMetadata, key int16, _ int, _ time.Duration, _ time.Duration, err error) {
	if err == nil && contractWriteKeys[key] {
		w.n.Add(1)
	}
}

type kafkaEnv struct {
	peer     contractPeer
	target   *Target
	store    *state.Memory
	platform *model.Platform
	writes   *writeCounter
	client   *kgo.Client
	admin    *kadm.Client
}

func (e *kafkaEnv) Target() apply.Target      { return e.target }
func (e *kafkaEnv) Store() state.Store        { return e.store }
func (e *kafkaEnv) StateID() string           { return "kafka/" + contractCluster }
func (e *kafkaEnv) Platform() *model.Platform { return e.platform }

func contractTopic(tenant string, i int) string { return fmt.Sprintf("%s.t%d", tenant, i) }

func (e *kafkaEnv) topicKey(tenant, topic string) plan.Key {
	return plan.Key{Tenant: tenant, System: plan.Kafka, Target: contractCluster, Kind: kindTopic, Name: topic}
}

// request renders m.
func (e *kafkaEnv) request(m *model.Tenant) plan.TenantRequest {
	return plan.TenantRequest{Desired: render.TenantResources(e.platform, m), Model: m}
}

func (e *kafkaEnv) Tenant(name string, n int) plan.TenantRequest {
	m := &model.Tenant{
		Name:     name,
		Kafka:    &model.TenantKafka{Cluster: contractCluster, Topics: map[string]*model.Topic{}},
		Policies: model.TenantPolicies{Drift: model.DriftRevert},
	}
	for i := range n {
		topic := contractTopic(name, i)
		m.Kafka.Topics[topic] = &model.Topic{
			Name: topic, Partitions: 1, Replication: 1, Deletion: model.Allow,
			Configs: model.TopicConfigs{"retention.ms": "3600000"},
		}
	}
	return e.request(m)
}

func (e *kafkaEnv) Keys(tr plan.TenantRequest, i int) []plan.Key {
	return []plan.Key{e.topicKey(tr.Name(), contractTopic(tr.Name(), i))}
}

func (e *kafkaEnv) Without(tr plan.TenantRequest, i int) plan.TenantRequest {
	m := contracttest.CloneModel(tr.Model)
	delete(m.Kafka.Topics, contractTopic(tr.Name(), i))
	return e.request(m)
}

func (e *kafkaEnv) Change(tr plan.TenantRequest, i int) (plan.TenantRequest, plan.Key) {
	m := contracttest.CloneModel(tr.Model)
	topic := contractTopic(tr.Name(), i)
	m.Kafka.Topics[topic].Configs["retention.ms"] = "7200000"
	return e.request(m), e.topicKey(tr.Name(), topic)
}

func (e *kafkaEnv) Protected(tr plan.TenantRequest) (plan.TenantRequest, plan.Key, bool) {
	m := contracttest.CloneModel(tr.Model)
	topic := tr.Name() + ".keep"
	// Neither the topic, the tenant nor the platform allows deletion.
	m.Kafka.Topics[topic] = &model.Topic{Name: topic, Partitions: 1, Replication: 1}
	return e.request(m), e.topicKey(tr.Name(), topic), true
}

func (e *kafkaEnv) InventoryID(k plan.Key) string { return inventoryID(k.Kind, k.Name) }

// Read describes a topic: partitions, replication factor and the configs
// set on it.
func (e *kafkaEnv) Read(t *testing.T, k plan.Key) (string, bool) {
	t.Helper()
	if k.Kind != kindTopic {
		t.Fatalf("kafka contract: Read of %s", k)
	}
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(k.Name)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(t.Context(), e.client)
	if err != nil {
		t.Fatal(err)
	}
	var partitions, replicas int
	found := false
	for _, mt := range resp.Topics {
		if mt.Topic == nil || *mt.Topic != k.Name || mt.ErrorCode != 0 {
			continue
		}
		found = true
		partitions = len(mt.Partitions)
		if partitions > 0 {
			replicas = len(mt.Partitions[0].Replicas)
		}
	}
	if !found {
		return "", false
	}
	rcs, err := e.admin.DescribeTopicConfigs(t.Context(), k.Name)
	if err != nil {
		t.Fatal(err)
	}
	configs := map[string]string{}
	for _, rc := range rcs {
		if rc.Err != nil {
			t.Fatalf("describe configs of %s: %v", k.Name, rc.Err)
		}
		for _, c := range rc.Configs {
			if c.Source == kmsg.ConfigSourceDynamicTopicConfig && c.Value != nil {
				configs[c.Key] = *c.Value
			}
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "partitions=%d replication=%d", partitions, replicas)
	for _, key := range slices.Sorted(maps.Keys(configs)) {
		fmt.Fprintf(&b, " %s=%s", key, configs[key])
	}
	return b.String(), true
}

func (e *kafkaEnv) Writes() int { return int(e.writes.n.Load()) }

func (e *kafkaEnv) Drift(t *testing.T, tr plan.TenantRequest, i int) plan.Key {
	t.Helper()
	topic := contractTopic(tr.Name(), i)
	rs, err := e.admin.AlterTopicConfigs(t.Context(), []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.ms", Value: kadm.StringPtr("1000")}}, topic)
	if err != nil {
		t.Fatalf("drift of %s: %v", topic, err)
	}
	for _, r := range rs {
		if r.Err != nil {
			t.Fatalf("drift of %s: %v", topic, r.Err)
		}
	}
	k := e.topicKey(tr.Name(), topic)
	eventually(t, "the drift of "+topic+" shows", func() bool {
		got, _ := e.Read(t, k)
		return strings.Contains(got, " retention.ms=1000")
	})
	return k
}

// createTopic creates a topic out of band.
func (e *kafkaEnv) createTopic(t *testing.T, topic string, partitions int32, configs map[string]*string) {
	t.Helper()
	r, err := e.admin.CreateTopic(t.Context(), partitions, 1, configs, topic)
	if err == nil {
		err = r.Err
	}
	if err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
	// A broker lists a topic a moment after it answered its creation.
	eventually(t, "topic "+topic+" shows", func() bool {
		_, ok := e.Read(t, e.topicKey("", topic))
		return ok
	})
}

// Foreign is a topic named with the tenant's prefix. Kafka topics carry no
// marks but their name.
func (e *kafkaEnv) Foreign(t *testing.T, tenant, name string) plan.Key {
	t.Helper()
	topic := tenant + "." + name
	e.createTopic(t, topic, 1, nil)
	return e.topicKey(tenant, topic)
}

func (e *kafkaEnv) Taken(t *testing.T, tr plan.TenantRequest, i int) plan.Key {
	t.Helper()
	topic := contractTopic(tr.Name(), i)
	// The partitions Git asks for, another retention: a topic k3sync
	// could take over as it is (adopt), were it allowed to.
	e.createTopic(t, topic, 1, map[string]*string{"retention.ms": kadm.StringPtr("1000")})
	return e.topicKey(tr.Name(), topic)
}

func (e *kafkaEnv) FailNextCreate(t *testing.T) { e.peer.failNextCreate(t) }
