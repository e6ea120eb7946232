// Package kafkaspec knows what a real Kafka broker accepts: legal topic
// names, topic config keys with their types, ranges and defaults, ACL
// resource/operation pairs and client quota keys.
//
// # Why it exists
//
// The test broker (kfake) accepts anything, and a real broker rejects bad
// input only at apply time, after a plan was reviewed. k3sync therefore
// checks everything itself at validate time, with Kafka's own rules
// (Kafka 4.x: org.apache.kafka.common.internals.Topic, LogConfig,
// AclOperation, QuotaConfig). Values are parsed as Kafka's ConfigDef
// parses them, with Java's rules (String.trim, Integer.parseInt,
// Double.parseDouble), not Go's.
//
// broker_test.go proves the topic rules against a real Kafka 4.4 broker
// (internal/testenv/kafka): for a table of names and config values, every
// verdict of ValidateTopicName, ValidateTopicConfig and
// ValidateTopicConfigs must be the broker's verdict on CreateTopics with
// ValidateOnly, and the topic configs the broker describes must be
// TopicConfigs, with the same defaults. One rule depends on how the
// brokers are set up: without tiered storage
// (remote.log.storage.system.enable=false, the default) a broker refuses
// remote.storage.enable=true; Broker says what the platform declares
// (platform.cue's kafka.<cluster>.tieredStorage).
//
// # Defaults
//
// Topic config defaults are the broker defaults of a stock Kafka 4.x. The
// Kafka target uses them to show what a key falls back to when Git stops
// setting it.
package kafkaspec
