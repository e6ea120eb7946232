package config

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Notification sink kinds.
const (
	SinkWebhook = "webhook"
	SinkSlack   = "slack"
	SinkTeams   = "teams"
)

// NotifyEvents are the event types a route may name ("*" names them all);
// internal/notify's Type constants are these.
var NotifyEvents = []string{"sync.failed", "sync.blocked", "drift.detected", "revision.invalid", "tenant.removed"}

// Notification defaults, used where a field is zero.
const (
	DefaultNotifyDedupeWindow  = 10 * time.Minute
	DefaultNotifyQueueSize     = 256
	DefaultNotifyRatePerMinute = 20
	DefaultNotifyTimeout       = 10 * time.Second
	DefaultNotifyMaxAttempts   = 4
	maxNotifyAttempts          = 10
)

// Notifications sends events (failed and blocked syncs, drift first
// seen, invalid revisions, removed tenants) to webhooks, Slack and
// Microsoft Teams. Every URL and key that grants access is a secret
// reference: the Slack and Teams webhook URLs carry their token in the
// path, so they are read from a file or the environment like a password.
//
//	notifications:
//	  instance: prod-eu
//	  sinks:
//	    - {name: audit, kind: webhook, url: https://hooks.example/k3sync, hmac: {secretFile: /etc/k3sync/hmac}}
//	    - {name: platform, kind: slack, urlSecret: {secretEnv: SLACK_WEBHOOK_URL}, ratePerMinute: 10}
//	  routes:
//	    - {events: ["*"], sinks: [audit]}
//	    - {events: [sync.failed, drift.detected], sinks: [platform], owners: [team-payments]}
type Notifications struct {
	// Instance names this k3sync in events: the CloudEvents source is
	// "k3sync/<instance>" (default "default").
	Instance string        `json:"instance,omitempty"`
	Sinks    []NotifySink  `json:"sinks,omitempty"`
	Routes   []NotifyRoute `json:"routes,omitempty"`
	// DedupeWindow drops an event identical to one sent within it (same
	// type, tenant, revision and message; default 10m).
	DedupeWindow Duration `json:"dedupeWindow,omitempty"`
	// QueueSize bounds each sink's queue (default 256); when it is full,
	// events are dropped and counted.
	QueueSize int `json:"queueSize,omitempty"`
}

// NotifySink is one receiver.
type NotifySink struct {
	Name string `json:"name"`
	// Kind is webhook (CloudEvents 1.0, signed), slack or teams.
	Kind string `json:"kind"`
	// URL of a webhook sink; a webhook URL that carries a token goes in
	// urlSecret instead.
	URL string `json:"url,omitempty"`
	// URLSecret is the URL read from secretFile or secretEnv: required
	// for slack and teams, whose URL is the credential.
	URLSecret Secret `json:"urlSecret"`
	// HMAC is the key that signs a webhook sink's bodies
	// (X-K3sync-Signature: sha256=<hex>); required for webhook.
	HMAC Secret `json:"hmac"`
	// RatePerMinute bounds the events sent per minute (default 20); the
	// excess is summed up in one "N more events suppressed" message at the
	// end of the minute.
	RatePerMinute int `json:"ratePerMinute,omitempty"`
	// Timeout of one request (default 10s).
	Timeout Duration `json:"timeout,omitempty"`
	// MaxAttempts per event, the first included (default 4, at most 10).
	MaxAttempts int `json:"maxAttempts,omitempty"`
}

// NotifyRoute sends events to sinks. A route with tenants or owners
// matches only events of a tenant it names or that one of its owners
// owns; events that concern no tenant (revision.invalid) match only
// routes without either.
type NotifyRoute struct {
	Events  []string `json:"events"`
	Sinks   []string `json:"sinks"`
	Tenants []string `json:"tenants,omitempty"`
	Owners  []string `json:"owners,omitempty"`
}

var sinkName = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// Validate checks the notifications section; errors name the field.
func (n Notifications) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	names := map[string]bool{}
	for i, s := range n.Sinks {
		f := fmt.Sprintf("notifications.sinks[%d]", i)
		if !sinkName.MatchString(s.Name) {
			bad("%s.name: %q is not a lowercase name (a-z, 0-9, -)", f, s.Name)
		} else if names[s.Name] {
			bad("%s.name: %q is defined twice", f, s.Name)
		}
		names[s.Name] = true
		switch s.Kind {
		case SinkWebhook:
			switch {
			case s.URL != "" && s.URLSecret.IsSet():
				bad("%s (%s): url and urlSecret are exclusive", f, s.Name)
			case s.URL == "" && !s.URLSecret.IsSet():
				bad("%s.url: required (or urlSecret)", f)
			case s.URL != "":
				if err := httpURL(s.URL); err != nil {
					bad("%s.url: %w", f, err)
				}
			}
			if !s.HMAC.IsSet() {
				bad("%s.hmac: secretFile or secretEnv is required: receivers verify X-K3sync-Signature", f)
			}
		case SinkSlack, SinkTeams:
			if s.URL != "" {
				bad("%s.url: a %s webhook URL is a credential: use urlSecret: {secretFile|secretEnv}", f, s.Kind)
			}
			if !s.URLSecret.IsSet() {
				bad("%s.urlSecret: secretFile or secretEnv is required", f)
			}
			if s.HMAC.IsSet() {
				bad("%s.hmac: only webhook sinks sign their bodies", f)
			}
		default:
			bad("%s.kind: %q is not webhook, slack or teams", f, s.Kind)
		}
		if s.RatePerMinute < 0 {
			bad("%s.ratePerMinute: %d is negative", f, s.RatePerMinute)
		}
		if s.Timeout.Duration < 0 {
			bad("%s.timeout: %s is negative", f, s.Timeout.Duration)
		}
		if s.MaxAttempts < 0 || s.MaxAttempts > maxNotifyAttempts {
			bad("%s.maxAttempts: %d is not between 1 and %d", f, s.MaxAttempts, maxNotifyAttempts)
		}
	}
	for i, r := range n.Routes {
		f := fmt.Sprintf("notifications.routes[%d]", i)
		if len(r.Events) == 0 {
			bad(`%s.events: at least one event type (or "*") is required`, f)
		}
		for _, e := range r.Events {
			if e != "*" && !slices.Contains(NotifyEvents, e) {
				bad("%s.events: %q is not one of %s or *", f, e, strings.Join(NotifyEvents, ", "))
			}
		}
		if len(r.Sinks) == 0 {
			bad("%s.sinks: at least one sink is required", f)
		}
		for _, s := range r.Sinks {
			if !names[s] {
				bad("%s.sinks: %q is not a sink in notifications.sinks", f, s)
			}
		}
		for _, t := range r.Tenants {
			if t == "" {
				bad("%s.tenants: an empty name", f)
			}
		}
		for _, o := range r.Owners {
			if o == "" {
				bad("%s.owners: an empty owner", f)
			}
		}
	}
	if len(n.Routes) > 0 && len(n.Sinks) == 0 {
		errs = append(errs, errors.New("notifications.sinks: routes need at least one sink"))
	}
	if n.DedupeWindow.Duration < 0 {
		bad("notifications.dedupeWindow: %s is negative", n.DedupeWindow.Duration)
	}
	if n.QueueSize < 0 {
		bad("notifications.queueSize: %d is negative", n.QueueSize)
	}
	return errors.Join(errs...)
}

// Enabled reports whether any event is routed anywhere.
func (n Notifications) Enabled() bool { return len(n.Sinks) > 0 && len(n.Routes) > 0 }
