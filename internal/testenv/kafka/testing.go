package kafka

import (
	"testing"
)

// StartT starts a Kafka cluster with opts, stops it when the test ends and
// fails the test if it does not start. It never skips: missing jars fail
// the test with a message saying to run 'make kafka-bin'. When the test
// failed, the cluster's directory with the broker logs is kept and its
// path logged.
func StartT(t testing.TB, opts Options) *Cluster {
	t.Helper()
	c, err := Start(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			c.keep.Store(true)
			t.Logf("kafka logs kept in %s (node-<id>/server.log)", c.LogDir())
		}
		if err := c.Stop(); err != nil {
			t.Errorf("stop kafka: %v", err)
		}
	})
	t.Logf("kafka %s, %d broker(s) at %v, ready in %s", Version, len(c.nodes), c.Bootstrap(), c.StartupTime().Round(1e6))
	return c
}
