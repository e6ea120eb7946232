package kafkaspec

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode"
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
	// Extra lists the values accepted outside [Min, Max], e.g. -1 (the
	// codec's default level) for compression.gzip.level.
	Extra []float64
	// Valid lists the accepted values of a string, or of each list element.
	Valid []string
	// Replicas marks the lists of throttled replicas: "*", or
	// partition:broker pairs.
	Replicas bool
}

// TopicConfigs are the topic-level configs of Kafka 4.x by name.
var TopicConfigs = func() map[string]ConfigKey {
	keys := []ConfigKey{
		{Name: "cleanup.policy", Type: List, Default: "delete", Valid: []string{"compact", "delete"}},
		{Name: "compression.type", Type: String, Default: "producer", Valid: []string{"uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"}},
		{Name: "compression.gzip.level", Type: Int, Default: "-1", HasRange: true, Min: 1, Max: 9, Extra: []float64{-1}},
		{Name: "compression.lz4.level", Type: Int, Default: "9", HasRange: true, Min: 1, Max: 17},
		{Name: "compression.zstd.level", Type: Int, Default: "3", HasRange: true, Min: -131072, Max: 22},
		{Name: "delete.retention.ms", Type: Long, Default: "86400000", HasRange: true, Min: 0, Max: math.MaxInt64},
		{Name: "errors.deadletterqueue.group.enable", Type: Boolean, Default: "false"},
		{Name: "file.delete.delay.ms", Type: Long, Default: "60000", HasRange: true, Min: 0, Max: math.MaxInt64},
		{Name: "flush.messages", Type: Long, Default: "9223372036854775807", HasRange: true, Min: 1, Max: math.MaxInt64},
		{Name: "flush.ms", Type: Long, Default: "9223372036854775807", HasRange: true, Min: 0, Max: math.MaxInt64},
		{Name: "follower.replication.throttled.replicas", Type: List, Default: "", Replicas: true},
		{Name: "index.interval.bytes", Type: Int, Default: "4096", HasRange: true, Min: 0, Max: math.MaxInt32},
		{Name: "leader.replication.throttled.replicas", Type: List, Default: "", Replicas: true},
		{Name: "local.retention.bytes", Type: Long, Default: "-2", HasRange: true, Min: -2, Max: math.MaxInt64},
		{Name: "local.retention.ms", Type: Long, Default: "-2", HasRange: true, Min: -2, Max: math.MaxInt64},
		{Name: "max.compaction.lag.ms", Type: Long, Default: "9223372036854775807", HasRange: true, Min: 1, Max: math.MaxInt64},
		{Name: "max.decompressed.message.bytes", Type: Int, Default: "2147483639", HasRange: true, Min: 1, Max: 2147483639},
		{Name: "max.message.bytes", Type: Int, Default: "1048588", HasRange: true, Min: 0, Max: math.MaxInt32},
		{Name: "message.timestamp.after.max.ms", Type: Long, Default: "3600000", HasRange: true, Min: 0, Max: math.MaxInt64},
		{Name: "message.timestamp.before.max.ms", Type: Long, Default: "9223372036854775807", HasRange: true, Min: 0, Max: math.MaxInt64},
		{Name: "message.timestamp.type", Type: String, Default: "CreateTime", Valid: []string{"CreateTime", "LogAppendTime"}},
		{Name: "min.cleanable.dirty.ratio", Type: Double, Default: "0.5", HasRange: true, Min: 0, Max: 1},
		{Name: "min.compaction.lag.ms", Type: Long, Default: "0", HasRange: true, Min: 0, Max: math.MaxInt64},
		{Name: "min.insync.replicas", Type: Int, Default: "1", HasRange: true, Min: 1, Max: math.MaxInt32},
		{Name: "preallocate", Type: Boolean, Default: "false"},
		{Name: "remote.copy.lag.bytes", Type: Long, Default: "-1", HasRange: true, Min: -1, Max: math.MaxInt64},
		{Name: "remote.copy.lag.ms", Type: Long, Default: "0", HasRange: true, Min: -1, Max: math.MaxInt64},
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

// Broker is what a cluster's brokers offer beyond a stock Kafka 4.x:
// some topic configs are valid only on brokers set up for them.
type Broker struct {
	// TieredStorage: the brokers run tiered storage
	// (remote.log.storage.system.enable=true). Without it a broker refuses
	// remote.storage.enable=true.
	TieredStorage bool
}

// ValidateTopicConfig reports why a stock broker (Broker{}) would reject
// value for key.
func ValidateTopicConfig(key, value string) error { return Broker{}.ValidateTopicConfig(key, value) }

// ValidateTopicConfigs is Broker{}.ValidateTopicConfigs.
func ValidateTopicConfigs(configs map[string]string) error {
	return Broker{}.ValidateTopicConfigs(configs)
}

// ValidateTopicConfig reports why the broker would reject value for key.
func (b Broker) ValidateTopicConfig(key, value string) error {
	k, ok := TopicConfigs[key]
	if !ok {
		return fmt.Errorf("unknown topic config %q", key)
	}
	if err := k.Validate(value); err != nil {
		return err
	}
	if key == "remote.storage.enable" && !b.TieredStorage && strings.EqualFold(javaTrim(value), "true") {
		return errors.New("remote.storage.enable=true needs brokers with tiered storage (remote.log.storage.system.enable); " +
			"the platform says the cluster has none (tieredStorage)")
	}
	return nil
}

// ValidateTopicConfigs reports why the broker would reject a topic with
// configs: each key as ValidateTopicConfig does, then the rule between keys
// Kafka checks on every broker (LogConfig.validateValues):
// min.compaction.lag.ms may not exceed max.compaction.lag.ms, an unset one
// counting as its default. (The rules between retention and local
// retention apply only to topics in tiered storage: they are not checked.)
// The errors are joined, by key.
func (b Broker) ValidateTopicConfigs(configs map[string]string) error {
	keys := make([]string, 0, len(configs))
	for k := range configs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var errs []error
	for _, k := range keys {
		if err := b.ValidateTopicConfig(k, configs[k]); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	minLag, maxLag := longConfig(configs, "min.compaction.lag.ms"), longConfig(configs, "max.compaction.lag.ms")
	if minLag > maxLag {
		return fmt.Errorf("min.compaction.lag.ms (%d) is greater than max.compaction.lag.ms (%d)", minLag, maxLag)
	}
	return nil
}

// SameValue reports whether a broker reads a and b, two values of the
// topic config key, as one value: trimmed as String.trim does, numbers
// parsed as Integer.parseInt and Double.parseDouble do (so "0100", "+100"
// and "١٠٠" are 100, "0.5d" is 0.5), booleans without case, list items
// around their commas. Values of an unknown key, and values of a string
// key, must be equal once trimmed; values that do not parse are never the
// same as another.
func SameValue(key, a, b string) bool {
	if a == b {
		return true
	}
	a, b = javaTrim(a), javaTrim(b)
	k, ok := TopicConfigs[key]
	if !ok {
		return a == b
	}
	switch k.Type {
	case Boolean:
		return strings.EqualFold(a, b)
	case Int, Long:
		x, err1 := parseJavaInt(a, 64)
		y, err2 := parseJavaInt(b, 64)
		return err1 == nil && err2 == nil && x == y
	case Double:
		x, err1 := parseJavaDouble(a)
		y, err2 := parseJavaDouble(b)
		return err1 == nil && err2 == nil && (x == y || math.Abs(x-y) < 1e-12)
	case List:
		return slices.Equal(javaList(a), javaList(b))
	case String:
	}
	return a == b
}

// ParseInteger reads an int or long config value as Kafka's ConfigDef
// does: trimmed of every character up to ' ' (String.trim), an optional
// sign, Unicode decimal digits (Long.parseLong). Checks on a value's
// number must read it this way: a Go parser refuses "\x01-1" or "٩٩٩"
// that Kafka takes as -1 and 999.
func ParseInteger(value string) (int64, error) {
	return parseJavaInt(javaTrim(value), 64)
}

// longConfig is the value of a valid long config key, or its default.
func longConfig(configs map[string]string, key string) int64 {
	v, ok := configs[key]
	if !ok {
		v = TopicConfigs[key].Default
	}
	n, _ := parseJavaInt(javaTrim(v), 64)
	return n
}

// Validate parses value the way Kafka's ConfigDef does and checks it.
// Parsing follows Java's rules, not Go's: the value is trimmed of every
// character up to ' ' (String.trim), ints and longs take an optional sign
// and Unicode decimal digits (Integer.parseInt), doubles take Java's
// literal syntax with an optional f or d suffix (Double.parseDouble), and
// NaN passes range checks, as it does in ConfigDef.Range.
func (k ConfigKey) Validate(value string) error {
	v := javaTrim(value)
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
		n, err := parseJavaInt(v, bits)
		if err != nil {
			return fmt.Errorf("%s: %q is not a %s", k.Name, value, k.Type)
		}
		if err := k.checkRange(float64(n)); err != nil {
			return fmt.Errorf("%s: %d is out of range %w", k.Name, n, err)
		}
	case Double:
		f, err := parseJavaDouble(v)
		if err != nil {
			return fmt.Errorf("%s: %q is not a number", k.Name, value)
		}
		if err := k.checkRange(f); err != nil {
			return fmt.Errorf("%s: %s is out of range %w", k.Name, v, err)
		}
	case String:
		if len(k.Valid) > 0 && !slices.Contains(k.Valid, v) {
			return fmt.Errorf("%s: %q is not one of %s", k.Name, value, strings.Join(k.Valid, ", "))
		}
	case List:
		elems := javaList(v)
		if k.Replicas {
			return k.checkReplicas(value, elems)
		}
		if len(k.Valid) == 0 {
			return nil
		}
		// An empty list is valid: for cleanup.policy it means neither
		// deletion nor compaction (Kafka 4.x).
		for _, e := range elems {
			if !slices.Contains(k.Valid, e) {
				return fmt.Errorf("%s: %q is not one of %s", k.Name, e, strings.Join(k.Valid, ", "))
			}
		}
	}
	return nil
}

// checkRange reports f outside [Min, Max] and not in Extra. NaN is never
// outside: ConfigDef.Range compares with < and >.
func (k ConfigKey) checkRange(f float64) error {
	if !k.HasRange || !(f < k.Min || f > k.Max) || slices.Contains(k.Extra, f) {
		return nil
	}
	r := fmt.Sprintf("[%s, %s]", bound(k.Min), bound(k.Max))
	for _, e := range k.Extra {
		r += " or " + bound(e)
	}
	return errors.New(r)
}

// replicaPattern is one element of a throttled replicas list, as in
// Kafka's ThrottledReplicaListValidator: empty, or partition:broker.
var replicaPattern = regexp.MustCompile(`^([0-9]+:[0-9]+)?$`)

// checkReplicas accepts the lists Kafka's ThrottledReplicaListValidator
// accepts: elements that are all partition:broker pairs (or empty), or
// elements that join to "*".
func (k ConfigKey) checkReplicas(value string, elems []string) error {
	if strings.Join(elems, "") == "*" {
		return nil
	}
	for _, e := range elems {
		if !replicaPattern.MatchString(e) {
			return fmt.Errorf("%s: %q is not '*' or a list of partition:broker pairs (e.g. 0:1,1:2)", k.Name, value)
		}
	}
	return nil
}

// javaTrim trims s as Java's String.trim does: every character up to and
// including ' ', and nothing else (not Unicode spaces such as U+00A0).
func javaTrim(s string) string {
	return strings.TrimFunc(s, func(r rune) bool { return r <= ' ' })
}

// ParseList reads a list config value as Kafka does (Java's trim, then
// comma-separated elements): "" and "\u0001" are the empty list.
func ParseList(value string) []string {
	return javaList(javaTrim(value))
}

// javaListSep splits lists as ConfigDef does: a comma with Java's \s
// whitespace around it.
var javaListSep = regexp.MustCompile(`[ \t\n\x0B\f\r]*,[ \t\n\x0B\f\r]*`)

// javaList parses a trimmed list value as ConfigDef does: empty is the
// empty list; empty elements are kept.
func javaList(v string) []string {
	if v == "" {
		return nil
	}
	return javaListSep.Split(v, -1)
}

// parseJavaInt parses s as Integer.parseInt (bits 32) or Long.parseLong
// (bits 64) do: an optional sign, then decimal digits of any Unicode
// script in the Basic Multilingual Plane.
func parseJavaInt(s string, bits int) (int64, error) {
	var b strings.Builder
	for i, r := range s {
		switch {
		case i == 0 && (r == '+' || r == '-') && len(s) > 1:
			b.WriteRune(r)
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case r <= 0xFFFF && unicode.IsDigit(r): // Java reads UTF-16 units: BMP digits only
			b.WriteByte(byte('0' + unicodeDigit(r)))
		default:
			return 0, fmt.Errorf("%q is not an integer", s)
		}
	}
	n, err := strconv.ParseInt(b.String(), 10, bits)
	if err != nil {
		return 0, fmt.Errorf("%q is not an integer: %w", s, err)
	}
	return n, nil
}

// unicodeDigit is the value of a decimal digit (category Nd): digits come
// in runs of whole sets of ten, each starting at its zero.
func unicodeDigit(r rune) int {
	start := r
	for unicode.IsDigit(start - 1) {
		start--
	}
	return int(r-start) % 10
}

// javaDouble is the syntax Double.parseDouble accepts (after trimming).
var javaDouble = regexp.MustCompile(`^[+-]?(NaN|Infinity|(([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?|0[xX]([0-9a-fA-F]+\.?|[0-9a-fA-F]*\.[0-9a-fA-F]+)[pP][+-]?[0-9]+)[fFdD]?)$`)

// parseJavaDouble parses s as Double.parseDouble does. The suffix of a
// float or double literal (f, F, d, D) is allowed and ignored: "0.1f" is
// the double 0.1.
func parseJavaDouble(s string) (float64, error) {
	if !javaDouble.MatchString(s) {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	s = strings.TrimRight(s, "fFdD")
	switch strings.TrimLeft(s, "+-") {
	case "NaN":
		return math.NaN(), nil
	case "Infinity":
		if strings.HasPrefix(s, "-") {
			return math.Inf(-1), nil
		}
		return math.Inf(1), nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return 0, fmt.Errorf("%q is not a number: %w", s, err)
	}
	// Out of range: Java rounds to infinity or zero, as ParseFloat does.
	return f, nil
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
