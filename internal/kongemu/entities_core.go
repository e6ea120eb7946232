package kongemu

import (
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// Core entity schemas, transcribed from kong/db/schema/entities/*.lua of
// Kong 3.9 (open-source flavour, router_flavor traditional_compatible).

func timeoutField(name string) *field {
	return fInt(name).Default(int64(60000)).Between(1, 2147483646)
}

func servicesDef() *entityDef {
	return &entityDef{
		name: "services", path: "services", endpointKey: "name",
		fields: []*field{
			tdID(), tdCreatedAt(), tdUpdatedAt(),
			tdName("name"),
			fInt("retries").Default(int64(5)).Between(0, 32767),
			fString("protocol").Required().Default("http").OneOf(allProtocols...),
			tdHost("host").Required(),
			tdPort("port").Required().Default(int64(80)),
			tdPath("path"),
			timeoutField("connect_timeout"),
			timeoutField("write_timeout"),
			timeoutField("read_timeout"),
			tdTags(),
			fForeign("client_certificate", "certificates"),
			fBool("tls_verify"),
			fInt("tls_verify_depth").DefaultNull().Between(0, 64),
			fArray("ca_certificates", elem("string").UUID()),
			fBool("enabled").Required().Default(true),
		},
		shorthand: serviceURLShorthand,
		check:     serviceChecks,
	}
}

// serviceURLShorthand expands the "url" sugar field into protocol, host,
// port and path, exactly like the shorthand_fields entry of services.lua.
func serviceURLShorthand(in map[string]any) fieldErrors {
	raw, ok := in["url"]
	if !ok {
		return nil
	}
	delete(in, "url")
	if raw == nil {
		return nil
	}
	s, ok := raw.(string)
	if !ok {
		return fieldErrors{"url": "expected a string"}
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return fieldErrors{"url": "missing host in url"}
	}
	var port int64
	if p := u.Port(); p != "" {
		n, err := strconv.ParseInt(p, 10, 64)
		if err != nil {
			return fieldErrors{"url": "invalid port in url"}
		}
		port = n
	}
	protocol := u.Scheme
	if protocol == "" {
		switch port {
		case 80:
			protocol = "http"
		case 443:
			protocol = "https"
		default:
			protocol = "http"
		}
	}
	if port == 0 {
		switch protocol {
		case "https":
			port = 443
		default:
			port = 80
		}
	}
	in["protocol"] = protocol
	in["host"] = u.Hostname()
	in["port"] = port
	if p := u.EscapedPath(); p != "" {
		in["path"] = p
	} else {
		in["path"] = nil
	}
	return nil
}

func serviceChecks(obj map[string]any) fieldErrors {
	errs := fieldErrors{}
	proto, _ := obj["protocol"].(string)
	switch proto {
	case "tcp", "tls", "tls_passthrough", "udp", "grpc", "grpcs":
		if obj["path"] != nil {
			errs["path"] = "value must be null"
		}
	}
	if proto != "https" && proto != "tls" {
		for _, f := range []string{"client_certificate", "tls_verify", "tls_verify_depth", "ca_certificates"} {
			if obj[f] != nil {
				errs[f] = "value must be null"
			}
		}
	}
	return errs
}

func routesDef() *entityDef {
	cidrPort := func(name string) *field {
		return fSet(name, fRecord("", fString("ip").Check(checkCIDR), tdPort("port")))
	}
	return &entityDef{
		name: "routes", path: "routes", endpointKey: "name",
		fields: []*field{
			tdID(), tdCreatedAt(), tdUpdatedAt(),
			tdName("name"),
			fSet("protocols", elem("string").OneOf(allProtocols...)).Required().
				LenMin(1).Default([]any{"http", "https"}),
			fSet("methods", elem("string").Check(checkHTTPMethod)),
			fArray("hosts", elem("string").Check(checkRouteHost)),
			fArray("paths", elem("string").Check(checkRouterPath)),
			fMap("headers", tdHeaderName(""), fArray("", elem("string"))),
			fInt("https_redirect_status_code").Required().Default(int64(426)).
				OneOf(int64(426), int64(301), int64(302), int64(307), int64(308)),
			fInt("regex_priority").Default(int64(0)),
			fBool("strip_path").Required().Default(true),
			fString("path_handling").Default("v0").OneOf("v0", "v1"),
			fBool("preserve_host").Required().Default(false),
			fBool("request_buffering").Required().Default(true),
			fBool("response_buffering").Required().Default(true),
			fSet("snis", elem("string").Check(checkSNI)),
			cidrPort("sources"),
			cidrPort("destinations"),
			tdTags(),
			fForeign("service", "services"),
		},
		check: routeChecks,
	}
}

func routeChecks(obj map[string]any) fieldErrors {
	errs := fieldErrors{}
	protos, _ := obj["protocols"].([]any)
	has := func(p ...string) bool {
		for _, x := range protos {
			if slices.Contains(p, x.(string)) {
				return true
			}
		}
		return false
	}
	if nonEmpty(obj["snis"]) && !has("https", "grpcs", "tls", "tls_passthrough") {
		errs["snis"] = "'snis' can only be set when 'protocols' is 'grpcs', 'https', 'tls', or 'tls_passthrough'"
	}
	if len(protos) == 0 {
		return errs
	}
	first, _ := protos[0].(string)
	var need []string
	switch {
	case has("http", "https"):
		need = []string{"methods", "hosts", "headers", "paths"}
		if first == "https" {
			need = append(need, "snis")
		}
	case has("grpc", "grpcs"):
		need = []string{"hosts", "headers", "paths"}
	case has("tcp", "tls", "udp"):
		need = []string{"sources", "destinations", "snis"}
	case has("tls_passthrough"):
		need = []string{"snis"}
	}
	if len(need) == 0 {
		return errs
	}
	for _, n := range need {
		if nonEmpty(obj[n]) {
			return errs
		}
	}
	quoted := make([]string, len(need))
	for i, n := range need {
		quoted[i] = "'" + n + "'"
	}
	errs.Entity("must set one of " + strings.Join(quoted, ", ") + " when 'protocols' is '" + first + "'")
	return errs
}

func consumersDef() *entityDef {
	return &entityDef{
		name: "consumers", path: "consumers", endpointKey: "username",
		fields: []*field{
			tdID(), tdCreatedAt(), tdUpdatedAt(),
			fString("username").Unique().Indexed(),
			fString("custom_id").Unique().Indexed(),
			tdTags(),
		},
		check: func(obj map[string]any) fieldErrors {
			errs := fieldErrors{}
			if !nonEmpty(obj["username"]) && !nonEmpty(obj["custom_id"]) {
				errs.Entity("at least one of these fields must be non-empty: 'custom_id', 'username'")
			}
			return errs
		},
	}
}

func consumerGroupsDef() *entityDef {
	return &entityDef{
		name: "consumer_groups", path: "consumer_groups", endpointKey: "name",
		fields: []*field{
			tdID(), tdCreatedAt(), tdUpdatedAt(),
			fString("name").Required().Unique().Indexed(),
			tdTags(),
		},
	}
}

// consumerGroupConsumersDef is the membership join table; it has no URL
// of its own and is driven by /consumer_groups/{group}/consumers.
func consumerGroupConsumersDef() *entityDef {
	return &entityDef{
		name: "consumer_group_consumers", path: "consumer_group_consumers", internal: true,
		fields: []*field{
			tdID(), tdCreatedAt(), tdUpdatedAt(),
			fForeign("consumer_group", "consumer_groups").Required().OnDelete("cascade"),
			fForeign("consumer", "consumers").Required().OnDelete("cascade"),
		},
		cacheKey: []string{"consumer_group", "consumer"},
	}
}

func vaultsDef() *entityDef {
	return &entityDef{
		name: "vaults", path: "vaults", endpointKey: "prefix",
		fields: []*field{
			tdID(), tdCreatedAt(), tdUpdatedAt(),
			fString("name").Required().OneOf("env"),
			fString("prefix").Required().Unique().Indexed().Check(checkName),
			fString("description"),
			fRecord("config", fString("prefix"), fBool("base64_decode").Default(false)),
			tdTags(),
		},
	}
}

func keySetsDef() *entityDef {
	return &entityDef{
		name: "key_sets", path: "key-sets", endpointKey: "name",
		fields: []*field{
			tdID(), fString("name").Unique().Indexed(), tdTags(),
			tdCreatedAt(), tdUpdatedAt(),
		},
	}
}

func keysDef() *entityDef {
	return &entityDef{
		name: "keys", path: "keys", endpointKey: "name",
		fields: []*field{
			tdID(),
			fForeign("set", "key_sets").OnDelete("cascade"),
			fString("name").Unique().Indexed(),
			fString("kid").Required(),
			fString("jwk").Referenceable().Encrypted(),
			fRecord("pem",
				fString("private_key").Referenceable().Encrypted(),
				fString("public_key").Referenceable(),
			).Optional(),
			fString("x5t"),
			tdTags(),
			tdCreatedAt(), tdUpdatedAt(),
		},
		check: func(obj map[string]any) fieldErrors {
			errs := fieldErrors{}
			if !nonEmpty(obj["jwk"]) && !nonEmpty(obj["pem"]) {
				errs.Entity("at least one of these fields must be non-empty: 'jwk', 'pem'")
			}
			return errs
		},
	}
}
