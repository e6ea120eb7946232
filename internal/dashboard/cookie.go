package dashboard

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// cookieVersion is the first byte of every sealed cookie value: a change
// of format or algorithm gets a new one.
const cookieVersion = 1

// hkdfInfo binds the derived AES keys to this use of the configured
// secrets.
const hkdfInfo = "k3sync dashboard cookie v1"

// maxCookieValue bounds what open decodes: a browser sends at most ~4 KiB
// per cookie.
const maxCookieValue = 4096

// errCookie is every reason a cookie value is refused: tampered, made
// with an unknown key, for another cookie, malformed or expired. The
// reasons are not told apart to the client.
var errCookie = errors.New("dashboard cookie: not valid")

// cookieCodec seals values into cookies and opens them again:
// AES-256-GCM, authenticated encryption, so a value can be neither read
// nor changed without the key. The cookie's name is the additional data
// (a login's state cookie is no session cookie), and an expiry travels
// inside. The first key seals; every key opens, so keys rotate: add the
// new key first, keep the old one until the sessions it sealed expired.
type cookieCodec struct {
	aeads []cipher.AEAD
}

// newCookieCodec derives an AES-256 key from each secret with HKDF-SHA256.
func newCookieCodec(secrets [][]byte) (*cookieCodec, error) {
	if len(secrets) == 0 {
		return nil, errors.New("dashboard cookie: no key")
	}
	c := &cookieCodec{}
	for i, s := range secrets {
		if len(s) == 0 {
			return nil, fmt.Errorf("dashboard cookie: key %d is empty", i)
		}
		key, err := hkdf.Key(sha256.New, s, nil, hkdfInfo, 32)
		if err != nil {
			return nil, fmt.Errorf("dashboard cookie: derive key %d: %w", i, err)
		}
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil, fmt.Errorf("dashboard cookie: key %d: %w", i, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("dashboard cookie: key %d: %w", i, err)
		}
		c.aeads = append(c.aeads, aead)
	}
	return c, nil
}

// envelope carries the expiry next to the value, both under the seal.
type envelope struct {
	Exp int64           `json:"e"`
	V   json.RawMessage `json:"v"`
}

// seal encrypts v, JSON, for the cookie name, valid until expires.
func (c *cookieCodec) seal(name string, v any, expires time.Time) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("dashboard cookie %s: %w", name, err)
	}
	plain, err := json.Marshal(envelope{Exp: expires.Unix(), V: b})
	if err != nil {
		return "", fmt.Errorf("dashboard cookie %s: %w", name, err)
	}
	aead := c.aeads[0]
	out := make([]byte, 1, 1+aead.NonceSize()+len(plain)+aead.Overhead())
	out[0] = cookieVersion
	nonce := make([]byte, aead.NonceSize())
	_, _ = rand.Read(nonce) // never fails (crashes instead)
	out = append(out, nonce...)
	out = aead.Seal(out, nonce, plain, []byte(name))
	return base64.RawURLEncoding.EncodeToString(out), nil
}

// open decrypts a value sealed for the cookie name into v and returns
// its expiry; it fails with errCookie unless a key opens it and it has
// not expired at now.
func (c *cookieCodec) open(name, value string, now time.Time, v any) (time.Time, error) {
	if value == "" || len(value) > maxCookieValue {
		return time.Time{}, errCookie
	}
	raw, err := base64.RawURLEncoding.DecodeString(value)
	if err != nil || len(raw) < 1 || raw[0] != cookieVersion {
		return time.Time{}, errCookie
	}
	raw = raw[1:]
	for _, aead := range c.aeads {
		if len(raw) < aead.NonceSize()+aead.Overhead() {
			return time.Time{}, errCookie
		}
		plain, err := aead.Open(nil, raw[:aead.NonceSize()], raw[aead.NonceSize():], []byte(name))
		if err != nil {
			continue // another key's
		}
		var env envelope
		if json.Unmarshal(plain, &env) != nil {
			return time.Time{}, errCookie
		}
		exp := time.Unix(env.Exp, 0)
		if !now.Before(exp) || json.Unmarshal(env.V, v) != nil {
			return time.Time{}, errCookie
		}
		return exp, nil
	}
	return time.Time{}, errCookie
}
