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
