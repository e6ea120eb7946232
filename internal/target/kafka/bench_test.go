package kafka

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/k3sync/k3sync/internal/config"
	"github.com/k3sync/k3sync/internal/model"
	"github.com/k3sync/k3sync/internal/plan"
	"github.com/k3sync/k3sync/internal/render"
	"github.com/k3sync/k3sync/internal/state"
)

// synthetic is a platform of tenants tenants with topics topics each, three
// ACLs per topic, and a user with a quota per tenant.
func synthetic(tenants, topics int) plan.Request {
	p := &model.Platform{}
	p.Policy.Deletion.MaxDeletesPerPlan = 20
	req := plan.Request{Revision: "bench", Platform: p, Complete: true}
	for i := range tenants {
		name := fmt.Sprintf("t%03d", i)
		user := name + ".app"
		k := &render.KafkaResources{
			Cluster: "main",
			Users:   []render.KafkaUser{{Name: user, Mechanism: "SCRAM-SHA-512", Iterations: 4096}},
			Quotas:  []render.KafkaQuota{{User: user, Values: map[string]float64{"producer_byte_rate": 1 << 20}}},
		}
		for j := range topics {
			topic := fmt.Sprintf("%s.topic-%04d", name, j)
			k.Topics = append(k.Topics, render.KafkaTopic{
				Name: topic, Partitions: 1, ReplicationFactor: 3,
				Configs: map[string]string{"retention.ms": "86400000", "cleanup.policy": "compact"},
			})
			for _, op := range []string{"read", "write", "describe"} {
				k.ACLs = append(k.ACLs, render.KafkaACL{
					Principal: "User:" + user, Host: "*", ResourceType: "topic", ResourceName: topic,
					PatternType: "literal", Operation: op, Permission: "allow",
				})
			}
		}
		req.Tenants = append(req.Tenants, plan.TenantRequest{Desired: &render.Tenant{Name: name, Kafka: k}})
	}
	return req
}

// BenchmarkPlanNoop plans 5,000 topics and 15,000 ACLs (50 tenants) that
// are all in sync, against kfake in the same process: time and memory
// include kfake answering. It reports the requests of one plan and the
// round trips they cost.
func BenchmarkPlanNoop(b *testing.B) {
	c := cluster(b)
	e := envOn(b, c, config.Kafka{Brokers: c.ListenAddrs()})
	req := synthetic(50, 100)
	if _, err := e.target.Apply(b.Context(), req, plan.ApplyOptions{}); err != nil {
		b.Fatal(err)
	}
	if changes, err := e.target.Plan(b.Context(), req); err != nil || len(changes) != 0 {
		b.Fatalf("plan after apply: %v, %d changes", err, len(changes))
	}
	e.warm(b)
	e.holdFirstRead(300 * time.Millisecond)
	if _, err := e.target.Plan(b.Context(), req); err != nil {
		b.Fatal(err)
	}
	reads := 0
	for _, n := range e.wire.counts() {
		reads += n
	}
	roundTrips := e.wire.roundTrips()

	b.ReportAllocs()
	for b.Loop() {
		changes, err := e.target.Plan(b.Context(), req)
		if err != nil || len(changes) != 0 {
			b.Fatalf("plan: %v, %d changes", err, len(changes))
		}
	}
	b.ReportMetric(float64(reads), "requests/plan")
	b.ReportMetric(float64(roundTrips), "roundtrips/plan")
	if rss := peakRSS(); rss > 0 {
		b.ReportMetric(float64(rss)/(1<<20), "peak-RSS-MiB")
	}
}

// peakRSS is the process's peak resident set (VmHWM), 0 if unknown.
func peakRSS() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}

// tenantShape is a platform of tenants tenants, each with three topics
// (one partition, replication factor 1, so that the one-node broker holds
// them), four ACLs (read, write and describe on the topics prefixed with
// the tenant's name, read on the groups so prefixed), and a SCRAM user
// with a quota.
func tenantShape(tenants int) plan.Request {
	p := &model.Platform{}
	p.Policy.Deletion.MaxDeletesPerPlan = 20
	req := plan.Request{Revision: "bench", Platform: p, Complete: true}
	for i := range tenants {
		name := fmt.Sprintf("t%04d", i)
		user := name + ".app"
		k := &render.KafkaResources{
			Cluster: "main",
			Users:   []render.KafkaUser{{Name: user, Mechanism: "SCRAM-SHA-512", Iterations: 4096}},
			Quotas:  []render.KafkaQuota{{User: user, Values: map[string]float64{"producer_byte_rate": 1 << 20}}},
		}
		for j := range 3 {
			k.Topics = append(k.Topics, render.KafkaTopic{
				Name: fmt.Sprintf("%s.topic-%d", name, j), Partitions: 1, ReplicationFactor: 1,
				Configs: map[string]string{"retention.ms": "86400000", "cleanup.policy": "compact"},
			})
		}
		for _, op := range []string{"read", "write", "describe"} {
			k.ACLs = append(k.ACLs, render.KafkaACL{
				Principal: "User:" + user, Host: "*", ResourceType: "topic", ResourceName: name + ".",
				PatternType: "prefixed", Operation: op, Permission: "allow",
			})
		}
		k.ACLs = append(k.ACLs, render.KafkaACL{
			Principal: "User:" + user, Host: "*", ResourceType: "group", ResourceName: name + ".",
			PatternType: "prefixed", Operation: "read", Permission: "allow",
		})
		req.Tenants = append(req.Tenants, plan.TenantRequest{Desired: &render.Tenant{Name: name, Kafka: k}})
	}
	return req
}

// wireBytes counts the bytes of the requests a client writes and of the
// answers it reads, as franz-go's hooks report them (whole frames, size
// prefix included), leaving out the connection's own requests.
type wireBytes struct{ written, read atomic.Int64 }

var (
	_ kgo.HookBrokerWrite = (*wireBytes)(nil)
	_ kgo.HookBrokerRead  = (*wireBytes)(nil)
)

func (w *wireBytes) OnBrokerWrite(_ kgo.BrokerMetadata, key int16, n int, _, _ time.Duration, _ error) {
	if !connection[key] {
		w.written.Add(int64(n))
	}
}

func (w *wireBytes) OnBrokerRead(_ kgo.BrokerMetadata, key int16, n int, _, _ time.Duration, _ error) {
	if !connection[key] {
		w.read.Add(int64(n))
	}
}

func (w *wireBytes) reset()       { w.written.Store(0); w.read.Store(0) }
func (w *wireBytes) total() int64 { return w.written.Load() + w.read.Load() }

// benchKfake is an env on a fresh kfake cluster whose target also counts
// bytes.
func benchKfake(b *testing.B, bytes *wireBytes) *env {
	b.Helper()
	c := cluster(b)
	e := &env{cluster: c, store: state.NewMemory(), sink: newSink(), wire: &wire{}}
	target, err := New("main", config.Kafka{Brokers: c.ListenAddrs()}, e.store, e.sink, WithClientOptions(kgo.WithHooks(e.wire, bytes)))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(target.Close)
	e.target = target
	return e
}

// benchBroker is brokerEnv for a benchmark, on the emptied shared broker,
// with a target that also counts bytes.
func benchBroker(b *testing.B, bytes *wireBytes) *env {
	b.Helper()
	c := sharedBroker(b)
	resetBroker(b, c)
	e := &env{broker: c, store: state.NewMemory(), sink: newSink(), wire: &wire{}}
	user, pass := c.AdminUser()
	file := filepath.Join(b.TempDir(), "password")
	if err := os.WriteFile(file, []byte(pass+"\n"), 0o600); err != nil {
		b.Fatal(err)
	}
	cfg := config.Kafka{Brokers: c.Bootstrap(), SASL: &config.SASL{
		Mechanism: c.Mechanism(), Username: user, Secret: config.Secret{PasswordFile: file},
	}}
	target, err := New("main", cfg, e.store, e.sink, WithClientOptions(kgo.WithHooks(e.wire, bytes)))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(target.Close)
	e.target = target
	return e
}

// BenchmarkPlanNoop1000Tenants plans 1,000 tenants in sync (3,000 topics,
// 4,000 ACLs, 1,000 SCRAM users with a quota each) on kfake, in the same
// process, and on the real broker. The first apply, one apply of all
// 1,000 tenants, and the check that the plan is then empty are setup, not
// timed (setup-seconds is the apply).
// requests/plan and bytes/plan are averaged over the timed plans;
// roundtrips/plan is of one plan before them (on kfake with the first read
// held, as in BenchmarkPlanNoop; on the broker as it answers).
// peak-RSS-MiB is the test process's (the broker's JVM is another process)
// and never goes down: the broker's figure includes kfake's run before it.
func BenchmarkPlanNoop1000Tenants(b *testing.B) {
	const tenants = 1000
	for _, sub := range []struct {
		name string
		env  func(*testing.B, *wireBytes) *env
	}{{"kfake", benchKfake}, {"broker", benchBroker}} {
		b.Run(sub.name, func(b *testing.B) {
			bytes := &wireBytes{}
			e := sub.env(b, bytes)
			req := tenantShape(tenants)
			// One apply: the target cuts its writes into requests the
			// controller takes (maxRecordsPerRequest); a CreateTopics of
			// all 3,000 topics was refused whole ("excessively large
			// batch operation").
			start := time.Now()
			if _, err := e.target.Apply(b.Context(), req, plan.ApplyOptions{}); err != nil {
				b.Fatal(err)
			}
			setup := time.Since(start)
			// The broker's metadata may lag the answers to the writes a
			// little: wait for an empty plan.
			var changes []plan.Change
			var err error
			deadline := time.Now().Add(60 * time.Second)
			for {
				changes, err = e.target.Plan(b.Context(), req)
				if err == nil && len(changes) == 0 {
					break
				}
				if time.Now().After(deadline) {
					n := min(len(changes), 10)
					b.Fatalf("plan after apply: %v, %d changes, first: %v", err, len(changes), summary(changes[:n]))
				}
				time.Sleep(500 * time.Millisecond)
			}
			settled := time.Since(start)
			b.Logf("%s: applied %d tenants in %s, plan empty after %s", sub.name, tenants, setup.Round(time.Millisecond), settled.Round(time.Millisecond))

			e.warm(b)
			bytes.reset()
			if e.cluster != nil {
				e.holdFirstRead(300 * time.Millisecond)
			}
			if _, err := e.target.Plan(b.Context(), req); err != nil {
				b.Fatal(err)
			}
			roundTrips := e.wire.roundTrips()
			oneReqs := 0
			for _, n := range e.wire.counts() {
				oneReqs += n
			}
			b.Logf("%s: one plan: %d requests %v, %d round trips, %d bytes", sub.name, oneReqs, e.wire.counts(), roundTrips, bytes.total())
			e.wire.reset()
			bytes.reset()

			b.ReportAllocs()
			for b.Loop() {
				changes, err := e.target.Plan(b.Context(), req)
				if err != nil || len(changes) != 0 {
					b.Fatalf("plan: %v, %d changes", err, len(changes))
				}
			}
			reqs := 0
			for _, n := range e.wire.counts() {
				reqs += n
			}
			b.ReportMetric(float64(reqs)/float64(b.N), "requests/plan")
			b.ReportMetric(float64(roundTrips), "roundtrips/plan")
			b.ReportMetric(float64(bytes.total())/float64(b.N), "bytes/plan")
			b.ReportMetric(setup.Seconds(), "setup-seconds")
			if rss := peakRSS(); rss > 0 {
				b.ReportMetric(float64(rss)/(1<<20), "peak-RSS-MiB")
			}
		})
	}
}
