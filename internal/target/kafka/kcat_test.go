package kafka

import (
	"context"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestKcatSeesTopics asks an outside client, Debian's kcat (librdkafka),
// what the cluster has after an apply: the topics with their partition
// counts.
func TestKcatSeesTopics(t *testing.T) { onPeers(t, testKcatSeesTopics) }

func testKcatSeesTopics(t *testing.T, p peer) {
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		t.Fatal("kcat not found: install Debian package kcat (.ci/run does)")
	}
	e, _ := appliedOn(t, p)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var brokers []string
	if e.broker != nil {
		// The PLAINTEXT listener: librdkafka before 2.6.1 (Debian's kcat
		// has 2.0.2) builds a SCRAM client-final-message with the
		// client nonce appended twice, which Kafka 4 rejects as invalid
		// credentials, whoever set them (confluentinc/librdkafka#4895).
		brokers = e.broker.PlaintextBootstrap()
	} else {
		brokers = e.cluster.ListenAddrs()
	}
	cmd := exec.CommandContext(ctx, kcat, "-b", strings.Join(brokers, ","), "-L", "-J", "-m", "10")
	out, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok { //nolint:errorlint // only to show kcat's stderr
			stderr = string(ee.Stderr)
		}
		t.Fatalf("kcat -L: %v\n%s", err, stderr)
	}
	var md struct {
		Topics []struct {
			Topic      string            `json:"topic"`
			Partitions []json.RawMessage `json:"partitions"`
		} `json:"topics"`
	}
	if err := json.Unmarshal(out, &md); err != nil {
		t.Fatalf("kcat -L -J output: %v\n%s", err, out)
	}
	got := map[string]int{}
	for _, tp := range md.Topics {
		if !strings.HasPrefix(tp.Topic, "__") { // the broker's own
			got[tp.Topic] = len(tp.Partitions)
		}
	}
	want := map[string]int{
		"analytics.events-raw": 48, "analytics.sessions": 6,
		"checkout.carts": 6, "checkout.orders": 24,
		"payments.dlq": 1, "payments.ledger": 6, "payments.transactions": 12,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("topics kcat sees (-want +got):\n%s", diff)
	}
}
