package kafka

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/k3sync/k3sync/internal/config"
	"github.com/k3sync/k3sync/internal/model"
	"github.com/k3sync/k3sync/internal/plan"
	"github.com/k3sync/k3sync/internal/render"
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
