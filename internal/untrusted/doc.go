// Package untrusted prints strings that come from tenant folders — tenant,
// namespace, topic, user, route, service and plugin names, CUE map keys,
// label values, owners, notes, and the validation and target errors that
// quote them — as data, wherever k3sync writes them.
//
// # Threat
//
// A tenant folder is written by a product team and arrives through a pull
// request that k3sync itself plans, so any of its strings may be
// hostile: a route name with a newline and a code fence closes the plan's
// code block in the pull request comment, a name ending in "<!--" hides
// the rest of the comment (the deletes included), "@org/security"
// notifies a team, and "\x1b[2J" or a bidi override rewrites a terminal.
//
// # Terminals, logs and status descriptions
//
// [Visible] writes every character that moves the cursor or changes how
// the text around it reads (C0 and C1 controls, DEL, line and paragraph
// separators, bidi controls and other invisible format characters,
// invalid UTF-8) as a Go-style escape: "\n", "\x1b", "\u202e". The result
// is one line whatever the input. Backslashes are kept as they are, so
// Visible(Visible(s)) == Visible(s) and ordinary messages with regular
// expressions in them read unchanged.
//
// # Markdown
//
// In Markdown a tenant string is never mixed into k3sync's own prose: it
// is put in a code span ([Code]) or a fenced code block ([CodeBlock])
// that it cannot close, because the fence is one backtick longer than any
// backtick run in the content and the content is made [Visible] (one line
// per line k3sync writes). Inside code, CommonMark and GitHub's Markdown
// render no HTML, no emphasis, no links; GitHub and Gitea also make no
// autolinks, @mentions, #references or :emoji: there. That is why names
// are not backslash-escaped into prose: an escaped "\@team" still
// notifies the team on GitHub, whose mention filter runs on the rendered
// text, and "http\://" may still be autolinked; in a code span neither
// happens. [LinkDestination] percent-encodes what would end a link's
// destination, for the links k3sync makes itself (files in the forge,
// tenant pages of the dashboard).
//
// Markdown tables are not used: "|" would split a GFM table cell even
// inside a code span.
package untrusted
