package config

import (
	"strings"
	"testing"
	"time"
)

func TestParseNotifications(t *testing.T) {
	c, err := Parse([]byte(`
notifications:
  instance: prod-eu
  dedupeWindow: 5m
  sinks:
    - {name: audit, kind: webhook, url: "https://hooks.example/k3sync", hmac: {secretFile: /etc/k3sync/hmac}, ratePerMinute: 60}
    - {name: audit-private, kind: webhook, urlSecret: {secretEnv: AUDIT_URL}, hmac: {secretEnv: AUDIT_HMAC}}
    - {name: platform, kind: slack, urlSecret: {secretEnv: SLACK_WEBHOOK_URL}, timeout: 5s, maxAttempts: 3}
    - {name: payments-teams, kind: teams, urlSecret: {secretFile: /etc/k3sync/teams-url}}
  routes:
    - {events: ["*"], sinks: [audit, audit-private]}
    - {events: [sync.failed, drift.detected], sinks: [platform]}
    - {events: [sync.failed, sync.blocked], sinks: [payments-teams], owners: [team-payments], tenants: [payments]}
`))
	if err != nil {
		t.Fatal(err)
	}
	n := c.Notifications
	if !n.Enabled() || len(n.Sinks) != 4 || len(n.Routes) != 3 || n.DedupeWindow.Duration != 5*time.Minute {
		t.Fatalf("notifications: %+v", n)
	}
	if s := n.Sinks[2]; s.Timeout.Duration != 5*time.Second || s.MaxAttempts != 3 || s.URLSecret.SecretEnv != "SLACK_WEBHOOK_URL" {
		t.Errorf("slack sink: %+v", s)
	}
	if (Notifications{}).Enabled() {
		t.Error("an empty section is enabled")
	}
}

func TestNotificationsRejects(t *testing.T) {
	const hook = "{name: a, kind: webhook, url: 'https://h.example', hmac: {secretEnv: K}}"
	for name, tc := range map[string]struct{ yaml, want string }{
		"unknown kind":       {"notifications: {sinks: [{name: a, kind: discord, urlSecret: {secretEnv: U}}]}", `notifications.sinks[0].kind: "discord" is not webhook, slack or teams`},
		"bad name":           {"notifications: {sinks: [{name: 'A B', kind: slack, urlSecret: {secretEnv: U}}]}", `notifications.sinks[0].name: "A B"`},
		"duplicate name":     {"notifications: {sinks: [" + hook + ", " + hook + "]}", `notifications.sinks[1].name: "a" is defined twice`},
		"inline slack url":   {"notifications: {sinks: [{name: a, kind: slack, url: 'https://hooks.slack.com/services/T/B/X'}]}", "notifications.sinks[0].url: a slack webhook URL is a credential"},
		"teams no url":       {"notifications: {sinks: [{name: a, kind: teams}]}", "notifications.sinks[0].urlSecret: secretFile or secretEnv is required"},
		"webhook no hmac":    {"notifications: {sinks: [{name: a, kind: webhook, url: 'https://h.example'}]}", "notifications.sinks[0].hmac: secretFile or secretEnv is required"},
		"webhook no url":     {"notifications: {sinks: [{name: a, kind: webhook, hmac: {secretEnv: K}}]}", "notifications.sinks[0].url: required"},
		"webhook both urls":  {"notifications: {sinks: [{name: a, kind: webhook, url: 'https://h.example', urlSecret: {secretEnv: U}, hmac: {secretEnv: K}}]}", "url and urlSecret are exclusive"},
		"webhook not http":   {"notifications: {sinks: [{name: a, kind: webhook, url: 'ftp://h.example', hmac: {secretEnv: K}}]}", "notifications.sinks[0].url:"},
		"url credentials":    {"notifications: {sinks: [{name: a, kind: webhook, url: 'https://u:p@h.example', hmac: {secretEnv: K}}]}", "carries credentials"},
		"slack hmac":         {"notifications: {sinks: [{name: a, kind: slack, urlSecret: {secretEnv: U}, hmac: {secretEnv: K}}]}", "notifications.sinks[0].hmac: only webhook sinks sign"},
		"negative rate":      {"notifications: {sinks: [{name: a, kind: slack, urlSecret: {secretEnv: U}, ratePerMinute: -1}]}", "notifications.sinks[0].ratePerMinute: -1 is negative"},
		"attempts":           {"notifications: {sinks: [{name: a, kind: slack, urlSecret: {secretEnv: U}, maxAttempts: 50}]}", "notifications.sinks[0].maxAttempts: 50"},
		"negative timeout":   {"notifications: {sinks: [{name: a, kind: slack, urlSecret: {secretEnv: U}, timeout: -1s}]}", "notifications.sinks[0].timeout"},
		"unknown event":      {"notifications: {sinks: [" + hook + "], routes: [{events: [sync.exploded], sinks: [a]}]}", `notifications.routes[0].events: "sync.exploded" is not one of`},
		"no events":          {"notifications: {sinks: [" + hook + "], routes: [{sinks: [a]}]}", "notifications.routes[0].events: at least one"},
		"unknown sink":       {"notifications: {sinks: [" + hook + "], routes: [{events: ['*'], sinks: [b]}]}", `notifications.routes[0].sinks: "b" is not a sink`},
		"no sinks":           {"notifications: {sinks: [" + hook + "], routes: [{events: ['*']}]}", "notifications.routes[0].sinks: at least one sink"},
		"empty owner":        {"notifications: {sinks: [" + hook + "], routes: [{events: ['*'], sinks: [a], owners: ['']}]}", "notifications.routes[0].owners: an empty owner"},
		"labels unsupported": {"notifications: {sinks: [" + hook + "], routes: [{events: ['*'], sinks: [a], labels: {team: x}}]}", `unknown field "labels"`},
		"inline hmac":        {"notifications: {sinks: [{name: a, kind: webhook, url: 'https://h.example', hmac: {secret: x}}]}", `unknown field "secret"`},
		"negative dedupe":    {"notifications: {dedupeWindow: -1m}", "notifications.dedupeWindow"},
		"negative queue":     {"notifications: {queueSize: -1}", "notifications.queueSize"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want error containing %q", err, tc.want)
			}
		})
	}
}
