package untrusted

import (
	"strings"
)

// Code is s as a Markdown code span, made [Visible]: its delimiters are
// one backtick longer than the longest backtick run in s, so nothing in s
// closes it, and it is padded with a space where CommonMark would
// otherwise eat a backtick or a space of s. An empty s is a code span of
// one space.
func Code(s string) string {
	s = Visible(s)
	if s == "" {
		return "` `"
	}
	tick := strings.Repeat("`", longestRun(s, '`')+1)
	// CommonMark strips one space from each end when both ends are spaces
	// (and s is not all spaces), and a backtick at either end would join
	// the delimiter: pad both ends so that what is stripped is the padding.
	if s[0] == '`' || s[len(s)-1] == '`' || (s[0] == ' ' && s[len(s)-1] == ' ' && strings.Trim(s, " ") != "") {
		s = " " + s + " "
	}
	return tick + s + tick
}

// CodeBlock is a fenced Markdown code block of lines, each made [Visible]
// (so each stays one line), with the info string info (k3sync's own, such
// as "diff"). The fence is one backtick longer than the longest backtick
// run in the lines, and at least three.
func CodeBlock(info string, lines []string) string {
	vis := make([]string, len(lines))
	n := 2
	for i, l := range lines {
		vis[i] = Visible(l)
		n = max(n, longestRun(vis[i], '`'))
	}
	fence := strings.Repeat("`", n+1)
	var b strings.Builder
	b.WriteString(fence + info + "\n")
	for _, l := range vis {
		b.WriteString(l + "\n")
	}
	b.WriteString(fence + "\n")
	return b.String()
}

// LinkDestination makes u, a URL k3sync built (with its tenant-controlled
// parts path-escaped already), safe as the destination of an inline
// Markdown link "[text](u)": every byte that could end the destination
// or start a title (spaces, controls, parentheses, angle brackets,
// quotes, backslashes, backticks) and every non-ASCII byte is
// percent-encoded.
func LinkDestination(u string) string {
	var b strings.Builder
	for i := 0; i < len(u); i++ {
		c := u[i]
		switch {
		case c <= ' ' || c >= 0x7f, strings.IndexByte("()<>\"'\\`", c) >= 0:
			b.WriteByte('%')
			b.WriteByte("0123456789ABCDEF"[c>>4])
			b.WriteByte("0123456789ABCDEF"[c&0xf])
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// longestRun is the length of the longest run of c in s.
func longestRun(s string, c byte) int {
	longest, run := 0, 0
	for i := 0; i < len(s); i++ {
		if s[i] != c {
			run = 0
			continue
		}
		run++
		longest = max(longest, run)
	}
	return longest
}
