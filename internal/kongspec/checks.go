package kongspec

import (
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
)

// Scalar validators, after the custom_validator functions of
// kong/db/schema/typedefs.lua. They return "" when the value is valid.

var (
	headerNameRE = regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)
	hostnameRE   = regexp.MustCompile(`^(\*\.)?[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?(\.[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?)*(\.\*)?\.?$`)
	pathRE       = regexp.MustCompile(`^/[A-Za-z0-9._~/%:@!$&'()*+,;=-]*$`)
)

func CheckName(v any) string {
	s, _ := v.(string)
	for _, r := range s {
		// Kong matches names with PCRE [\p{L}\p{N}.\-_~].
		if nameRune(r) {
			continue
		}
		return fmt.Sprintf("invalid value '%s': the only accepted ascii characters are alphanumerics or ., -, _, and ~", s)
	}
	return ""
}

func CheckHeaderName(v any) string {
	s, _ := v.(string)
	if !headerNameRE.MatchString(s) {
		return fmt.Sprintf("bad header name '%s', allowed characters are A-Z, a-z, 0-9, '_', and '-'", s)
	}
	return ""
}

// SplitHostPort separates an optional port from a host the way Kong's
// utils.normalize_ip does (IPv6 must be bracketed to carry a port).
func SplitHostPort(s string) (host, port string, hasPort bool) {
	if strings.HasPrefix(s, "[") {
		end := strings.Index(s, "]")
		if end < 0 {
			return s, "", false
		}
		host = s[1:end]
		rest := s[end+1:]
		if strings.HasPrefix(rest, ":") {
			return host, rest[1:], true
		}
		return host, "", false
	}
	if strings.Count(s, ":") == 1 {
		i := strings.LastIndex(s, ":")
		return s[:i], s[i+1:], true
	}
	return s, "", false
}

func ValidHostname(h string) bool {
	if h == "" {
		return false
	}
	if _, err := netip.ParseAddr(h); err == nil {
		return true
	}
	return hostnameRE.MatchString(h)
}

func CheckHost(v any) string {
	s, _ := v.(string)
	host, _, hasPort := SplitHostPort(s)
	if !ValidHostname(host) {
		return "invalid value: " + s
	}
	if hasPort {
		return "must not have a port"
	}
	return ""
}

func CheckSNI(v any) string {
	s, _ := v.(string)
	host, _, hasPort := SplitHostPort(s)
	if !ValidHostname(host) {
		return "invalid value: " + s
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return "must not be an IP"
	}
	if hasPort {
		return "must not have a port"
	}
	return ""
}

func CheckPath(v any) string {
	s, _ := v.(string)
	if !strings.HasPrefix(s, "/") {
		return ""
	}
	if !pathRE.MatchString(s) {
		return fmt.Sprintf("invalid path: '%s' (characters outside of the reserved list of RFC 3986 found)", s)
	}
	if strings.Contains(s, "//") {
		return "must not have empty segments"
	}
	raw := regexp.MustCompile(`%[0-9A-Fa-f]{2}`).ReplaceAllString(s, "___")
	if i := strings.Index(raw, "%"); i >= 0 {
		end := min(i+3, len(raw))
		return fmt.Sprintf("invalid url-encoded value: '%s'", raw[i:end])
	}
	return ""
}

func CheckRouterPath(v any) string {
	s, _ := v.(string)
	if strings.HasPrefix(s, "~") {
		if !strings.HasPrefix(s, "~/") {
			return "should start with: / (fixed path) or ~/ (regex path)"
		}
		return ""
	}
	if !strings.HasPrefix(s, "/") {
		return "should start with: / (fixed path) or ~/ (regex path)"
	}
	return CheckPath(s)
}

func CheckCIDR(v any) string {
	s, _ := v.(string)
	if _, _, err := net.ParseCIDR(s); err == nil {
		return ""
	}
	if net.ParseIP(s) != nil {
		return ""
	}
	return "invalid ip or cidr range: '" + s + "'"
}

func CheckHTTPMethod(v any) string {
	s, _ := v.(string)
	if s == "" || strings.ToUpper(s) != s || strings.ContainsFunc(s, func(r rune) bool { return r < 'A' || r > 'Z' }) {
		return "invalid value: " + s
	}
	return ""
}

func CheckColonPair(v any) string {
	s, _ := v.(string)
	if !strings.Contains(s, ":") {
		return "key '" + s + "' has no value"
	}
	return ""
}

// NormalizeTarget renders a target the way Kong stores it: host:port with
// port 8000 when absent, IPv6 addresses expanded and bracketed.
func NormalizeTarget(s string) (string, string) {
	host, port, hasPort := SplitHostPort(s)
	if hasPort {
		p, err := strconv.Atoi(port)
		if err != nil || p < 0 || p > 65535 {
			return "", "Invalid target ('" + s + "'); not a valid hostname or ip address"
		}
	} else {
		port = "8000"
	}
	if addr, err := netip.ParseAddr(host); err == nil {
		if addr.Is6() && !addr.Is4In6() {
			return "[" + addr.StringExpanded() + "]:" + port, ""
		}
		return addr.String() + ":" + port, ""
	}
	if !hostnameRE.MatchString(host) || strings.Contains(host, "*") {
		return "", "Invalid target ('" + s + "'); not a valid hostname or ip address"
	}
	return host + ":" + port, ""
}

func CheckTag(v any) string {
	s, _ := v.(string)
	if strings.ContainsAny(s, ",/") || strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return fmt.Sprintf("invalid tag '%s': expected printable ascii (except `,` and `/`) or valid utf-8 sequences", s)
	}
	return ""
}

// CheckRouteHost validates one element of a route's hosts: a host name or
// IP with an optional port and at most one wildcard, in the first or last
// label.
func CheckRouteHost(v any) string {
	s, _ := v.(string)
	host, port, hasPort := SplitHostPort(s)
	if hasPort {
		if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
			return "invalid port number"
		}
	}
	if strings.Count(host, "*") > 1 {
		return "invalid wildcard: must have at most one wildcard"
	}
	if !ValidHostname(host) {
		return "invalid value: " + s
	}
	return ""
}

// NonEmpty is Kong's notion of a set value in entity checks: not null, not
// an empty array, map or string.
func NonEmpty(v any) bool {
	switch t := v.(type) {
	case nil:
		return false
	case []any:
		return len(t) > 0
	case map[string]any:
		return len(t) > 0
	case string:
		return t != ""
	}
	return true
}
