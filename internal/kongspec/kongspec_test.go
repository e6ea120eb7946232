package kongspec

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestValidateConfig(t *testing.T) {
	cat := Bundled()
	tests := []struct {
		name       string
		plugin     string
		config     map[string]any
		onConsumer bool
		want       []ConfigError
	}{
		{"valid", "rate-limiting", map[string]any{"minute": 600, "policy": "local"}, false, nil},
		{"unknown field", "rate-limiting", map[string]any{"minute": 5, "burst": 1}, false,
			[]ConfigError{{Path: []string{"burst"}, Message: "unknown field"}}},
		{"wrong type", "rate-limiting", map[string]any{"minute": "lots"}, false,
			[]ConfigError{{Path: []string{"minute"}, Message: "expected a number"}}},
		{"one_of", "rate-limiting", map[string]any{"minute": 5, "policy": "memcached"}, false,
			[]ConfigError{{Path: []string{"policy"}, Message: "expected one of: local, cluster, redis"}}},
		{"nested record", "request-transformer", map[string]any{"add": map[string]any{"headers": []any{"no-colon"}}}, false,
			[]ConfigError{{Path: []string{"add", "headers", "0"}, Message: "key 'no-colon' has no value"}}},
		{"entity check", "rate-limiting", map[string]any{}, false,
			[]ConfigError{{Message: "at least one of these fields must be non-empty: 'config.second', 'config.minute', 'config.hour', 'config.day', 'config.month', 'config.year'"}}},
		{"entity check on config field", "rate-limiting", map[string]any{"minute": 5, "limit_by": "header"}, false,
			[]ConfigError{{Path: []string{"header_name"}, Message: "required field missing"}}},
		{"not on a consumer", "acl", map[string]any{"allow": []any{"a"}}, true,
			[]ConfigError{{Path: []string{OnConsumer}, Message: "plugin acl cannot be applied to a consumer"}}},
		{"allowed on a consumer", "rate-limiting", map[string]any{"minute": 5}, true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := cat.ValidateConfig(tt.plugin, tt.config, tt.onConsumer)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
	if _, err := cat.ValidateConfig("../x", nil, false); err == nil {
		t.Error("a plugin without a schema validated")
	}
}

func TestValidName(t *testing.T) {
	for name, want := range map[string]bool{
		"payments-api": true, "a.b_c~d": true, "zahlungen-über": true,
		"": false, "a/b": false, "../x": false, "a b": false, "a\nb": false, "a:b": false,
	} {
		if got := ValidName(name); got != want {
			t.Errorf("ValidName(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestRunsCode(t *testing.T) {
	var got []string
	for _, n := range Bundled().Names() {
		if Bundled()[n].RunsCode() {
			got = append(got, n)
		}
	}
	if diff := cmp.Diff([]string{"post-function", "pre-function"}, got); diff != "" {
		t.Errorf("plugins that run code (-want +got):\n%s", diff)
	}
}
