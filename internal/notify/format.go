package notify

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/k3sync/k3sync/internal/untrusted"
)

// format renders an event for one kind of sink: the body and its
// Content-Type. id is the event's unique id (CloudEvents).
type format func(ev Event, instance, id string) ([]byte, string, error)

var formats = map[string]format{
	"webhook": cloudEvent,
	"slack":   slackMessage,
	"teams":   teamsCard,
}

// Length caps, in runes, of what a message quotes.
const (
	maxMessage   = 1000
	maxField     = 200
	maxResources = 10
)

// title is k3sync's own words for an event type.
func title(t Type) string {
	switch t {
	case SyncFailed:
		return "Sync failed"
	case SyncBlocked:
		return "Sync blocked"
	case DriftDetected:
		return "Drift detected"
	case RevisionInvalid:
		return "Revision invalid"
	case TenantRemoved:
		return "Tenant removed from Git"
	case Suppressed:
		return "Notifications suppressed"
	}
	return "k3sync event"
}

// countLabel says what an event's Count counts.
func countLabel(t Type) string {
	switch t {
	case SyncFailed:
		return "Failed changes"
	case SyncBlocked:
		return "Changes held back"
	case DriftDetected:
		return "Resources drifted (first seen)"
	case RevisionInvalid:
		return "Validation errors"
	case TenantRemoved:
		return "Changes planned"
	case Suppressed:
		return "Events suppressed"
	}
	return "Count"
}

// field is a label (k3sync's) and a value (data).
type field struct{ label, value string }

// fields are the event's data, each made Visible and capped; the message
// is apart.
func fields(ev Event) []field {
	var out []field
	add := func(label, v string) {
		if v != "" {
			out = append(out, field{label, clip(v, maxField)})
		}
	}
	add("Tenant", ev.Tenant)
	add("Owners", strings.Join(ev.Owners, ", "))
	add("Revision", shortRev(ev.Revision))
	add("Trigger", ev.Trigger)
	if ev.Count > 0 || ev.Type == SyncFailed {
		add(countLabel(ev.Type), strconv.Itoa(ev.Count))
	}
	if len(ev.Resources) > 0 {
		rs := ev.Resources[:min(len(ev.Resources), maxResources)]
		v := strings.Join(rs, ", ")
		if len(ev.Resources) > maxResources {
			v += fmt.Sprintf(" and %d more", len(ev.Resources)-maxResources)
		}
		out = append(out, field{"Resources", clip(v, maxMessage)})
	}
	return out
}

// clip is s made Visible, at most n runes.
func clip(s string, n int) string {
	s = untrusted.Visible(s)
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

func shortRev(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// marshal is JSON with <, > and & escaped (json.Marshal's HTML escaping).
func marshal(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("notification: %w", err)
	}
	return b, nil
}

// CloudEvent is the structured-mode CloudEvents 1.0 body of a webhook
// sink.
type CloudEvent struct {
	SpecVersion     string    `json:"specversion"`
	ID              string    `json:"id"`
	Source          string    `json:"source"`
	Type            string    `json:"type"`
	Subject         string    `json:"subject,omitempty"`
	Time            string    `json:"time"`
	DataContentType string    `json:"datacontenttype"`
	Data            EventData `json:"data"`
}

// EventData is a CloudEvent's data.
type EventData struct {
	Tenant    string   `json:"tenant,omitempty"`
	Owners    []string `json:"owners,omitempty"`
	Revision  string   `json:"revision,omitempty"`
	Trigger   string   `json:"trigger,omitempty"`
	Message   string   `json:"message,omitempty"`
	Count     int      `json:"count"`
	Resources []string `json:"resources,omitempty"`
}

func cloudEvent(ev Event, instance, id string) ([]byte, string, error) {
	d := EventData{
		Tenant: clip(ev.Tenant, maxField), Revision: clip(ev.Revision, maxField), Trigger: clip(ev.Trigger, maxField),
		Message: clip(ev.Message, maxMessage), Count: ev.Count,
	}
	for _, o := range ev.Owners {
		d.Owners = append(d.Owners, clip(o, maxField))
	}
	for _, r := range ev.Resources[:min(len(ev.Resources), maxResources)] {
		d.Resources = append(d.Resources, clip(r, maxField))
	}
	b, err := marshal(CloudEvent{
		SpecVersion: "1.0", ID: id, Source: "k3sync/" + instance, Type: "io.k3sync." + string(ev.Type),
		Subject: d.Tenant, Time: stamp(ev.Time), DataContentType: "application/json", Data: d,
	})
	return b, "application/cloudevents+json; charset=utf-8", err
}

// slackText is s as inert mrkdwn: Visible, capped, its backticks
// replaced (so that it cannot leave the code span it is put in) and
// Slack's three control characters written as entities, so that no
// <!channel>, <!here>, <@U…> or <url|text> is parsed.
func slackText(s string, n int) string {
	s = strings.ReplaceAll(clip(s, n), "`", "ˋ")
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// slackCode is s as an inline code span: no emphasis, link or mention in
// it is rendered.
func slackCode(s string, n int) string {
	s = slackText(s, n)
	if strings.TrimSpace(s) == "" {
		s = "-"
	}
	return "`" + s + "`"
}

type slackObj = map[string]any

func slackMessage(ev Event, instance, _ string) ([]byte, string, error) {
	head := "k3sync: " + title(ev.Type)
	if ev.Tenant != "" {
		head += " for tenant " + slackCode(ev.Tenant, maxField)
	}
	var lines []string
	for _, f := range fields(ev) {
		lines = append(lines, "*"+f.label+":* "+slackCode(f.value, maxMessage))
	}
	blocks := []slackObj{
		{"type": "header", "text": slackObj{"type": "plain_text", "text": title(ev.Type)}},
	}
	if len(lines) > 0 {
		blocks = append(blocks, slackObj{"type": "section", "text": slackObj{"type": "mrkdwn", "text": strings.Join(lines, "\n")}})
	}
	if ev.Message != "" {
		blocks = append(blocks, slackObj{"type": "section", "text": slackObj{"type": "mrkdwn",
			"text": "*Message:*\n```" + slackText(ev.Message, maxMessage) + "```"}})
	}
	blocks = append(blocks, slackObj{"type": "context", "elements": []slackObj{
		{"type": "mrkdwn", "text": slackCode("k3sync/"+instance, maxField) + " · " + stamp(ev.Time)},
	}})
	b, err := marshal(slackObj{"text": head, "blocks": blocks})
	return b, "application/json; charset=utf-8", err
}

// teamsRun is s as an Adaptive Card TextRun, which renders no Markdown;
// "{{" is broken so that no DATE()/TIME() function is evaluated.
func teamsRun(s string, n int, mono bool) slackObj {
	s = strings.ReplaceAll(clip(s, n), "{{", "{\u200b{")
	r := slackObj{"type": "TextRun", "text": s}
	if mono {
		r["fontType"] = "Monospace"
	}
	return r
}

func teamsCard(ev Event, instance, _ string) ([]byte, string, error) {
	body := []slackObj{
		{"type": "TextBlock", "text": "k3sync: " + title(ev.Type), "weight": "Bolder", "size": "Medium", "wrap": true},
	}
	for _, f := range fields(ev) {
		body = append(body, slackObj{"type": "RichTextBlock", "inlines": []slackObj{
			{"type": "TextRun", "text": f.label + ": ", "weight": "Bolder"},
			teamsRun(f.value, maxMessage, true),
		}})
	}
	if ev.Message != "" {
		body = append(body, slackObj{"type": "RichTextBlock", "inlines": []slackObj{
			{"type": "TextRun", "text": "Message: ", "weight": "Bolder"},
			teamsRun(ev.Message, maxMessage, true),
		}})
	}
	body = append(body, slackObj{"type": "RichTextBlock", "inlines": []slackObj{
		teamsRun("k3sync/"+instance+" · "+stamp(ev.Time), maxField, false),
	}})
	card := slackObj{
		"type": "message",
		"attachments": []slackObj{{
			"contentType": "application/vnd.microsoft.card.adaptive",
			"content": slackObj{
				"$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
				"type":    "AdaptiveCard", "version": "1.4", "body": body,
			},
		}},
	}
	b, err := marshal(card)
	return b, "application/json; charset=utf-8", err
}
