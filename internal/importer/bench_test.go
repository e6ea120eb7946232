package importer

import (
	"fmt"
	"strings"
	"testing"
	"time"

	gokong "github.com/kong/go-kong/kong"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/k3sync/k3sync/internal/config"
	"github.com/k3sync/k3sync/internal/kongemu"
)

// BenchmarkImport imports a team of 1,000 topics (a config each), 2,000
// ACLs and 1,000 Kong services, from kfake and the Kong emulator, into
// one tenant file: what onboarding a large team costs. The target is
// under 10 s per import.
func BenchmarkImport(b *testing.B) {
	const topics, services = 1000, 1000
	ctx := b.Context()
	kc, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		b.Fatal(err)
	}
	defer kc.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(kc.ListenAddrs()...))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	names := make([]string, topics)
	for i := range names {
		names[i] = fmt.Sprintf("bench.t%04d", i)
	}
	if _, err := adm.CreateTopics(ctx, 1, 1, map[string]*string{"retention.ms": kadm.StringPtr("86400000")}, names...); err != nil {
		b.Fatal(err)
	}
	// Two ACLs per topic: 2,000.
	acls := kadm.NewACLs().Allow("User:bench.app").ResourcePatternType(kadm.ACLPatternLiteral).Topics(names...).Operations(kadm.OpRead, kadm.OpWrite)
	if _, err := adm.CreateACLs(ctx, acls); err != nil {
		b.Fatal(err)
	}
	kongURL, err := kongemu.New(kongemu.Options{}).Start(ctx)
	if err != nil {
		b.Fatal(err)
	}
	kong, err := gokong.NewClient(gokong.String(kongURL), nil)
	if err != nil {
		b.Fatal(err)
	}
	for i := range services {
		if _, err := kong.Services.Create(ctx, &gokong.Service{
			Name: gokong.String(fmt.Sprintf("bench-s%04d", i)), URL: gokong.String(fmt.Sprintf("http://s%04d.bench.svc.cluster.local:8080", i)),
		}); err != nil {
			b.Fatal(err)
		}
	}
	cfg := &config.Config{
		Kafka:    map[string]config.Kafka{"main": {Brokers: kc.ListenAddrs()}},
		Gateways: map[string]config.Gateway{"edge": {AdminURL: kongURL}},
	}
	src, err := Connect(cfg, "", "")
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	var size int
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		res, err := Import(ctx, src, Options{Tenant: "bench"})
		if err != nil {
			b.Fatal(err)
		}
		size = len(res.File)
		if n, m := strings.Count(string(res.File), `"bench.t`), strings.Count(string(res.File), `"bench-s`); n < topics || m < services {
			b.Fatalf("the file names %d topics and %d services, want %d and %d", n, m, topics, services)
		}
	}
	b.ReportMetric(time.Since(start).Seconds()/float64(b.N), "s/import")
	b.ReportMetric(float64(size), "file-bytes")
}
