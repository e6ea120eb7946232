package loader

import (
	"errors"
	"math"
	"net/netip"
	"strconv"
	"strings"

	"golang.org/x/net/publicsuffix"

	"github.com/k3sync/k3sync/internal/kongspec"
	"github.com/k3sync/k3sync/internal/model"
)

// # Route hosts

// hostPattern is one entry of allowedRouteHosts. A wildcard is a whole
// first or last label and stands for one or more labels, as in Kong's
// router; body is the pattern without it.
type hostPattern struct {
	raw      string
	body     string
	leading  bool // "*.body"
	trailing bool // "body.*"
}

func parseHostPattern(raw string) (hostPattern, error) {
	hp := hostPattern{raw: raw, body: strings.ToLower(raw)}
	if rest, ok := strings.CutPrefix(hp.body, "*."); ok {
		hp.leading, hp.body = true, rest
	}
	if rest, ok := strings.CutSuffix(hp.body, ".*"); ok {
		hp.trailing, hp.body = true, rest
	}
	switch {
	case hp.leading && hp.trailing:
		return hp, errors.New("a pattern may have one wildcard only, first or last")
	case strings.Contains(strings.ReplaceAll(hp.body, "{tenant}", ""), "{") ||
		strings.Contains(strings.ReplaceAll(hp.body, "{tenant}", ""), "}"):
		return hp, errors.New(`the only placeholder is "{tenant}"`)
	case strings.Contains(hp.body, "*"):
		return hp, errors.New("a wildcard must be the whole first or last label")
	}
	if msg := kongspec.CheckRouteHost(strings.ReplaceAll(raw, "{tenant}", "t")); msg != "" {
		return hp, errors.New(msg)
	}
	return hp, nil
}

// normalizeRouteHost is the host Kong compares a request with: lower
// case, without a trailing dot or a port (a route host without a port
// matches every port, so ports never separate two claims).
func normalizeRouteHost(raw string) string {
	h, _, _ := kongspec.SplitHostPort(strings.ToLower(raw))
	return strings.TrimSuffix(h, ".")
}

// match reports whether every request host that route host h (normalised)
// matches is one the pattern admits for tenant.
func (hp hostPattern) match(h, tenant string) bool {
	body := strings.ReplaceAll(hp.body, "{tenant}", tenant)
	switch {
	case hp.leading:
		if rest, ok := strings.CutPrefix(h, "*."); ok {
			return rest == body || (strings.HasSuffix(rest, "."+body) && !strings.Contains(rest, "*"))
		}
		return strings.HasSuffix(h, "."+body) && !strings.Contains(h, "*")
	case hp.trailing:
		if rest, ok := strings.CutSuffix(h, ".*"); ok {
			return rest == body || (strings.HasPrefix(rest, body+".") && !strings.Contains(rest, "*"))
		}
		return strings.HasPrefix(h, body+".") && !strings.Contains(h, "*")
	default:
		return h == body
	}
}

func (r *kongRules) hostAllowed(h, tenant string) bool {
	for _, hp := range r.hosts {
		if hp.match(h, tenant) {
			return true
		}
	}
	return false
}

func (r *kongRules) describeHosts(tenant string) string {
	out := make([]string, len(r.hosts))
	for i, hp := range r.hosts {
		out[i] = strings.ReplaceAll(hp.raw, "{tenant}", tenant)
	}
	return strings.Join(out, ", ")
}

// # Destinations: service URLs, upstream targets, plugin hosts

type destKind int

const (
	destPublic      destKind = iota // a name or global address outside the cluster
	destPlatform                    // allowed by allowedServiceCIDRs or allowedServiceHosts
	destNamespace                   // a Service or pod name in namespace
	destSingleLabel                 // an upstream, or a Service in Kong's own namespace
	destRefused                     // an address or name tenants may not reach
	destInvalid                     // not a host Kong accepts
)

type destination struct {
	kind      destKind
	host      string // normalised
	namespace string
	reason    string
	setting   string // the platform setting that would allow it
}

// destinations classifies hosts the gateway would connect to.
type destinations struct {
	domain string
	cidrs  []netip.Prefix
	exact  map[string]bool
	suffix []string // from "*.example.com": ".example.com"
	// namespaces are every namespace a tenant of the repo declares, and
	// reserved says which no tenant may claim (Kubernetes', the
	// platform's, k3sync's): a short name ending in either resolves in
	// the cluster even if that label is also a top-level domain.
	namespaces map[string]bool
	reserved   func(ns string) (why string, ok bool)
}

// newDestinations prepares the checks of service, target and plugin hosts;
// reserved is the Kubernetes guardrails' reservedNamespace.
func newDestinations(g model.KongGuardrails, reserved func(ns string) (string, bool), tenants []*model.Tenant, platformErr func(field string, i int, format string, args ...any)) destinations {
	d := destinations{
		domain:     strings.TrimSuffix(strings.ToLower(g.ClusterDomain), "."),
		exact:      map[string]bool{},
		namespaces: map[string]bool{},
		reserved:   reserved,
	}
	if d.domain == "" {
		d.domain = "cluster.local"
	}
	for i, s := range g.AllowedServiceCIDRs {
		pfx, err := netip.ParsePrefix(s)
		if err != nil {
			addr, aerr := netip.ParseAddr(s)
			if aerr != nil {
				platformErr("allowedServiceCIDRs", i, "%q is neither a CIDR nor an IP address", s)
				continue
			}
			pfx = netip.PrefixFrom(addr, addr.BitLen())
		}
		d.cidrs = append(d.cidrs, pfx.Masked())
	}
	for i, s := range g.AllowedServiceHosts {
		h := strings.TrimSuffix(strings.ToLower(s), ".")
		if rest, ok := strings.CutPrefix(h, "*."); ok {
			d.suffix = append(d.suffix, "."+rest)
			h = rest
		} else {
			d.exact[h] = true
		}
		if !kongspec.ValidHostname(h) || strings.Contains(h, "*") {
			platformErr("allowedServiceHosts", i, "%q is not a host name (or \"*.\" and a host name)", s)
		}
	}
	for _, t := range tenants {
		if t.Kubernetes != nil {
			for ns := range t.Kubernetes.Namespaces {
				d.namespaces[ns] = true
			}
		}
	}
	return d
}

// isReserved reports a namespace no tenant may claim.
func (d *destinations) isReserved(ns string) bool {
	if d.reserved == nil {
		return false
	}
	_, ok := d.reserved(ns)
	return ok
}

// metadataAddrs are cloud instance metadata services.
var metadataAddrs = map[netip.Addr]bool{
	netip.MustParseAddr("169.254.169.254"): true,
	netip.MustParseAddr("fd00:ec2::254"):   true,
	netip.MustParseAddr("100.100.100.200"): true, // Alibaba Cloud
}

// nonGlobal are ranges that are not reachable on the internet, beyond what
// netip.Addr's predicates know.
var nonGlobal = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("192.0.2.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("2001:db8::/32"),
	netip.MustParsePrefix("fec0::/10"),
	netip.MustParsePrefix("100::/64"),
}

// embeddedIPv4 are IPv6 ranges that carry an IPv4 address a gateway may
// end up reaching (NAT64, 6to4): checked as that address.
var embeddedIPv4 = []struct {
	prefix netip.Prefix
	offset int
}{
	{netip.MustParsePrefix("64:ff9b::/96"), 12},
	{netip.MustParsePrefix("64:ff9b:1::/48"), 12},
	{netip.MustParsePrefix("2002::/16"), 2},
}

func (d *destinations) classify(host string) destination {
	h := strings.ToLower(host)
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	h = strings.TrimSuffix(h, ".")
	out := destination{host: h}
	if h == "" {
		out.kind = destInvalid
		return out
	}
	if addr, ok := parseIP(h); ok {
		return d.classifyIP(out, addr)
	}
	labels := strings.Split(h, ".")
	last := labels[len(labels)-1]
	if _, numeric := parseInetPart(strings.TrimPrefix(last, "0x")); numeric || !kongspec.ValidHostname(h) || strings.Contains(h, "*") {
		// A numeric last label is an address a resolver would not take.
		out.kind = destInvalid
		return out
	}
	if d.exact[h] {
		out.kind = destPlatform
		return out
	}
	for _, s := range d.suffix {
		if strings.HasSuffix(h, s) {
			out.kind = destPlatform
			return out
		}
	}
	refuse := func(reason string) destination {
		out.kind, out.reason, out.setting = destRefused, reason, "allowedServiceHosts"
		return out
	}
	// Cluster DNS first: <service>.<namespace>.svc[.<domain>], and pod
	// names <hostname>.<service>.<namespace>.svc[.<domain>].
	cluster, inDomain := strings.CutSuffix(h, "."+d.domain)
	if inDomain || last == "svc" {
		if !inDomain {
			cluster = h
		}
		cl := strings.Split(cluster, ".")
		if n := len(cl); n >= 3 && cl[n-1] == "svc" {
			out.kind, out.namespace = destNamespace, cl[n-2]
			return out
		}
		return refuse("is a cluster DNS name that is not a Service (<service>.<namespace>.svc)")
	}
	if h == d.domain {
		return refuse("is the cluster's DNS domain")
	}
	switch {
	case h == "localhost" || last == "localhost":
		return refuse("names the gateway itself (localhost)")
	case h == "metadata" || h == "instance-data" || last == "internal":
		return refuse("names a cloud metadata or internal-only host")
	case last == "local":
		return refuse("names a link-local (mDNS) host")
	}
	if len(labels) == 1 {
		out.kind = destSingleLabel
		return out
	}
	if last == "pod" {
		// <address>.<namespace>.pod, also with more labels before it,
		// through the cluster domain in the search path: CoreDNS answers
		// any address written in it.
		return refuse("is a cluster DNS name that is not a Service (<service>.<namespace>.svc)")
	}
	// Kubernetes' DNS search path (ndots:5) resolves a name of fewer than
	// five dots in the cluster first: through "svc.<domain>", "api.other"
	// is Service api in namespace other, "pod.api.other" a pod of it and
	// "http.tcp.api.other" (or "_http._tcp.api.other") its port http. A
	// longer name is tried as it is first and then, once that fails, with
	// the search suffixes too. So a name is public only when its last
	// label is a real top-level domain that is not a namespace a tenant
	// declares or that is reserved. A namespace the platform uses but
	// does not reserve is not known here: it is the platform's to list in
	// reservedNamespaces.
	if _, icann := publicsuffix.PublicSuffix(last); !icann || d.namespaces[last] || d.isReserved(last) {
		out.kind, out.namespace = destNamespace, last
		return out
	}
	out.kind = destPublic
	return out
}

func (d *destinations) classifyIP(out destination, addr netip.Addr) destination {
	addr = addr.WithZone("").Unmap()
	for _, p := range d.cidrs {
		if p.Contains(addr) {
			out.kind = destPlatform
			return out
		}
	}
	check := addr
	for _, e := range embeddedIPv4 {
		if e.prefix.Contains(addr) {
			b := addr.As16()
			check = netip.AddrFrom4([4]byte(b[e.offset : e.offset+4]))
			break
		}
	}
	reason := ipReason(check)
	if reason == "" {
		out.kind = destPublic
		return out
	}
	out.kind, out.reason, out.setting = destRefused, "points to "+reason+" "+addr.String(), "allowedServiceCIDRs"
	return out
}

// ipReason says why an address is not a public destination, or "".
func ipReason(a netip.Addr) string {
	switch {
	case metadataAddrs[a]:
		return "the cloud metadata address"
	case a.IsLoopback():
		return "loopback address"
	case a.IsUnspecified():
		return "unspecified address"
	case a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast():
		return "link-local address"
	case a.IsPrivate():
		return "private address"
	case a.IsMulticast() || a.IsInterfaceLocalMulticast():
		return "multicast address"
	}
	for _, p := range nonGlobal {
		if p.Contains(a) {
			return "non-global address"
		}
	}
	if !a.IsGlobalUnicast() {
		return "non-global address"
	}
	return ""
}

// parseIP parses an IP literal, including the IPv4 forms inet_aton and
// many resolvers accept: one to four parts, each decimal, octal (leading
// 0) or hex (0x), the last filling the remaining bytes ("127.1",
// "2852039166", "0xA9FEA9FE", "0251.0376.0251.0376").
func parseIP(h string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(h); err == nil {
		return a, true
	}
	parts := strings.Split(h, ".")
	if len(parts) > 4 {
		return netip.Addr{}, false
	}
	vals := make([]uint64, len(parts))
	for i, p := range parts {
		v, ok := parseInetPart(p)
		if !ok {
			return netip.Addr{}, false
		}
		vals[i] = v
	}
	var ip uint64
	for i, v := range vals[:len(vals)-1] {
		if v > 255 {
			return netip.Addr{}, false
		}
		ip |= v << (8 * (3 - i))
	}
	last := vals[len(vals)-1]
	if last > math.MaxUint32>>(8*(len(vals)-1)) {
		return netip.Addr{}, false
	}
	ip |= last
	return netip.AddrFrom4([4]byte{byte(ip >> 24), byte(ip >> 16), byte(ip >> 8), byte(ip)}), true
}

func parseInetPart(p string) (uint64, bool) {
	base, digits := 10, p
	switch {
	case strings.HasPrefix(p, "0x"):
		base, digits = 16, p[2:]
		if digits == "" {
			return 0, true
		}
	case len(p) > 1 && p[0] == '0':
		base, digits = 8, p[1:]
	}
	if digits == "" {
		return 0, false
	}
	v, err := strconv.ParseUint(digits, base, 32)
	if err != nil {
		return 0, false
	}
	return v, true
}
