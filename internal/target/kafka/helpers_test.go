package kafka

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/k3sync/k3sync/internal/config"
	"github.com/k3sync/k3sync/internal/plan"
	"github.com/k3sync/k3sync/internal/render"
	"github.com/k3sync/k3sync/internal/state"
	"github.com/k3sync/k3sync/internal/testenv/fixture"
	tkafka "github.com/k3sync/k3sync/internal/testenv/kafka"
)

// desired is the example repo rendered, as a deep copy the test may edit.
type desired struct{ *fixture.Example }

func example(t testing.TB) *desired { return &desired{fixture.LoadExample(t)} }

// kafka returns the desired Kafka resources of tenant.
func (d *desired) kafka(t testing.TB, tenant string) *render.KafkaResources {
	t.Helper()
	return d.Tenant(t, tenant).Kafka
}

// topic returns a desired topic.
func (d *desired) topic(t testing.TB, tenant, name string) *render.KafkaTopic {
	t.Helper()
	k := d.kafka(t, tenant)
	for i := range k.Topics {
		if k.Topics[i].Name == name {
			return &k.Topics[i]
		}
	}
	t.Fatalf("no topic %s", name)
	return nil
}

// removeTopic drops a topic from Git.
func (d *desired) removeTopic(t testing.TB, tenant, name string) {
	t.Helper()
	k := d.kafka(t, tenant)
	n := len(k.Topics)
	k.Topics = slices.DeleteFunc(k.Topics, func(tt render.KafkaTopic) bool { return tt.Name == name })
	if len(k.Topics) == n {
		t.Fatalf("no topic %s", name)
	}
}

// cluster starts a kfake cluster of three brokers.
func cluster(t testing.TB, opts ...kfake.Opt) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(3)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// sink records the passwords it is given.
type sink struct {
	mu        sync.Mutex
	passwords map[string]string // tenant/user -> password
	mechs     map[string]string
	fail      error
}

func newSink() *sink { return &sink{passwords: map[string]string{}, mechs: map[string]string{}} }

func (s *sink) Deliver(_ context.Context, tenant, user, mechanism, password string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return s.fail
	}
	s.passwords[tenant+"/"+user] = password
	s.mechs[tenant+"/"+user] = mechanism
	return nil
}

func (s *sink) password(key string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.passwords[key]
}

func (s *sink) all() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, p := range s.passwords {
		out = append(out, p)
	}
	return out
}

// wire counts the requests a client sends and times them.
type wire struct {
	mu       sync.Mutex
	requests []request
}

type request struct {
	key        int16
	start, end time.Time
}

func (w *wire) OnBrokerE2E(_ kgo.BrokerMetadata, key int16, e2e kgo.BrokerE2E) {
	end := time.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	w.requests = append(w.requests, request{key: key, start: end.Add(-e2e.DurationE2E()), end: end})
}

// connection requests are the client's own business, not the plan's.
var connection = map[int16]bool{
	int16(kmsg.ApiVersions):      true,
	int16(kmsg.SASLHandshake):    true,
	int16(kmsg.SASLAuthenticate): true,
}

// reset forgets what was counted.
func (w *wire) reset() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.requests = nil
}

// counts returns how many requests of each key were sent, by name.
func (w *wire) counts() map[string]int {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := map[string]int{}
	for _, r := range w.requests {
		if !connection[r.key] {
			out[kmsg.NameForKey(r.key)]++
		}
	}
	return out
}

// roundTrips is the longest chain of requests where each was sent after
// the previous one's answer: the latency a plan costs, in round trips.
func (w *wire) roundTrips() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	var rs []request
	for _, r := range w.requests {
		if !connection[r.key] {
			rs = append(rs, r)
		}
	}
	slices.SortFunc(rs, func(a, b request) int { return a.start.Compare(b.start) })
	if debugWire {
		for _, r := range rs {
			fmt.Printf("%-30s %s %s\n", kmsg.NameForKey(r.key), r.start.Format("15:04:05.000000"), r.end.Format("15:04:05.000000"))
		}
	}
	depth := make([]int, len(rs))
	best := 0
	for i, r := range rs {
		depth[i] = 1
		for j := range i {
			if !rs[j].end.After(r.start) {
				depth[i] = max(depth[i], depth[j]+1)
			}
		}
		best = max(best, depth[i])
	}
	return best
}

// writes are the request names that change something.
var writes = []string{"CreateTopics", "CreatePartitions", "IncrementalAlterConfigs", "AlterConfigs", "DeleteTopics", "CreateACLs", "DeleteACLs", "AlterClientQuotas", "AlterUserSCRAMCredentials"}

func (w *wire) writes() map[string]int {
	out := map[string]int{}
	for k, n := range w.counts() {
		if slices.Contains(writes, k) {
			out[k] = n
		}
	}
	return out
}

// env is a target on a kfake cluster or on the real broker, with a
// counted client.
type env struct {
	cluster *kfake.Cluster  // nil on the broker
	broker  *tkafka.Cluster // nil on kfake
	target  *Target
	store   *state.Memory
	sink    *sink
	wire    *wire
	admin   *kadm.Client // another client, for out-of-band changes
	client  *kgo.Client  // admin's client
}

func newEnv(t testing.TB, opts ...kfake.Opt) *env {
	t.Helper()
	c := cluster(t, opts...)
	return envOn(t, c, config.Kafka{Brokers: c.ListenAddrs()})
}

// envOn is an env on c; adminOpts are for the out-of-band client.
func envOn(t testing.TB, c *kfake.Cluster, cfg config.Kafka, adminOpts ...kgo.Opt) *env {
	t.Helper()
	e := &env{cluster: c, store: state.NewMemory(), sink: newSink(), wire: &wire{}}
	target, err := New("main", cfg, e.store, e.sink, WithClientOptions(kgo.WithHooks(e.wire)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(target.Close)
	e.target = target
	adm, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)}, adminOpts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(adm.Close)
	e.admin, e.client = kadm.NewClient(adm), adm
	return e
}

// apply applies req and fails the test on any error.
func (e *env) apply(t testing.TB, req plan.Request) []plan.Result {
	t.Helper()
	results, err := e.target.Apply(t.Context(), req, plan.ApplyOptions{})
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	return results
}

// plan plans req and fails the test on error.
func (e *env) plan(t testing.TB, req plan.Request) []plan.Change {
	t.Helper()
	changes, err := e.target.Plan(t.Context(), req)
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	return changes
}

// planText renders changes as k3sync plan would.
func planText(t testing.TB, changes []plan.Change) string {
	t.Helper()
	var b strings.Builder
	p := &plan.Plan{Revision: "test"}
	p.Add(changes...)
	if err := p.WriteText(&b, plan.TextOptions{}); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func planJSON(t testing.TB, changes []plan.Change) string {
	t.Helper()
	var b strings.Builder
	p := &plan.Plan{Revision: "test"}
	p.Add(changes...)
	if err := p.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// summary is "action kind name" per change, the shape tests compare.
func summary(changes []plan.Change) []string {
	out := make([]string, len(changes))
	for i, c := range changes {
		out[i] = string(c.Action) + " " + c.Kind + " " + c.Name
	}
	return out
}

// topics lists the live topics and their partition counts, from a fresh
// Metadata request (kadm.ListTopics may answer from a cache).
func (e *env) topics(t testing.TB) map[string]int {
	t.Helper()
	req := kmsg.NewPtrMetadataRequest()
	resp, err := req.RequestWith(t.Context(), e.client)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, rt := range resp.Topics {
		if rt.Topic != nil && rt.ErrorCode == 0 {
			out[*rt.Topic] = len(rt.Partitions)
		}
	}
	return out
}

// acls lists the live ACL bindings by name, duplicates included.
func (e *env) acls(t testing.TB) []string {
	t.Helper()
	req := kmsg.NewPtrDescribeACLsRequest()
	req.ResourceType = kmsg.ACLResourceTypeAny
	req.ResourcePatternType = kmsg.ACLResourcePatternTypeAny
	req.Operation = kmsg.ACLOperationAny
	req.PermissionType = kmsg.ACLPermissionTypeAny
	resp, err := req.RequestWith(t.Context(), e.client)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range resp.Resources {
		for _, a := range r.ACLs {
			out = append(out, aclName(liveACL(r, a)))
		}
	}
	slices.Sort(out)
	return out
}

// dynamicConfigs returns the configs set on a topic itself.
func (e *env) dynamicConfigs(t testing.TB, topic string) map[string]string {
	t.Helper()
	rcs, err := e.admin.DescribeTopicConfigs(t.Context(), topic)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, rc := range rcs {
		if rc.Err != nil {
			t.Fatal(rc.Err)
		}
		for _, c := range rc.Configs {
			if c.Source == kmsg.ConfigSourceDynamicTopicConfig && c.Value != nil {
				out[c.Key] = *c.Value
			}
		}
	}
	return out
}

// owned lists the inventory of tenant.
func (e *env) owned(t testing.TB, tenant string) []string {
	t.Helper()
	entry, err := e.store.Load(t.Context(), tenant, "kafka/main")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for id := range entry.Resources {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

func errorsIs(err, target error) bool { return errors.Is(err, target) }

var debugWire = os.Getenv("DEBUG_WIRE") != ""

// warm opens the target's connections to every broker, as in a running
// daemon, and forgets the requests so far: counts are then of a plan's
// round trips, not of connection set-up.
func (e *env) warm(t testing.TB) {
	t.Helper()
	cl := e.target.client
	for _, b := range append(cl.SeedBrokers(), cl.DiscoveredBrokers()...) {
		if _, err := b.Request(t.Context(), kmsg.NewPtrApiVersionsRequest()); err != nil {
			t.Fatal(err)
		}
	}
	e.wire.reset()
}

// holdFirstRead makes the broker hold the next read request for d before
// answering it: reads sent together are then all written before any
// answer, and reads sent one after another take a round trip each, however
// busy the machine is.
func (e *env) holdFirstRead(d time.Duration) {
	reads := map[int16]bool{
		int16(kmsg.Metadata): true, int16(kmsg.DescribeConfigs): true, int16(kmsg.DescribeACLs): true,
		int16(kmsg.DescribeClientQuotas): true, int16(kmsg.DescribeUserSCRAMCredentials): true,
	}
	var once sync.Once
	e.cluster.Control(func(req kmsg.Request) (kmsg.Response, error, bool) {
		e.cluster.KeepControl()
		if reads[req.Key()] {
			once.Do(func() { time.Sleep(d) })
		}
		return nil, nil, false
	})
}
