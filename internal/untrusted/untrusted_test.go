package untrusted

import (
	"strings"
	"testing"
)

func TestVisible(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"payments.orders", "payments.orders"},
		{"héllo wörld ✓ 日本", "héllo wörld ✓ 日本"},
		{`regexp ^[a-z]\d+$`, `regexp ^[a-z]\d+$`},
		{"a\nb\r\tc", `a\nb\r\tc`},
		{"clear \x1b[2J title \x1b]0;x\x07", `clear \x1b[2J title \x1b]0;x\x07`},
		{"nul \x00 del \x7f csi \u009b", `nul \x00 del \x7f csi \u009b`},
		{"bidi \u202egnp.exe\u202c \u2066i\u2069 \u200f\u061c", `bidi \u202egnp.exe\u202c \u2066i\u2069 \u200f\u061c`},
		{"line\u2028para\u2029", `line\u2028para\u2029`},
		{"zero\u200bwidth\ufeff tag\U000e0041", `zero\u200bwidth\ufeff tag\U000e0041`},
		{"bad \xff\xc0 utf-8, real \ufffd", `bad \xff\xc0 utf-8, real ` + "\ufffd"},
	} {
		got := Visible(tc.in)
		if got != tc.want {
			t.Errorf("Visible(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if again := Visible(got); again != got {
			t.Errorf("Visible is not idempotent on %q: %q", got, again)
		}
	}
}

func TestCode(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"payments", "`payments`"},
		{"a`b", "``a`b``"},
		{"```", "```` ``` ````"},
		{"`start", "`` `start ``"},
		{" both ", "`  both  `"},
		{"   ", "`   `"},
		{"", "` `"},
		{"x\n```\n<!--", "````x\\n```\\n<!--````"},
	} {
		if got := Code(tc.in); got != tc.want {
			t.Errorf("Code(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestCodeBlock(t *testing.T) {
	got := CodeBlock("diff", []string{"+ create route x\n```", "    note: ````` five"})
	want := "``````diff\n+ create route x\\n```\n    note: ````` five\n``````\n"
	if got != want {
		t.Errorf("CodeBlock = %q, want %q", got, want)
	}
	if got := CodeBlock("", []string{"plain"}); got != "```\nplain\n```\n" {
		t.Errorf("CodeBlock = %q", got)
	}
}

func TestLinkDestination(t *testing.T) {
	in := "https://git.example/o/r/blob/abc/tenants/a%20b/x.cue#L3) [y](javascript:z) <b>\"'\\`é"
	got := LinkDestination(in)
	if strings.ContainsAny(got, " ()<>\"'\\`") || !strings.HasPrefix(got, "https://git.example/o/r/blob/abc/tenants/a%20b/x.cue#L3") {
		t.Errorf("LinkDestination = %q", got)
	}
	if got := LinkDestination("https://k3sync.example/tenants/payments"); got != "https://k3sync.example/tenants/payments" {
		t.Errorf("a plain URL changed: %q", got)
	}
}
