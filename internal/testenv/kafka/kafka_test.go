package kafka_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/k3sync/k3sync/internal/testenv/kafka"
	"github.com/k3sync/k3sync/internal/testenv/syncbuf"
)

// TestOneBroker: SCRAM authentication, authorization, and a record
// produced and consumed on a one-node cluster.
func TestOneBroker(t *testing.T) {
	t.Parallel()
	var logs syncbuf.Buffer
	c := kafka.StartT(t, kafka.Options{Plaintext: true, Logs: &logs})
	t.Logf("startup time: %s", c.StartupTime())
	if out := logs.String(); !strings.Contains(out, "[kafka-1 ") || !strings.Contains(out, "Kafka Server started") {
		t.Errorf("Options.Logs got no broker log:\n%s", out)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()

	if user, pw := c.AdminUser(); user != kafka.AdminUser || pw == "" {
		t.Errorf("AdminUser() = %q, %q", user, pw)
	}
	if c.Mechanism() != "SCRAM-SHA-512" {
		t.Errorf("Mechanism() = %q", c.Mechanism())
	}
	if len(c.Bootstrap()) != 1 || len(c.PlaintextBootstrap()) != 1 {
		t.Fatalf("Bootstrap() = %v, PlaintextBootstrap() = %v", c.Bootstrap(), c.PlaintextBootstrap())
	}

	cl, err := c.Client(kgo.ConsumeTopics("orders"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "orders"); err != nil {
		t.Fatalf("create topic as admin: %v", err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "orders", Key: []byte("k"), Value: []byte("v1")}).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	fetches := cl.PollFetches(ctx)
	if err := fetches.Err(); err != nil {
		t.Fatalf("consume: %v", err)
	}
	if recs := fetches.Records(); len(recs) != 1 || string(recs[0].Value) != "v1" {
		t.Fatalf("consumed %d records, want the one produced", len(recs))
	}

	t.Run("wrong password", func(t *testing.T) {
		bad, err := c.ClientAs(kafka.AdminUser, "not-the-password")
		if err != nil {
			t.Fatal(err)
		}
		defer bad.Close()
		_, err = kadm.NewClient(bad).ListTopics(ctx)
		if !errors.Is(err, kerr.SaslAuthenticationFailed) {
			t.Fatalf("list topics with a wrong password: %v, want SASL_AUTHENTICATION_FAILED", err)
		}
	})

	t.Run("no ACL", func(t *testing.T) {
		if err := c.CreateUser(ctx, "alice", "alice-secret"); err != nil {
			t.Fatal(err)
		}
		alice, err := c.ClientAs("alice", "alice-secret")
		if err != nil {
			t.Fatal(err)
		}
		defer alice.Close()
		_, err = kadm.NewClient(alice).CreateTopic(ctx, 1, 1, nil, "alice-topic")
		if !errors.Is(err, kerr.TopicAuthorizationFailed) {
			t.Fatalf("create topic as a user without ACLs: %v, want TOPIC_AUTHORIZATION_FAILED", err)
		}
	})

	t.Run("plaintext", func(t *testing.T) {
		pl, err := kgo.NewClient(kgo.SeedBrokers(c.PlaintextBootstrap()...))
		if err != nil {
			t.Fatal(err)
		}
		defer pl.Close()
		topics, err := kadm.NewClient(pl).ListTopics(ctx)
		if err != nil {
			t.Fatalf("list topics over PLAINTEXT: %v", err)
		}
		if !topics.Has("orders") {
			t.Errorf("topics over PLAINTEXT: %v, want orders", topics.Names())
		}
	})

	if !strings.HasPrefix(c.LogDir(), "/") {
		t.Errorf("LogDir() = %q, want an absolute path", c.LogDir())
	}
}

// TestThreeBrokers: three nodes, a topic replicated on all of them.
func TestThreeBrokers(t *testing.T) {
	t.Parallel()
	c := kafka.StartT(t, kafka.Options{Brokers: 3})
	t.Logf("startup time: %s", c.StartupTime())
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cl, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, 3, 3, nil, "replicated"); err != nil {
		t.Fatalf("create topic with replication factor 3: %v", err)
	}
	td, err := adm.ListTopics(ctx, "replicated")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range td["replicated"].Partitions {
		if len(p.Replicas) != 3 {
			t.Errorf("partition %d has replicas %v, want 3", p.Partition, p.Replicas)
		}
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "replicated", Value: []byte("v")}).FirstErr(); err != nil {
		t.Fatalf("produce with acks=all: %v", err)
	}
}

// TestMissingJars: without jars Start fails and says what to run.
func TestMissingJars(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_, err := kafka.Start(t.Context(), kafka.Options{BinDir: dir})
	want := "kafka jars not found in " + dir + ": run 'make kafka-bin'"
	if err == nil || err.Error() != want {
		t.Fatalf("Start without jars: %v, want %q", err, want)
	}
}
