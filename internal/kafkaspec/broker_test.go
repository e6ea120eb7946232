package kafkaspec_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/k3sync/k3sync/internal/kafkaspec"
	"github.com/k3sync/k3sync/internal/testenv/kafka"
)

// brokerRow is one CreateTopics request: a topic name, a config key and
// value on a valid topic name, or several configs together.
type brokerRow struct {
	topic      string // empty: a config row (the harness names the topic)
	key, value string
	configs    map[string]string // several configs: ValidateTopicConfigs
}

func (r brokerRow) String() string {
	if r.configs != nil {
		return fmt.Sprintf("configs %v", r.configs)
	}
	if r.key == "" {
		if len(r.topic) > 40 {
			return fmt.Sprintf("topic %q... (%d characters)", r.topic[:20], len(r.topic))
		}
		return fmt.Sprintf("topic %q", r.topic)
	}
	return fmt.Sprintf("%s=%q", r.key, r.value)
}

func nameRow(name string) brokerRow { return brokerRow{topic: name} }

func configRows(key string, values ...string) []brokerRow {
	rows := make([]brokerRow, len(values))
	for i, v := range values {
		rows[i] = brokerRow{key: key, value: v}
	}
	return rows
}

// brokerRows cover every check kafkaspec implements: topic name length,
// characters and reserved names; unknown config keys; and for each config
// type (boolean, int, long, double, string enum, list with and without
// allowed values) its parsing, its ranges' bounds on both sides and the
// values around them; and the rule between keys ValidateTopicConfigs adds.
func brokerRows() []brokerRow {
	rows := []brokerRow{
		nameRow("payments.orders"),
		nameRow("payments_orders-v2"),
		nameRow("a"),
		nameRow("UPPER.case_0-9"),
		nameRow("__looks_internal"),
		nameRow("-leading-dash"),
		nameRow(strings.Repeat("a", 249)),
		nameRow(strings.Repeat("a", 250)),
		nameRow(""),
		nameRow("."),
		nameRow(".."),
		nameRow("..."),
		nameRow(".hidden"),
		nameRow("payments/orders"),
		nameRow("payments orders"),
		nameRow("payments:orders"),
		nameRow("payments+orders"),
		nameRow("payments\torders"),
		nameRow("payménts"),
	}
	// Unknown keys, including broker-level names and keys Kafka 4 removed.
	rows = append(rows,
		brokerRow{key: "retention.msec", value: "1"},
		brokerRow{key: "log.retention.ms", value: "1"},
		brokerRow{key: "message.format.version", value: "3.0"},
		brokerRow{key: "message.downconversion.enable", value: "true"},
		brokerRow{key: "Retention.ms", value: "1"},
	)
	// Booleans.
	rows = append(rows, configRows("preallocate", "true", "false", "TRUE", "False", " true ", "\x01true\x1f", "true\u00a0", "yes", "1", "")...)
	rows = append(rows, configRows("unclean.leader.election.enable", "true", "maybe")...)
	rows = append(rows, configRows("errors.deadletterqueue.group.enable", "true", "false", "0")...)
	rows = append(rows, configRows("remote.storage.enable", "false", "true")...)
	rows = append(rows, configRows("remote.log.copy.disable", "false", "true")...)
	rows = append(rows, configRows("remote.log.delete.on.disable", "false", "true")...)
	// Ints with a minimum only.
	rows = append(rows, configRows("min.insync.replicas", "1", "0", "-1", "2", "2147483647", "2147483648", "1.0", "+1", "-", "+", " 2 ", "", "one", "0x2", "1_0",
		"\u0662", "\u0661\u0660", "\U0001D7D0", "\u00b2")...)
	rows = append(rows, configRows("index.interval.bytes", "0", "-1", "4096")...)
	rows = append(rows, configRows("max.message.bytes", "0", "-1", "1048588", "2147483647")...)
	rows = append(rows, configRows("segment.bytes", "1048576", "1048575", "2147483647", "2147483648", "1000")...)
	rows = append(rows, configRows("segment.index.bytes", "4", "3", "10485760")...)
	rows = append(rows, configRows("max.decompressed.message.bytes", "0", "1", "2147483639", "2147483640", "2147483647", "2147483648")...)
	// Ints with a minimum and a maximum.
	rows = append(rows, configRows("compression.gzip.level", "-1", "-2", "0", "1", "9", "10")...)
	rows = append(rows, configRows("compression.lz4.level", "0", "1", "9", "17", "18")...)
	rows = append(rows, configRows("compression.zstd.level", "-131073", "-131072", "-1", "0", "3", "22", "23")...)
	// Longs.
	rows = append(rows, configRows("retention.ms", "-2", "-1", "0", "604800000", "9223372036854775807", "9223372036854775808", "7d", "1e3")...)
	rows = append(rows, configRows("retention.bytes", "-1", "-2", "-100", "0", "1073741824", "9223372036854775808")...)
	rows = append(rows, configRows("local.retention.ms", "-3", "-2", "-1", "0", "1000")...)
	rows = append(rows, configRows("local.retention.bytes", "-3", "-2", "-1", "0", "1000")...)
	rows = append(rows, configRows("remote.copy.lag.bytes", "-2", "-1", "0", "9223372036854775807")...)
	rows = append(rows, configRows("remote.copy.lag.ms", "-2", "-1", "0", "9223372036854775807")...)
	for _, key := range []string{
		"delete.retention.ms", "file.delete.delay.ms", "flush.ms", "min.compaction.lag.ms",
		"message.timestamp.after.max.ms", "message.timestamp.before.max.ms", "segment.jitter.ms",
	} {
		rows = append(rows, configRows(key, "-1", "0", "1", "9223372036854775807")...)
	}
	for _, key := range []string{"flush.messages", "max.compaction.lag.ms", "segment.ms"} {
		rows = append(rows, configRows(key, "-1", "0", "1", "9223372036854775807")...)
	}
	// Doubles.
	rows = append(rows, configRows("min.cleanable.dirty.ratio",
		"0", "0.5", "1", "1.0", "1.", "-0.0", "1.5", "-0.1", " 0.25 ", "5e-1", "0x1p-1", "0x.8p0", "0x1.p-1", "0x1", "0.5d", "0.5F", "1.00000001f", "1.00000001", "0.25f", "1e-400", "1e400", ".5", ".",
		"NaN", "-NaN", "NaNd", "Infinity", "-Infinity", "inf", "nan", "abc", "1_0", "\u0661", "")...)
	// String enums.
	rows = append(rows, configRows("compression.type",
		"uncompressed", "zstd", "lz4", "snappy", "gzip", "producer", "ZSTD", " zstd ", "none", "brotli", "")...)
	rows = append(rows, configRows("message.timestamp.type",
		"CreateTime", "LogAppendTime", "createtime", " LogAppendTime ", "NoTimestampType", "")...)
	// Lists with allowed values.
	rows = append(rows, configRows("cleanup.policy",
		"delete", "compact", "compact,delete", "delete,compact", "compact, delete", " compact ",
		"Compact", "compacted", "compact,", ",compact", "compact,compact", "none", "")...)
	// Lists without allowed values: replicas throttled, as partition:broker
	// pairs or "*".
	for _, key := range []string{"leader.replication.throttled.replicas", "follower.replication.throttled.replicas"} {
		rows = append(rows, configRows(key, "", "*", " * ", "0:1", "0:1,1:1", " 0:1 , 1:2 ", "0:1,", ",0:1", "0:1,,1:2", "*,", ",*", "**",
			"foo", "0-1", "0:", ":1", "0:1:2", "-1:1", "\u0661:1", "*,0:1")...)
	}
	// Rules between keys.
	rows = append(rows,
		brokerRow{configs: map[string]string{"min.compaction.lag.ms": "10", "max.compaction.lag.ms": "5"}},
		brokerRow{configs: map[string]string{"min.compaction.lag.ms": "5", "max.compaction.lag.ms": "5"}},
		brokerRow{configs: map[string]string{"min.compaction.lag.ms": "9223372036854775807"}},
		brokerRow{configs: map[string]string{"local.retention.ms": "1000", "retention.ms": "500"}},
		brokerRow{configs: map[string]string{"local.retention.bytes": "1000", "retention.bytes": "500"}},
		brokerRow{configs: map[string]string{"cleanup.policy": "compact", "retention.ms": "x"}},
	)
	return rows
}

// verdict is what a row got: "accepted", or "rejected: why".
func verdict(err error) string {
	if err == nil {
		return "accepted"
	}
	return "rejected: " + err.Error()
}

// TestAgreesWithBroker asks a real Kafka broker to validate the creation
// of a topic (CreateTopics with ValidateOnly) for every row and checks
// that kafkaspec accepts exactly what the broker accepts.
func TestAgreesWithBroker(t *testing.T) {
	t.Parallel()
	c := kafka.StartT(t, kafka.Options{})
	t.Logf("broker startup time: %s", c.StartupTime())
	cl, err := c.Client(kgo.RequestRetries(2))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()

	for i, row := range brokerRows() {
		var k3sync error
		topic := row.topic
		var configs []kmsg.CreateTopicsRequestTopicConfig
		switch {
		case row.configs != nil:
			topic = fmt.Sprintf("config-row-%d", i)
			k3sync = kafkaspec.ValidateTopicConfigs(row.configs)
			for k, v := range row.configs {
				configs = append(configs, requestConfig(k, v))
			}
		case row.key == "":
			k3sync = kafkaspec.ValidateTopicName(row.topic)
		default:
			topic = fmt.Sprintf("config-row-%d", i)
			k3sync = kafkaspec.ValidateTopicConfig(row.key, row.value)
			configs = append(configs, requestConfig(row.key, row.value))
		}
		broker, err := validateCreate(ctx, cl, topic, configs)
		if err != nil {
			t.Fatalf("%s: %v", row, err)
		}
		if (k3sync == nil) != (broker == nil) {
			t.Errorf("%s: k3sync %s; broker %s", row, verdict(k3sync), verdict(broker))
		} else if testing.Verbose() {
			t.Logf("%s: both %s", row, strings.SplitN(verdict(broker), ":", 2)[0])
		}
	}

	t.Run("keys and defaults", func(t *testing.T) {
		keysAndDefaults(ctx, t, cl)
	})
}

// keysAndDefaults creates a topic and checks that the configs the broker
// describes for it are exactly kafkaspec's keys, with kafkaspec's
// defaults: a key kafkaspec does not know would be refused at validate
// time though the broker accepts it.
func keysAndDefaults(ctx context.Context, t *testing.T, cl *kgo.Client) {
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "described"); err != nil {
		t.Fatalf("create topic: %v", err)
	}
	rcs, err := adm.DescribeTopicConfigs(ctx, "described")
	if err != nil {
		t.Fatalf("describe topic configs: %v", err)
	}
	rc, err := rcs.On("described", nil)
	if err != nil || rc.Err != nil {
		t.Fatalf("describe topic configs: %v %v", err, rc.Err)
	}
	seen := make(map[string]bool)
	for _, c := range rc.Configs {
		seen[c.Key] = true
		k, ok := kafkaspec.TopicConfigs[c.Key]
		if !ok {
			t.Errorf("the broker has topic config %s (default %q), kafkaspec does not know it", c.Key, c.MaybeValue())
			continue
		}
		if c.MaybeValue() != k.Default {
			t.Errorf("%s: kafkaspec's default is %q, the broker's %q", c.Key, k.Default, c.MaybeValue())
		}
		if err := kafkaspec.ValidateTopicConfig(c.Key, c.MaybeValue()); err != nil {
			t.Errorf("%s: kafkaspec refuses the broker's default: %v", c.Key, err)
		}
	}
	for _, name := range kafkaspec.TopicConfigNames() {
		if !seen[name] {
			t.Errorf("kafkaspec knows topic config %s, the broker does not describe it", name)
		}
	}
}

func requestConfig(key, value string) kmsg.CreateTopicsRequestTopicConfig {
	cfg := kmsg.NewCreateTopicsRequestTopicConfig()
	cfg.Name = key
	cfg.Value = kmsg.StringPtr(value)
	return cfg
}

// validateCreate asks the broker whether it would create topic with
// configs. The result is the broker's refusal, or nil; the error is a
// failed request.
func validateCreate(ctx context.Context, cl *kgo.Client, topic string, configs []kmsg.CreateTopicsRequestTopicConfig) (refusal, err error) {
	req := kmsg.NewPtrCreateTopicsRequest()
	req.ValidateOnly = true
	req.TimeoutMillis = 30_000
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic = topic
	rt.NumPartitions = 1
	rt.ReplicationFactor = 1
	rt.Configs = configs
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return nil, fmt.Errorf("CreateTopics: %w", err)
	}
	if len(resp.Topics) != 1 {
		return nil, fmt.Errorf("CreateTopics: %d topics in the response, want 1", len(resp.Topics))
	}
	rtr := resp.Topics[0]
	if err := kerr.ErrorForCode(rtr.ErrorCode); err != nil {
		if errors.Is(err, kerr.RequestTimedOut) || errors.Is(err, kerr.NotController) {
			return nil, fmt.Errorf("CreateTopics: %w", err)
		}
		msg := ""
		if rtr.ErrorMessage != nil {
			msg = ": " + *rtr.ErrorMessage
		}
		return fmt.Errorf("%w%s", err, msg), nil
	}
	return nil, nil
}
