package untrusted

import (
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// Visible returns s on one line with every control, separator and
// invisible format character written as a Go-style escape: "\n", "\r",
// "\t", "\x1b", "\u202e", "\U000e0041"; invalid UTF-8 bytes as "\xff".
// Everything else, backslashes included, is kept.
func Visible(s string) string {
	i := strings.IndexFunc(s, hidden)
	if i < 0 && utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for len(s) > 0 {
		r, size := utf8.DecodeRuneInString(s)
		switch {
		case r == utf8.RuneError && size == 1:
			b.WriteString(`\x`)
			b.WriteString(hex2(s[0]))
		case hidden(r):
			writeEscape(&b, r)
		default:
			b.WriteString(s[:size])
		}
		s = s[size:]
	}
	return b.String()
}

// hidden reports whether r must not reach a terminal or a Markdown line
// as itself: controls (C0, DEL, C1), line and paragraph separators, and
// format characters (bidi controls, zero-width characters, the BOM, tag
// characters).
func hidden(r rune) bool {
	return unicode.IsControl(r) || unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp)
}

func writeEscape(b *strings.Builder, r rune) {
	switch r {
	case '\n':
		b.WriteString(`\n`)
	case '\r':
		b.WriteString(`\r`)
	case '\t':
		b.WriteString(`\t`)
	default:
		switch {
		case r < 0x80:
			b.WriteString(`\x`)
			b.WriteString(hex2(byte(r)))
		case r <= 0xffff:
			b.WriteString(`\u`)
			b.WriteString(hex2(byte(r >> 8)))
			b.WriteString(hex2(byte(r)))
		default:
			b.WriteString(`\U`)
			b.WriteString(hex2(byte(r >> 24)))
			b.WriteString(hex2(byte(r >> 16)))
			b.WriteString(hex2(byte(r >> 8)))
			b.WriteString(hex2(byte(r)))
		}
	}
}

const hexDigits = "0123456789abcdef"

func hex2(c byte) string { return string([]byte{hexDigits[c>>4], hexDigits[c&0xf]}) }

// QuotedEscapes writes the non-ASCII characters [Visible] would escape
// (C1 controls, separators, bidi and other format characters) as \u
// escapes, for a JSON or YAML document whose every such character is inside
// a double-quoted string (encoding/json and yaml.v3 escape the ASCII ones
// themselves, but not these). Above U+FFFF, JSON gets a surrogate pair
// and YAML a \U escape.
func QuotedEscapes(doc string, yaml bool) string {
	if !strings.ContainsFunc(doc, func(r rune) bool { return r >= 0x80 && hidden(r) }) {
		return doc
	}
	var b strings.Builder
	b.Grow(len(doc) + 16)
	u4 := func(r rune) {
		b.WriteString(`\u`)
		b.WriteString(hex2(byte(r >> 8)))
		b.WriteString(hex2(byte(r)))
	}
	for _, r := range doc {
		switch {
		case r < 0x80 || !hidden(r):
			b.WriteRune(r)
		case r <= 0xffff:
			u4(r)
		case yaml:
			writeEscape(&b, r)
		default:
			r1, r2 := utf16.EncodeRune(r)
			u4(r1)
			u4(r2)
		}
	}
	return b.String()
}
