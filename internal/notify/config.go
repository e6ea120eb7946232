package notify

import (
	"fmt"
	"log/slog"

	"github.com/k3sync/k3sync/internal/config"
)

// FromConfig starts a Notifier for the configuration's notifications
// section, reading its secrets now; nil (which notifies no one) when no
// route is configured. Errors name the sink, never a secret.
func FromConfig(c config.Notifications, logger *slog.Logger) (*Notifier, error) {
	if !c.Enabled() {
		return nil, nil //nolint:nilnil // a nil Notifier is a valid one that notifies no one
	}
	var sinks []Sink
	for _, s := range c.Sinks {
		sk := Sink{
			Name: s.Name, Kind: s.Kind, URL: s.URL, RatePerMinute: s.RatePerMinute,
			Timeout: s.Timeout.Duration, MaxAttempts: s.MaxAttempts,
		}
		if s.URLSecret.IsSet() {
			v, err := s.URLSecret.Value()
			if err != nil {
				return nil, fmt.Errorf("notifications: sink %s: urlSecret: %w", s.Name, err)
			}
			if v == "" {
				return nil, fmt.Errorf("notifications: sink %s: urlSecret is empty", s.Name)
			}
			sk.URL = v
		}
		if s.HMAC.IsSet() {
			v, err := s.HMAC.Value()
			if err != nil {
				return nil, fmt.Errorf("notifications: sink %s: hmac: %w", s.Name, err)
			}
			if v == "" {
				return nil, fmt.Errorf("notifications: sink %s: hmac key is empty", s.Name)
			}
			sk.HMACKey = []byte(v)
		}
		sinks = append(sinks, sk)
	}
	var routes []Route
	for _, r := range c.Routes {
		rt := Route{Sinks: r.Sinks, Tenants: r.Tenants, Owners: r.Owners}
		for _, e := range r.Events {
			rt.Events = append(rt.Events, Type(e))
		}
		routes = append(routes, rt)
	}
	window := c.DedupeWindow.Duration
	return New(sinks, routes, Options{Instance: c.Instance, DedupeWindow: window, QueueSize: c.QueueSize, Logger: logger})
}
