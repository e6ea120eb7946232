package kafka

import (
	"strings"
	"testing"
)

// TestServerProperties: Options.ServerProperties replaces the harness's
// setting of the same key in place, and adds the others after them.
func TestServerProperties(t *testing.T) {
	n := &node{id: 1, dir: t.TempDir(), saslPort: 1, internalPort: 2, controllerPort: 3}
	props := serverProperties(n, []*node{n}, AdminUser, map[string]string{
		"sasl.enabled.mechanisms":  "SCRAM-SHA-512,SCRAM-SHA-256",
		"log.index.interval.bytes": "8192",
	})
	lines := strings.Split(props, "\n")
	count := func(prefix string) int {
		c := 0
		for _, l := range lines {
			if strings.HasPrefix(l, prefix) {
				c++
			}
		}
		return c
	}
	for _, want := range []string{"sasl.enabled.mechanisms=SCRAM-SHA-512,SCRAM-SHA-256", "log.index.interval.bytes=8192", "num.io.threads=2"} {
		if count(want) != 1 {
			t.Errorf("server.properties has %q %d times, want once:\n%s", want, count(want), props)
		}
	}
	if count("sasl.enabled.mechanisms=") != 1 {
		t.Errorf("sasl.enabled.mechanisms set more than once:\n%s", props)
	}
}
