package kongemu

import (
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"unicode"
)

// Scalar validators, after the custom_validator functions of
// kong/db/schema/typedefs.lua. They return "" when the value is valid.

var (
	headerNameRE = regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)
	hostnameRE   = regexp.MustCompile(`^(\*\.)?[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?(\.[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?)*(\.\*)?\.?$`)
	pathRE       = regexp.MustCompile(`^/[A-Za-z0-9._~/%:@!$&'()*+,;=-]*$`)
)

func checkName(v any) string {
	s, _ := v.(string)
	for _, r := range s {
		if unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune(".-_~", r) {
			continue
		}
		return fmt.Sprintf("invalid value '%s': the only accepted ascii characters are alphanumerics or ., -, _, and ~", s)
	}
	return ""
}

func checkHeaderName(v any) string {
	s, _ := v.(string)
	if !headerNameRE.MatchString(s) {
		return fmt.Sprintf("bad header name '%s', allowed characters are A-Z, a-z, 0-9, '_', and '-'", s)
	}
	return ""
}

// splitHostPort separates an optional port from a host the way Kong's
// utils.normalize_ip does (IPv6 must be bracketed to carry a port).
func splitHostPort(s string) (host, port string, hasPort bool) {
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

func validHostname(h string) bool {
	if h == "" {
		return false
	}
	if _, err := netip.ParseAddr(h); err == nil {
		return true
	}
	return hostnameRE.MatchString(h)
}

func checkHost(v any) string {
	s, _ := v.(string)
	host, _, hasPort := splitHostPort(s)
	if !validHostname(host) {
		return "invalid value: " + s
	}
	if hasPort {
		return "must not have a port"
	}
	return ""
}

func checkSNI(v any) string {
	s, _ := v.(string)
	host, _, hasPort := splitHostPort(s)
	if !validHostname(host) {
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

func checkPath(v any) string {
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

func checkRouterPath(v any) string {
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
	return checkPath(s)
}

func checkCIDR(v any) string {
	s, _ := v.(string)
	if _, _, err := net.ParseCIDR(s); err == nil {
		return ""
	}
	if net.ParseIP(s) != nil {
		return ""
	}
	return "invalid ip or cidr range: '" + s + "'"
}

func checkHTTPMethod(v any) string {
	s, _ := v.(string)
	if s == "" || strings.ToUpper(s) != s || strings.ContainsFunc(s, func(r rune) bool { return r < 'A' || r > 'Z' }) {
		return "invalid value: " + s
	}
	return ""
}

func checkColonPair(v any) string {
	s, _ := v.(string)
	if !strings.Contains(s, ":") {
		return "key '" + s + "' has no value"
	}
	return ""
}

// normalizeTarget renders a target the way Kong stores it: host:port with
// port 8000 when absent, IPv6 addresses expanded and bracketed.
func normalizeTarget(s string) (string, string) {
	host, port, hasPort := splitHostPort(s)
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

func checkTag(v any) string {
	s, _ := v.(string)
	if strings.ContainsAny(s, ",/") || strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return fmt.Sprintf("invalid tag '%s': expected printable ascii (except `,` and `/`) or valid utf-8 sequences", s)
	}
	return ""
}
