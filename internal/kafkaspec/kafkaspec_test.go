package kafkaspec

import (
	"strings"
	"testing"
)

func TestValidateTopicName(t *testing.T) {
	for _, tc := range []struct {
		name, wantErr string
	}{
		{"payments.orders", ""},
		{"payments_orders-v2", ""},
		{"", "empty"},
		{".", "not allowed"},
		{"..", "not allowed"},
		{"payments/orders", "illegal character '/'"},
		{"payménts", "illegal character 'é'"},
		{strings.Repeat("a", 249), ""},
		{strings.Repeat("a", 250), "at most 249"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidateTopicName(tc.name)
			checkErr(t, err, tc.wantErr)
		})
	}
}

func TestCollisionKey(t *testing.T) {
	if CollisionKey("a.b_c") != CollisionKey("a_b.c") {
		t.Error("a.b_c and a_b.c must collide")
	}
	if CollisionKey("a.b") == CollisionKey("a-b") {
		t.Error("a.b and a-b must not collide")
	}
}

func TestValidateTopicConfig(t *testing.T) {
	for _, tc := range []struct {
		key, value, wantErr string
	}{
		{"retention.ms", "604800000", ""},
		{"retention.ms", "-1", ""},
		{"retention.ms", "-2", "out of range [-1, 9223372036854775807]"},
		{"retention.ms", "7d", "not a long"},
		{"min.insync.replicas", "0", "out of range"},
		{"min.insync.replicas", "3000000000", "not a int"},
		{"cleanup.policy", "compact,delete", ""},
		{"cleanup.policy", "compact, delete", ""},
		{"cleanup.policy", "compacted", `"compacted" is not one of compact, delete`},
		{"compression.type", "zstd", ""},
		{"compression.type", "brotli", "not one of"},
		{"min.cleanable.dirty.ratio", "0.25", ""},
		{"min.cleanable.dirty.ratio", "1.5", "out of range [0, 1]"},
		{"preallocate", "TRUE", ""},
		{"preallocate", "yes", "not a boolean"},
		{"retention.msec", "1", `unknown topic config "retention.msec"`},
		{"segment.bytes", "1000", "out of range"},
	} {
		t.Run(tc.key+"="+tc.value, func(t *testing.T) {
			checkErr(t, ValidateTopicConfig(tc.key, tc.value), tc.wantErr)
		})
	}
}

func TestValidateTopicConfigs(t *testing.T) {
	for _, tc := range []struct {
		configs map[string]string
		wantErr string
	}{
		{map[string]string{"retention.ms": "1000", "cleanup.policy": "compact"}, ""},
		{map[string]string{"retention.ms": "x", "cleanup.policy": "y"}, `cleanup.policy: "y" is not one of compact, delete` + "\n" + `retention.ms: "x" is not a long`},
		{map[string]string{"min.compaction.lag.ms": "10", "max.compaction.lag.ms": "5"}, "min.compaction.lag.ms (10) is greater than max.compaction.lag.ms (5)"},
		{map[string]string{"min.compaction.lag.ms": "5", "max.compaction.lag.ms": "5"}, ""},
		{map[string]string{"min.compaction.lag.ms": "9223372036854775807"}, ""},
		{map[string]string{"max.compaction.lag.ms": "1"}, ""},
	} {
		checkErr(t, ValidateTopicConfigs(tc.configs), tc.wantErr)
	}
}

func TestJavaParsing(t *testing.T) {
	for _, tc := range []struct {
		key, value, wantErr string
	}{
		{"compression.gzip.level", "-1", ""},
		{"compression.gzip.level", "0", "out of range [1, 9] or -1"},
		{"min.insync.replicas", "\u0662", ""},
		{"min.insync.replicas", "\U0001D7D0", "not a int"},
		{"preallocate", "\x01true", ""},
		{"preallocate", "true\u00a0", "not a boolean"},
		{"min.cleanable.dirty.ratio", "0.5d", ""},
		{"min.cleanable.dirty.ratio", "1.00000001f", "out of range"},
		{"min.cleanable.dirty.ratio", "NaN", ""},
		{"min.cleanable.dirty.ratio", "inf", "not a number"},
		{"cleanup.policy", "", ""},
		{"leader.replication.throttled.replicas", "*", ""},
		{"leader.replication.throttled.replicas", "0:1, 1:2", ""},
		{"leader.replication.throttled.replicas", "*,0:1", "partition:broker pairs"},
		{"follower.replication.throttled.replicas", "foo", "partition:broker pairs"},
	} {
		t.Run(tc.key+"="+tc.value, func(t *testing.T) {
			checkErr(t, ValidateTopicConfig(tc.key, tc.value), tc.wantErr)
		})
	}
}

func TestDefaultsAreValid(t *testing.T) {
	for _, name := range TopicConfigNames() {
		k := TopicConfigs[name]
		if len(k.Valid) > 0 || k.Default != "" {
			if err := k.Validate(k.Default); err != nil {
				t.Errorf("default of %s does not validate: %v", name, err)
			}
		}
	}
}

func TestValidateACLOperation(t *testing.T) {
	checkErr(t, ValidateACLOperation("topic", "read"), "")
	checkErr(t, ValidateACLOperation("group", "write"), `operation "write" does not apply to group resources`)
	checkErr(t, ValidateACLOperation("cluster", "idempotent-write"), "")
	checkErr(t, ValidateACLOperation("broker", "read"), "unknown ACL resource type")
}

func TestValidateUserName(t *testing.T) {
	checkErr(t, ValidateUserName("payments.api"), "")
	checkErr(t, ValidateUserName("payments,api"), "character ','")
	checkErr(t, ValidateUserName("Payments"), "character 'P'")
}

func checkErr(t *testing.T, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Errorf("unexpected error: %v", err)
	case want != "" && err == nil:
		t.Errorf("no error, want one containing %q", want)
	case want != "" && !strings.Contains(err.Error(), want):
		t.Errorf("error %q does not contain %q", err, want)
	}
}
