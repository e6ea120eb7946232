package notify

import (
	"maps"
	"slices"

	"github.com/prometheus/client_golang/prometheus"
)

var (
	eventsDesc = prometheus.NewDesc("k3sync_notifications_total",
		"Notification events per sink, by outcome: queued, dropped (queue full), delivered, failed (refused, or given up after retries), suppressed (rate limit).",
		[]string{"sink", "kind", "outcome"}, nil)
	dedupedDesc = prometheus.NewDesc("k3sync_notifications_deduplicated_total",
		"Notification events dropped as identical to one accepted within the dedupe window.", nil, nil)
)

// Describe makes a Notifier a prometheus.Collector.
func (n *Notifier) Describe(ch chan<- *prometheus.Desc) {
	ch <- eventsDesc
	ch <- dedupedDesc
}

// Collect reports the counts of [Notifier.Stats] per sink.
func (n *Notifier) Collect(ch chan<- prometheus.Metric) {
	if n == nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(dedupedDesc, prometheus.CounterValue, float64(n.deduped.Load()))
	for _, name := range slices.Sorted(maps.Keys(n.workers)) {
		w := n.workers[name]
		for outcome, v := range map[string]int64{
			"queued": w.stats.queued.Load(), "dropped": w.stats.dropped.Load(), "delivered": w.stats.delivered.Load(),
			"failed": w.stats.failed.Load(), "suppressed": w.stats.suppressed.Load(),
		} {
			ch <- prometheus.MustNewConstMetric(eventsDesc, prometheus.CounterValue, float64(v), name, w.sink.Kind, outcome)
		}
	}
}
