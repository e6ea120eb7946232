package kongspec

import "fmt"

// Bundled plugin schemas, after kong/plugins/<name>/schema.lua of Kong 3.9
// (open-source). Only the plugins listed here are "available_on_server" on
// the emulator; any other name is rejected the way Kong rejects a disabled
// plugin.

func bundledPlugins() []*PluginSchema {
	return []*PluginSchema{
		keyAuthPlugin(), basicAuthPlugin(), jwtPlugin(), hmacAuthPlugin(),
		aclPlugin(), corsPlugin(), rateLimitingPlugin(), requestTransformerPlugin(),
		responseTransformerPlugin(), correlationIDPlugin(), prometheusPlugin(),
		ipRestrictionPlugin(), requestSizeLimitingPlugin(),
		serverlessPlugin("pre-function", 1000000), serverlessPlugin("post-function", -1000),
	}
}

func cfg(fields ...*Field) *Field {
	return RecordField("config", fields...).Required()
}

func strs(def ...string) []any {
	out := make([]any, len(def))
	for i, s := range def {
		out[i] = s
	}
	return out
}

func keyAuthPlugin() *PluginSchema {
	return &PluginSchema{name: "key-auth", priority: 1250, fields: []*Field{
		TdNoConsumer(), TdProtocolsHTTP(),
		cfg(
			ArrayField("key_names", TdHeaderName("")).Required().Default(strs("apikey")),
			BoolField("hide_credentials").Required().Default(false),
			StringField("anonymous"),
			BoolField("key_in_header").Required().Default(true),
			BoolField("key_in_query").Required().Default(true),
			BoolField("key_in_body").Required().Default(false),
			BoolField("run_on_preflight").Required().Default(true),
			StringField("realm"),
		),
	}}
}

func basicAuthPlugin() *PluginSchema {
	return &PluginSchema{name: "basic-auth", priority: 1100, fields: []*Field{
		TdNoConsumer(), TdProtocolsHTTP(),
		cfg(
			StringField("anonymous"),
			BoolField("hide_credentials").Required().Default(false),
			StringField("realm").Required().Default("service"),
		),
	}}
}

func jwtPlugin() *PluginSchema {
	return &PluginSchema{name: "jwt", priority: 1450, fields: []*Field{
		TdNoConsumer(), TdProtocolsHTTP(),
		cfg(
			SetField("uri_param_names", Elem("string")).Default(strs("jwt")),
			SetField("cookie_names", Elem("string")).Default(strs()),
			StringField("key_claim_name").Default("iss"),
			BoolField("secret_is_base64").Required().Default(false),
			SetField("claims_to_verify", Elem("string").OneOf("exp", "nbf")),
			StringField("anonymous"),
			BoolField("run_on_preflight").Required().Default(true),
			NumberField("maximum_expiration").Default(float64(0)).Between(0, 31536000),
			SetField("header_names", Elem("string")).Default(strs("authorization")),
			StringField("realm"),
		),
	}}
}

func hmacAuthPlugin() *PluginSchema {
	algs := strs("hmac-sha1", "hmac-sha256", "hmac-sha384", "hmac-sha512")
	return &PluginSchema{name: "hmac-auth", priority: 1030, fields: []*Field{
		TdNoConsumer(), TdProtocolsHTTP(),
		cfg(
			BoolField("hide_credentials").Required().Default(false),
			NumberField("clock_skew").Default(float64(300)).Gt(0),
			StringField("anonymous"),
			BoolField("validate_request_body").Required().Default(false),
			ArrayField("enforce_headers", Elem("string")).Default(strs()),
			ArrayField("algorithms", Elem("string").OneOf(algs...)).Default(algs),
			StringField("realm"),
		),
	}}
}

func aclPlugin() *PluginSchema {
	return &PluginSchema{name: "acl", priority: 950, fields: []*Field{
		TdNoConsumer(), TdProtocolsHTTP(),
		cfg(
			ArrayField("allow", Elem("string")),
			ArrayField("deny", Elem("string")),
			BoolField("hide_groups_header").Required().Default(false),
			BoolField("include_consumer_groups").Default(false),
			BoolField("always_use_authenticated_groups").Required().Default(false),
		),
	}, check: func(obj map[string]any) FieldErrors {
		return entityErrors(onlyOneOf(obj, "allow", "deny"), atLeastOneOf(obj, "allow", "deny"))
	}}
}

func corsPlugin() *PluginSchema {
	methods := strs("GET", "HEAD", "PUT", "PATCH", "POST", "DELETE", "OPTIONS", "TRACE", "CONNECT")
	return &PluginSchema{name: "cors", priority: 2000, fields: []*Field{
		TdNoConsumer(), TdProtocolsHTTP(),
		cfg(
			ArrayField("origins", Elem("string")),
			ArrayField("headers", Elem("string")),
			ArrayField("exposed_headers", Elem("string")),
			ArrayField("methods", Elem("string").OneOf(methods...)).Default(methods),
			NumberField("max_age"),
			BoolField("credentials").Required().Default(false),
			BoolField("private_network").Required().Default(false),
			BoolField("preflight_continue").Required().Default(false),
			BoolField("allow_origin_absent").Required().Default(true),
		),
	}}
}

func rateLimitingPlugin() *PluginSchema {
	period := func(n string) *Field { return NumberField(n).Gt(0) }
	redis := RecordField("redis",
		TdHost("host"),
		TdPort("port").Default(int64(6379)),
		IntField("timeout").Default(int64(2000)).Between(0, 2147483646),
		StringField("username").Referenceable(),
		StringField("password").Referenceable().Encrypted().LenMin(0),
		IntField("database").Default(int64(0)),
		BoolField("ssl").Default(false),
		BoolField("ssl_verify").Default(false),
		TdSNI("server_name"),
	)
	return &PluginSchema{name: "rate-limiting", priority: 910, fields: []*Field{
		TdProtocolsHTTP(),
		cfg(
			period("second"), period("minute"), period("hour"),
			period("day"), period("month"), period("year"),
			StringField("limit_by").Default("consumer").OneOf(
				"consumer", "credential", "ip", "service", "header", "path", "consumer-group"),
			TdHeaderName("header_name"),
			TdPath("path"),
			StringField("policy").Default("local").LenMin(0).OneOf("local", "cluster", "redis"),
			BoolField("fault_tolerant").Required().Default(true),
			redis,
			BoolField("hide_client_headers").Required().Default(false),
			NumberField("error_code").Default(float64(429)).Gt(0),
			StringField("error_message").Default("API rate limit exceeded"),
			NumberField("sync_rate").Required().Default(float64(-1)),
		),
	}, check: rateLimitingChecks, destinations: [][]string{{"redis", "host"}}}
}

func rateLimitingChecks(obj map[string]any) FieldErrors {
	periods := []string{"second", "minute", "hour", "day", "month", "year"}
	errs := entityErrors(atLeastOneOf(obj, periods...))
	c := configOf(obj)
	for i, lo := range periods {
		v1, ok := ToFloat(c[lo])
		if !ok {
			continue
		}
		for _, hi := range periods[i+1:] {
			if v2, ok := ToFloat(c[hi]); ok && v2 < v1 {
				errs.Entity("The limit for " + hi + "(" + fmtLimit(v2) + ") cannot be lower than the limit for " +
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

func colonArray(name string) *Field {
	return ArrayField(name, Elem("string").Check(CheckColonPair)).Required().Default(strs())
}

func requestTransformerPlugin() *PluginSchema {
	plain := func(name string) *Field {
		return RecordField(name, TdStringArray("body"), TdStringArray("headers"), TdStringArray("querystring"))
	}
	colon := func(name string, extra ...*Field) *Field {
		fs := []*Field{colonArray("body"), colonArray("headers"), colonArray("querystring")}
		return RecordField(name, append(fs, extra...)...)
	}
	return &PluginSchema{name: "request-transformer", priority: 801, fields: []*Field{
		TdProtocolsHTTP(),
		cfg(
			StringField("http_method").Check(CheckHTTPMethod),
			plain("remove"),
			colon("rename"),
			colon("replace", StringField("uri")),
			colon("add"),
			colon("append"),
		),
	}}
}

func responseTransformerPlugin() *PluginSchema {
	jsonTypes := func() *Field {
		return ArrayField("json_types", Elem("string").OneOf("boolean", "number", "string")).Required().Default(strs())
	}
	return &PluginSchema{name: "response-transformer", priority: 800, fields: []*Field{
		TdProtocolsHTTP(),
		cfg(
			RecordField("remove", TdStringArray("json"), TdStringArray("headers")),
			RecordField("rename", colonArray("headers"), colonArray("json")),
			RecordField("replace", colonArray("headers"), colonArray("json"), jsonTypes()),
			RecordField("add", colonArray("headers"), colonArray("json"), jsonTypes()),
			RecordField("append", colonArray("headers"), colonArray("json"), jsonTypes()),
		),
	}}
}

func correlationIDPlugin() *PluginSchema {
	return &PluginSchema{name: "correlation-id", priority: 100001, fields: []*Field{
		TdProtocolsHTTP(),
		cfg(
			StringField("header_name").Default("Kong-Request-ID"),
			StringField("generator").Default("uuid#counter").OneOf("uuid", "uuid#counter", "tracker"),
			BoolField("echo_downstream").Required().Default(false),
		),
	}}
}

func prometheusPlugin() *PluginSchema {
	return &PluginSchema{name: "prometheus", priority: 13, fields: []*Field{
		TdNoConsumer(), TdProtocols(),
		cfg(
			BoolField("per_consumer").Default(false),
			BoolField("status_code_metrics").Default(false),
			BoolField("ai_metrics").Default(false),
			BoolField("latency_metrics").Default(false),
			BoolField("bandwidth_metrics").Default(false),
			BoolField("upstream_health_metrics").Default(false),
		),
	}}
}

func ipRestrictionPlugin() *PluginSchema {
	return &PluginSchema{name: "ip-restriction", priority: 990, fields: []*Field{
		TdProtocols(),
		cfg(
			ArrayField("allow", Elem("string").Check(CheckCIDR)),
			ArrayField("deny", Elem("string").Check(CheckCIDR)),
			IntField("status"),
			StringField("message"),
		),
	}, check: func(obj map[string]any) FieldErrors {
		return entityErrors(atLeastOneOf(obj, "allow", "deny"))
	}}
}

func requestSizeLimitingPlugin() *PluginSchema {
	return &PluginSchema{name: "request-size-limiting", priority: 951, fields: []*Field{
		TdProtocolsHTTP(),
		cfg(
			IntField("allowed_payload_size").Default(int64(128)),
			StringField("size_unit").Required().Default("megabytes").OneOf("megabytes", "kilobytes", "bytes"),
			BoolField("require_content_length").Required().Default(false),
		),
	}}
}

// serverlessPlugin is pre-function and post-function
// (kong/plugins/pre-function/_schema.lua): arrays of Lua source per phase,
// run on the gateway with the worker's rights.
func serverlessPlugin(name string, priority int) *PluginSchema {
	phase := func(n string) *Field {
		return ArrayField(n, Elem("string")).Required().Default(strs())
	}
	return &PluginSchema{name: name, priority: priority, runsCode: true, fields: []*Field{
		TdNoConsumer(), TdProtocols(),
		cfg(
			phase("certificate"), phase("rewrite"), phase("access"),
			phase("header_filter"), phase("body_filter"), phase("log"),
		),
	}}
}
