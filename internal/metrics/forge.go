package metrics

import "github.com/prometheus/client_golang/prometheus"

// Forge counts what the pull request loop could not tell the forge at
// once (review.Metrics). A nil *Forge records nothing. Its methods are
// safe for concurrent use.
type Forge struct {
	rateLimited prometheus.Counter
	dropped     *prometheus.CounterVec
}

// NewForge creates the forge metrics and registers them on reg.
func NewForge(reg prometheus.Registerer) *Forge {
	f := &Forge{
		rateLimited: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "k3sync_forge_rate_limited_total",
			Help: "Rate limit answers of the forge (429, GitHub's 403 with rate limit headers); calls wait them out.",
		}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "k3sync_forge_statuses_dropped_total",
			Help: "Commit statuses never posted: superseded by a newer one of the same commit and context, or overflow of the bounded queue.",
		}, []string{"reason"}),
	}
	reg.MustRegister(f.rateLimited, f.dropped)
	return f
}

// ForgeRateLimited counts a rate limit answer.
func (f *Forge) ForgeRateLimited() {
	if f == nil {
		return
	}
	f.rateLimited.Inc()
}

// ForgeStatusDropped counts a status never posted, by reason
// ("superseded" or "overflow").
func (f *Forge) ForgeStatusDropped(reason string) {
	if f == nil {
		return
	}
	f.dropped.WithLabelValues(reason).Inc()
}
