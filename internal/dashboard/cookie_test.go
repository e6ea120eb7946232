package dashboard

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"
)

var (
	keyA = []byte("key-a-0123456789abcdef0123456789abcdef")
	keyB = []byte("key-b-0123456789abcdef0123456789abcdef")
	keyC = []byte("key-c-0123456789abcdef0123456789abcdef")
	now  = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
)

func codec(t *testing.T, keys ...[]byte) *cookieCodec {
	t.Helper()
	c, err := newCookieCodec(keys)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func sealSession(t *testing.T, c *cookieCodec, s *session, exp time.Time) string {
	t.Helper()
	v, err := c.seal(cookieName, s, exp)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestCookieRoundTrip(t *testing.T) {
	c := codec(t, keyA)
	in := &session{Name: "alice", Role: "operator", CSRF: "csrf-1", Subject: "42", ID: "id-1"}
	v := sealSession(t, c, in, now.Add(time.Hour))
	for _, leak := range []string{"alice", "operator", "csrf-1", "id-1"} {
		if strings.Contains(v, leak) || strings.Contains(v, base64.RawURLEncoding.EncodeToString([]byte(leak))) {
			t.Errorf("cookie value shows %q in clear: %s", leak, v)
		}
	}
	var out session
	exp, err := c.open(cookieName, v, now, &out)
	if err != nil {
		t.Fatal(err)
	}
	if out.Name != "alice" || out.Role != "operator" || out.CSRF != "csrf-1" || out.Subject != "42" || out.ID != "id-1" {
		t.Errorf("opened %+v", out)
	}
	if !exp.Equal(now.Add(time.Hour)) {
		t.Errorf("expiry %s", exp)
	}
	// Two seals of the same value differ (a fresh nonce each).
	if v2 := sealSession(t, c, in, now.Add(time.Hour)); v2 == v {
		t.Error("same ciphertext twice")
	}
}

func TestCookieRefused(t *testing.T) {
	c := codec(t, keyA)
	v := sealSession(t, c, &session{Name: "alice", Role: "viewer", CSRF: "x", ID: "y"}, now.Add(time.Hour))
	raw, _ := base64.RawURLEncoding.DecodeString(v)
	flip := func(i int) string {
		b := append([]byte(nil), raw...)
		b[i] ^= 1
		return base64.RawURLEncoding.EncodeToString(b)
	}
	tests := []struct {
		name  string
		codec *cookieCodec
		value string
		at    time.Time
		for_  string
	}{
		{"tampered version", c, flip(0), now, cookieName},
		{"tampered nonce", c, flip(3), now, cookieName},
		{"tampered ciphertext", c, flip(len(raw) / 2), now, cookieName},
		{"tampered tag", c, flip(len(raw) - 1), now, cookieName},
		{"truncated", c, base64.RawURLEncoding.EncodeToString(raw[:len(raw)-1]), now, cookieName},
		{"too short", c, base64.RawURLEncoding.EncodeToString(raw[:10]), now, cookieName},
		{"not base64", c, v + "!", now, cookieName},
		{"empty", c, "", now, cookieName},
		{"huge", c, strings.Repeat("A", maxCookieValue+1), now, cookieName},
		{"expired", c, v, now.Add(time.Hour), cookieName},
		{"long expired", c, v, now.Add(100 * time.Hour), cookieName},
		{"wrong key", codec(t, keyB), v, now, cookieName},
		{"another cookie's", c, v, now, flowCookie},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out session
			if _, err := tt.codec.open(tt.for_, tt.value, tt.at, &out); !errors.Is(err, errCookie) {
				t.Errorf("opened: %v %+v", err, out)
			}
		})
	}
}

func TestCookieKeyRotation(t *testing.T) {
	old := codec(t, keyA)
	v := sealSession(t, old, &session{Name: "alice", Role: "viewer", CSRF: "x", ID: "y"}, now.Add(time.Hour))

	// keyB is new and seals; keyA still opens what it sealed.
	rotated := codec(t, keyB, keyA)
	var out session
	if _, err := rotated.open(cookieName, v, now, &out); err != nil || out.Name != "alice" {
		t.Fatalf("old key's cookie after rotation: %v %+v", err, out)
	}
	nv := sealSession(t, rotated, &session{Name: "bob", Role: "viewer", CSRF: "x", ID: "z"}, now.Add(time.Hour))
	if _, err := old.open(cookieName, nv, now, &out); err == nil {
		t.Error("the new key's cookie opened with the old key alone: the first key does not seal")
	}
	// keyA retired: its cookies are refused.
	if _, err := codec(t, keyB, keyC).open(cookieName, v, now, &out); !errors.Is(err, errCookie) {
		t.Errorf("retired key's cookie: %v", err)
	}
}

func TestCookieCodecNeedsKeys(t *testing.T) {
	if _, err := newCookieCodec(nil); err == nil {
		t.Error("no key accepted")
	}
	if _, err := newCookieCodec([][]byte{keyA, {}}); err == nil {
		t.Error("empty key accepted")
	}
}

// A session of a role the dashboard does not know is refused even when
// sealed with the right key.
func TestSessionRoleChecked(t *testing.T) {
	c := codec(t, keyA)
	ss := newSessions(c)
	v := sealSession(t, c, &session{Name: "alice", Role: "admin", CSRF: "x", ID: "y"}, now.Add(time.Hour))
	if _, ok := ss.get(v, now); ok {
		t.Error("role admin accepted")
	}
	v = sealSession(t, c, &session{Name: "alice", Role: "viewer", ID: "y"}, now.Add(time.Hour))
	if _, ok := ss.get(v, now); ok {
		t.Error("session without a CSRF token accepted")
	}
}

func TestClaimsToRole(t *testing.T) {
	sc := &ssoClient{cfg: SSO{OperatorGroups: []string{"platform:ops"}, ViewerGroups: []string{"platform", "auditors"}}}
	for _, tt := range []struct {
		claim any
		want  string
	}{
		{[]any{"platform", "platform:ops"}, "operator"},
		{[]any{"platform"}, "viewer"},
		{"auditors", "viewer"},
		{[]any{"other", 3, nil}, ""},
		{[]any{"PLATFORM:OPS"}, ""}, // exact match
		{nil, ""},
	} {
		groups, _ := claimStrings(tt.claim)
		if got := sc.role(groups); got != tt.want {
			t.Errorf("%v: role %q, want %q", tt.claim, got, tt.want)
		}
	}
	if _, ok := claimStrings(nil); ok {
		t.Error("an absent claim reads as present")
	}
	if got := userName(map[string]any{"preferred_username": " \u202eal\x1bice\n", "email": "a@example.com"}, "sub"); got != "alice" {
		t.Errorf("user name %q", got)
	}
	if got := userName(map[string]any{"name": strings.Repeat("é", 100)}, "sub"); len([]rune(got)) != maxNameLen {
		t.Errorf("long name kept %d runes", len([]rune(got)))
	}
	if got := userName(map[string]any{}, "sub-1"); got != "sub-1" {
		t.Errorf("no name claims: %q", got)
	}
}
