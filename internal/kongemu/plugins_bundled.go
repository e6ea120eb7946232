package kongemu

import "fmt"

// Bundled plugin schemas, after kong/plugins/<name>/schema.lua of Kong 3.9
// (open-source). Only the plugins listed here are "available_on_server";
// any other name is rejected the way Kong rejects a disabled plugin.

func bundledPlugins() []*pluginSchema {
	return []*pluginSchema{
		keyAuthPlugin(), basicAuthPlugin(), jwtPlugin(), hmacAuthPlugin(),
		aclPlugin(), corsPlugin(), rateLimitingPlugin(), requestTransformerPlugin(),
		responseTransformerPlugin(), correlationIDPlugin(), prometheusPlugin(),
		ipRestrictionPlugin(), requestSizeLimitingPlugin(),
	}
}

func cfg(fields ...*field) *field {
	return fRecord("config", fields...).Required()
}

func strs(def ...string) []any {
	out := make([]any, len(def))
	for i, s := range def {
		out[i] = s
	}
	return out
}

func keyAuthPlugin() *pluginSchema {
	return &pluginSchema{name: "key-auth", priority: 1250, fields: []*field{
		tdNoConsumer(), tdProtocolsHTTP(),
		cfg(
			fArray("key_names", tdHeaderName("")).Required().Default(strs("apikey")),
			fBool("hide_credentials").Required().Default(false),
			fString("anonymous"),
			fBool("key_in_header").Required().Default(true),
			fBool("key_in_query").Required().Default(true),
			fBool("key_in_body").Required().Default(false),
			fBool("run_on_preflight").Required().Default(true),
			fString("realm"),
		),
	}}
}

func basicAuthPlugin() *pluginSchema {
	return &pluginSchema{name: "basic-auth", priority: 1100, fields: []*field{
		tdNoConsumer(), tdProtocolsHTTP(),
		cfg(
			fString("anonymous"),
			fBool("hide_credentials").Required().Default(false),
			fString("realm").Required().Default("service"),
		),
	}}
}

func jwtPlugin() *pluginSchema {
	return &pluginSchema{name: "jwt", priority: 1450, fields: []*field{
		tdNoConsumer(), tdProtocolsHTTP(),
		cfg(
			fSet("uri_param_names", elem("string")).Default(strs("jwt")),
			fSet("cookie_names", elem("string")).Default(strs()),
			fString("key_claim_name").Default("iss"),
			fBool("secret_is_base64").Required().Default(false),
			fSet("claims_to_verify", elem("string").OneOf("exp", "nbf")),
			fString("anonymous"),
			fBool("run_on_preflight").Required().Default(true),
			fNumber("maximum_expiration").Default(float64(0)).Between(0, 31536000),
			fSet("header_names", elem("string")).Default(strs("authorization")),
			fString("realm"),
		),
	}}
}

func hmacAuthPlugin() *pluginSchema {
	algs := strs("hmac-sha1", "hmac-sha256", "hmac-sha384", "hmac-sha512")
	return &pluginSchema{name: "hmac-auth", priority: 1030, fields: []*field{
		tdNoConsumer(), tdProtocolsHTTP(),
		cfg(
			fBool("hide_credentials").Required().Default(false),
			fNumber("clock_skew").Default(float64(300)).Gt(0),
			fString("anonymous"),
			fBool("validate_request_body").Required().Default(false),
			fArray("enforce_headers", elem("string")).Default(strs()),
			fArray("algorithms", elem("string").OneOf(algs...)).Default(algs),
			fString("realm"),
		),
	}}
}

func aclPlugin() *pluginSchema {
	return &pluginSchema{name: "acl", priority: 950, fields: []*field{
		tdNoConsumer(), tdProtocolsHTTP(),
		cfg(
			fArray("allow", elem("string")),
			fArray("deny", elem("string")),
			fBool("hide_groups_header").Required().Default(false),
			fBool("include_consumer_groups").Default(false),
			fBool("always_use_authenticated_groups").Required().Default(false),
		),
	}, check: func(obj map[string]any) fieldErrors {
		return entityErrors(onlyOneOf(obj, "allow", "deny"), atLeastOneOf(obj, "allow", "deny"))
	}}
}

func corsPlugin() *pluginSchema {
	methods := strs("GET", "HEAD", "PUT", "PATCH", "POST", "DELETE", "OPTIONS", "TRACE", "CONNECT")
	return &pluginSchema{name: "cors", priority: 2000, fields: []*field{
		tdNoConsumer(), tdProtocolsHTTP(),
		cfg(
			fArray("origins", elem("string")),
			fArray("headers", elem("string")),
			fArray("exposed_headers", elem("string")),
			fArray("methods", elem("string").OneOf(methods...)).Default(methods),
			fNumber("max_age"),
			fBool("credentials").Required().Default(false),
			fBool("private_network").Required().Default(false),
			fBool("preflight_continue").Required().Default(false),
			fBool("allow_origin_absent").Required().Default(true),
		),
	}}
}

func rateLimitingPlugin() *pluginSchema {
	period := func(n string) *field { return fNumber(n).Gt(0) }
	redis := fRecord("redis",
		tdHost("host"),
		tdPort("port").Default(int64(6379)),
		fInt("timeout").Default(int64(2000)).Between(0, 2147483646),
		fString("username").Referenceable(),
		fString("password").Referenceable().Encrypted().LenMin(0),
		fInt("database").Default(int64(0)),
		fBool("ssl").Default(false),
		fBool("ssl_verify").Default(false),
		tdSNI("server_name"),
	)
	return &pluginSchema{name: "rate-limiting", priority: 910, fields: []*field{
		tdProtocolsHTTP(),
		cfg(
			period("second"), period("minute"), period("hour"),
			period("day"), period("month"), period("year"),
			fString("limit_by").Default("consumer").OneOf(
				"consumer", "credential", "ip", "service", "header", "path", "consumer-group"),
			tdHeaderName("header_name"),
			tdPath("path"),
			fString("policy").Default("local").LenMin(0).OneOf("local", "cluster", "redis"),
			fBool("fault_tolerant").Required().Default(true),
			redis,
			fBool("hide_client_headers").Required().Default(false),
			fNumber("error_code").Default(float64(429)).Gt(0),
			fString("error_message").Default("API rate limit exceeded"),
			fNumber("sync_rate").Required().Default(float64(-1)),
		),
	}, check: rateLimitingChecks}
}

func rateLimitingChecks(obj map[string]any) fieldErrors {
	periods := []string{"second", "minute", "hour", "day", "month", "year"}
	errs := entityErrors(atLeastOneOf(obj, periods...))
	c := configOf(obj)
	for i, lo := range periods {
		v1, ok := toFloat(c[lo])
		if !ok {
			continue
		}
		for _, hi := range periods[i+1:] {
			if v2, ok := toFloat(c[hi]); ok && v2 < v1 {
				errs.entity("The limit for " + hi + "(" + fmtLimit(v2) + ") cannot be lower than the limit for " +
					lo + "(" + fmtLimit(v1) + ")")
			}
		}
	}
	if c["policy"] == "redis" {
		r, _ := c["redis"].(map[string]any)
		if r == nil || r["host"] == nil {
			errs["config"] = map[string]any{"redis": map[string]any{"host": "required field missing"}}
		}
	}
	switch c["limit_by"] {
	case "header":
		if c["header_name"] == nil {
			errs["config"] = map[string]any{"header_name": "required field missing"}
		}
	case "path":
		if c["path"] == nil {
			errs["config"] = map[string]any{"path": "required field missing"}
		}
	}
	return errs
}

func fmtLimit(v float64) string {
	return fmt.Sprintf("%.1f", v)
}

func colonArray(name string) *field {
	return fArray(name, elem("string").Check(checkColonPair)).Required().Default(strs())
}

func requestTransformerPlugin() *pluginSchema {
	plain := func(name string) *field {
		return fRecord(name, tdStringArray("body"), tdStringArray("headers"), tdStringArray("querystring"))
	}
	colon := func(name string, extra ...*field) *field {
		fs := []*field{colonArray("body"), colonArray("headers"), colonArray("querystring")}
		return fRecord(name, append(fs, extra...)...)
	}
	return &pluginSchema{name: "request-transformer", priority: 801, fields: []*field{
		tdProtocolsHTTP(),
		cfg(
			fString("http_method").Check(checkHTTPMethod),
			plain("remove"),
			colon("rename"),
			colon("replace", fString("uri")),
			colon("add"),
			colon("append"),
		),
	}}
}

func responseTransformerPlugin() *pluginSchema {
	jsonTypes := func() *field {
		return fArray("json_types", elem("string").OneOf("boolean", "number", "string")).Required().Default(strs())
	}
	return &pluginSchema{name: "response-transformer", priority: 800, fields: []*field{
		tdProtocolsHTTP(),
		cfg(
			fRecord("remove", tdStringArray("json"), tdStringArray("headers")),
			fRecord("rename", colonArray("headers"), colonArray("json")),
			fRecord("replace", colonArray("headers"), colonArray("json"), jsonTypes()),
			fRecord("add", colonArray("headers"), colonArray("json"), jsonTypes()),
			fRecord("append", colonArray("headers"), colonArray("json"), jsonTypes()),
		),
	}}
}

func correlationIDPlugin() *pluginSchema {
	return &pluginSchema{name: "correlation-id", priority: 100001, fields: []*field{
		tdProtocolsHTTP(),
		cfg(
			fString("header_name").Default("Kong-Request-ID"),
			fString("generator").Default("uuid#counter").OneOf("uuid", "uuid#counter", "tracker"),
			fBool("echo_downstream").Required().Default(false),
		),
	}}
}

func prometheusPlugin() *pluginSchema {
	return &pluginSchema{name: "prometheus", priority: 13, fields: []*field{
		tdNoConsumer(), tdProtocols(),
		cfg(
			fBool("per_consumer").Default(false),
			fBool("status_code_metrics").Default(false),
			fBool("ai_metrics").Default(false),
			fBool("latency_metrics").Default(false),
			fBool("bandwidth_metrics").Default(false),
			fBool("upstream_health_metrics").Default(false),
		),
	}}
}

func ipRestrictionPlugin() *pluginSchema {
	return &pluginSchema{name: "ip-restriction", priority: 990, fields: []*field{
		tdProtocols(),
		cfg(
			fArray("allow", elem("string").Check(checkCIDR)),
			fArray("deny", elem("string").Check(checkCIDR)),
			fInt("status"),
			fString("message"),
		),
	}, check: func(obj map[string]any) fieldErrors {
		return entityErrors(atLeastOneOf(obj, "allow", "deny"))
	}}
}

func requestSizeLimitingPlugin() *pluginSchema {
	return &pluginSchema{name: "request-size-limiting", priority: 951, fields: []*field{
		tdProtocolsHTTP(),
		cfg(
			fInt("allowed_payload_size").Default(int64(128)),
			fString("size_unit").Required().Default("megabytes").OneOf("megabytes", "kilobytes", "bytes"),
			fBool("require_content_length").Required().Default(false),
		),
	}}
}
