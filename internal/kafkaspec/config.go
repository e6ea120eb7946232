package kafkaspec

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Type is a Kafka config type.
type Type int

// Config types, as in org.apache.kafka.common.config.ConfigDef.Type.
const (
	Boolean Type = iota
	Int
	Long
	Double
	String
	List
)

func (t Type) String() string {
	switch t {
	case Boolean:
		return "boolean"
	case Int:
		return "int"
	case Long:
		return "long"
	case Double:
		return "double"
	case String:
		return "string"
	case List:
		return "list"
	}
	return "unknown"
}

// ConfigKey describes one topic config key.
type ConfigKey struct {
	Name    string
	Type    Type
	Default string
	// Min and Max bound numeric values (inclusive) when HasRange.
	HasRange bool
	Min, Max float64
	// Valid lists the accepted values of a string, or of each list element.
	Valid []string
}

// TopicConfigs are the topic-level configs of Kafka 4.x by name.
var TopicConfigs = func() map[string]ConfigKey {
	keys := []ConfigKey{
		{Name: "cleanup.policy", Type: List, Default: "delete", Valid: []string{"compact", "delete"}},
		{Name: "compression.type", Type: String, Default: "producer", Valid: []string{"uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"}},
		{Name: "compression.gzip.level", Type: Int, Default: "-1", HasRange: true, Min: -1, Max: 9},
		{Name: "compression.lz4.level", Type: Int, Default: "9", HasRange: true, Min: 1, Max: 17},
		{Name: "compression.zstd.level", Type: Int, Default: "3", HasRange: true, Min: -131072, Max: 22},
		{Name: "delete.retention.ms", Type: Long, Default: "86400000", HasRange: true, Min: 0, Max: math.MaxInt64},
		{Name: "file.delete.delay.ms", Type: Long, Default: "60000", HasRange: true, Min: 0, Max: math.MaxInt64},
		{Name: "flush.messages", Type: Long, Default: "9223372036854775807", HasRange: true, Min: 1, Max: math.MaxInt64},
		{Name: "flush.ms", Type: Long, Default: "9223372036854775807", HasRange: true, Min: 0, Max: math.MaxInt64},
		{Name: "follower.replication.throttled.replicas", Type: List, Default: ""},
		{Name: "index.interval.bytes", Type: Int, Default: "4096", HasRange: true, Min: 0, Max: math.MaxInt32},
		{Name: "leader.replication.throttled.replicas", Type: List, Default: ""},
		{Name: "local.retention.bytes", Type: Long, Default: "-2", HasRange: true, Min: -2, Max: math.MaxInt64},
		{Name: "local.retention.ms", Type: Long, Default: "-2", HasRange: true, Min: -2, Max: math.MaxInt64},
		{Name: "max.compaction.lag.ms", Type: Long, Default: "9223372036854775807", HasRange: true, Min: 1, Max: math.MaxInt64},
		{Name: "max.message.bytes", Type: Int, Default: "1048588", HasRange: true, Min: 0, Max: math.MaxInt32},
		{Name: "message.timestamp.after.max.ms", Type: Long, Default: "3600000", HasRange: true, Min: 0, Max: math.MaxInt64},
		{Name: "message.timestamp.before.max.ms", Type: Long, Default: "9223372036854775807", HasRange: true, Min: 0, Max: math.MaxInt64},
		{Name: "message.timestamp.type", Type: String, Default: "CreateTime", Valid: []string{"CreateTime", "LogAppendTime"}},
		{Name: "min.cleanable.dirty.ratio", Type: Double, Default: "0.5", HasRange: true, Min: 0, Max: 1},
		{Name: "min.compaction.lag.ms", Type: Long, Default: "0", HasRange: true, Min: 0, Max: math.MaxInt64},
		{Name: "min.insync.replicas", Type: Int, Default: "1", HasRange: true, Min: 1, Max: math.MaxInt32},
		{Name: "preallocate", Type: Boolean, Default: "false"},
		{Name: "remote.log.copy.disable", Type: Boolean, Default: "false"},
		{Name: "remote.log.delete.on.disable", Type: Boolean, Default: "false"},
		{Name: "remote.storage.enable", Type: Boolean, Default: "false"},
		{Name: "retention.bytes", Type: Long, Default: "-1"},
		{Name: "retention.ms", Type: Long, Default: "604800000", HasRange: true, Min: -1, Max: math.MaxInt64},
		{Name: "segment.bytes", Type: Int, Default: "1073741824", HasRange: true, Min: 1048576, Max: math.MaxInt32},
		{Name: "segment.index.bytes", Type: Int, Default: "10485760", HasRange: true, Min: 4, Max: math.MaxInt32},
		{Name: "segment.jitter.ms", Type: Long, Default: "0", HasRange: true, Min: 0, Max: math.MaxInt64},
		{Name: "segment.ms", Type: Long, Default: "604800000", HasRange: true, Min: 1, Max: math.MaxInt64},
		{Name: "unclean.leader.election.enable", Type: Boolean, Default: "false"},
	}
	m := make(map[string]ConfigKey, len(keys))
	for _, k := range keys {
		m[k.Name] = k
	}
	return m
}()

// TopicConfigNames returns the known topic config keys, sorted.
func TopicConfigNames() []string {
	names := make([]string, 0, len(TopicConfigs))
	for n := range TopicConfigs {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// ValidateTopicConfig reports why a broker would reject value for key.
func ValidateTopicConfig(key, value string) error {
	k, ok := TopicConfigs[key]
	if !ok {
		return fmt.Errorf("unknown topic config %q", key)
	}
	return k.Validate(value)
}

// Validate parses value the way Kafka's ConfigDef does and checks it.
func (k ConfigKey) Validate(value string) error {
	v := strings.TrimSpace(value)
	switch k.Type {
	case Boolean:
		if !strings.EqualFold(v, "true") && !strings.EqualFold(v, "false") {
			return fmt.Errorf("%s: %q is not a boolean (true or false)", k.Name, value)
		}
	case Int, Long:
		bits := 64
		if k.Type == Int {
			bits = 32
		}
		n, err := strconv.ParseInt(v, 10, bits)
		if err != nil {
			return fmt.Errorf("%s: %q is not a %s", k.Name, value, k.Type)
		}
		if k.HasRange && (float64(n) < k.Min || float64(n) > k.Max) {
			return fmt.Errorf("%s: %d is out of range [%s, %s]", k.Name, n, bound(k.Min), bound(k.Max))
		}
	case Double:
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsNaN(f) {
			return fmt.Errorf("%s: %q is not a number", k.Name, value)
		}
		if k.HasRange && (f < k.Min || f > k.Max) {
			return fmt.Errorf("%s: %s is out of range [%s, %s]", k.Name, v, bound(k.Min), bound(k.Max))
		}
	case String:
		if len(k.Valid) > 0 && !slices.Contains(k.Valid, v) {
			return fmt.Errorf("%s: %q is not one of %s", k.Name, value, strings.Join(k.Valid, ", "))
		}
	case List:
		if len(k.Valid) == 0 {
			return nil
		}
		if v == "" {
			return fmt.Errorf("%s: empty list, want some of %s", k.Name, strings.Join(k.Valid, ", "))
		}
		for _, e := range strings.Split(v, ",") {
			if !slices.Contains(k.Valid, strings.TrimSpace(e)) {
				return fmt.Errorf("%s: %q is not one of %s", k.Name, strings.TrimSpace(e), strings.Join(k.Valid, ", "))
			}
		}
	}
	return nil
}

func bound(f float64) string {
	switch f {
	case math.MaxInt64:
		return "9223372036854775807"
	case math.MaxInt32:
		return "2147483647"
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
}
