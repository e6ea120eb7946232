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
// AclOperation, QuotaConfig).
//
// # Defaults
//
// Topic config defaults are the broker defaults of a stock Kafka 4.x. The
// Kafka target uses them to show what a key falls back to when Git stops
// setting it.
package kafkaspec
