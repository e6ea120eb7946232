// Package notify tells people and systems what the reconciler did that
// needs a look: a failed sync, a blocked one, drift first seen, an invalid
// revision, a tenant removed from Git. It sends events to generic
// webhooks (CloudEvents 1.0, structured JSON, signed with HMAC-SHA256),
// Slack incoming webhooks and Microsoft Teams (Adaptive Card) webhooks.
//
// # Delivery
//
// [Notifier.Notify] never blocks the reconciler: it routes the event and
// puts it on each matching sink's bounded queue; a full queue drops the
// event, counts it ([Stats].Dropped) and logs the count (at most every
// 10s per sink). One goroutine per sink sends, so a slow receiver holds
// up only its own sink. A request has a timeout; a 5xx, a 429 or a transport error is retried with exponential
// backoff (honouring Retry-After, capped), up to the sink's attempts,
// then the event is given up, counted and logged. Redirects are not
// followed: a signed body goes only where it was configured to go.
//
// # Dedupe and rate limit
//
// An event identical to one accepted within the dedupe window (same
// type, tenant, revision and message) is dropped and counted. Each sink
// sends at most its rate per minute; the excess is not sent but counted,
// and summed up in one "N more events suppressed" message when the minute
// ends. So a flapping target makes at most rate+1 messages a minute.
//
// # Untrusted strings
//
// Tenant names, messages (which quote tenant strings) and revisions are
// data. Every one is made [untrusted.Visible] (one line, no control or
// bidi characters). In Slack, k3sync's own words are mrkdwn and every
// such string is an inline code span whose backticks are replaced and
// whose &, < and > are entities, so no <!channel>, <@U…>, link, @here or
// *emphasis* is interpreted. In Teams, they are Adaptive Card TextRuns,
// which render no Markdown, with "{{" broken so no DATE()/TIME() function
// runs. Webhook bodies are JSON, with <, > and & escaped.
//
// # Secrets
//
// The HMAC key and the Slack and Teams URLs (whose path is their token)
// are never logged nor put in a payload: logs name the sink, and
// transport errors are logged without the URL.
package notify
