package kongemu

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"sort"
)

// Upstreams, targets and TLS entities (upstreams.lua, targets.lua,
// certificates.lua, snis.lua, ca_certificates.lua).

func healthchecksField() *field {
	statuses := func(def ...int64) *field {
		d := make([]any, len(def))
		for i, v := range def {
			d[i] = v
		}
		return fArray("http_statuses", fInt("").Between(100, 999)).Default(d)
	}
	byteInt := func(name string) *field { return fInt(name).Between(0, 255).Default(int64(0)) }
	seconds := func(name string, d float64) *field { return fNumber(name).Between(0, 65535).Default(d) }
	checkType := func() *field {
		return fString("type").Default("http").OneOf("tcp", "http", "https", "grpc", "grpcs")
	}
	active := fRecord("active",
		checkType(),
		seconds("timeout", 1),
		fInt("concurrency").Between(1, 2147483648).Default(int64(10)),
		tdPath("http_path").Default("/"),
		tdSNI("https_sni"),
		fBool("https_verify_certificate").Required().Default(true),
		fMap("headers", tdHeaderName(""), fArray("", elem("string"))),
		fRecord("healthy",
			seconds("interval", 0),
			statuses(200, 302),
			byteInt("successes"),
		),
		fRecord("unhealthy",
			seconds("interval", 0),
			statuses(429, 404, 500, 501, 502, 503, 504, 505),
			byteInt("tcp_failures"),
			byteInt("timeouts"),
			byteInt("http_failures"),
		),
	)
	passive := fRecord("passive",
		checkType(),
		fRecord("healthy",
			statuses(200, 201, 202, 203, 204, 205, 206, 207, 208, 226,
				300, 301, 302, 303, 304, 305, 306, 307, 308),
			byteInt("successes"),
		),
		fRecord("unhealthy",
			statuses(429, 500, 503),
			byteInt("tcp_failures"),
			byteInt("timeouts"),
			byteInt("http_failures"),
		),
	)
	hc := fRecord("healthchecks", active, passive,
		fNumber("threshold").Default(float64(0)).Between(0, 100))
	hc.Default(fillRecord(hc.Fields(), map[string]any{}))
	return hc
}

func upstreamsDef() *entityDef {
	hashOn := func(name string) *field {
		return fString(name).Default("none").
			OneOf("none", "consumer", "ip", "header", "cookie", "path", "query_arg", "uri_capture")
	}
	return &entityDef{
		name: "upstreams", path: "upstreams", endpointKey: "name",
		fields: []*field{
			tdID(), tdCreatedAt(), tdUpdatedAt(),
			fString("name").Required().Unique().Indexed().Check(checkUpstreamName),
			fString("algorithm").Default("round-robin").
				OneOf("consistent-hashing", "least-connections", "round-robin", "latency", "sticky-sessions"),
			hashOn("hash_on"),
			hashOn("hash_fallback"),
			tdHeaderName("hash_on_header"),
			tdHeaderName("hash_fallback_header"),
			fString("hash_on_cookie"),
			tdPath("hash_on_cookie_path").Default("/"),
			fString("hash_on_query_arg"),
			fString("hash_fallback_query_arg"),
			fString("hash_on_uri_capture"),
			fString("hash_fallback_uri_capture"),
			fInt("slots").Default(int64(10000)).Between(10, 65536),
			healthchecksField(),
			tdTags(),
			tdHost("host_header"),
			fForeign("client_certificate", "certificates"),
			fBool("use_srv_name").Default(false),
			fString("sticky_sessions_cookie"),
			tdPath("sticky_sessions_cookie_path").Default("/"),
		},
		check: upstreamChecks,
	}
}

func checkUpstreamName(v any) string {
	s, _ := v.(string)
	host, _, hasPort := splitHostPort(s)
	if hasPort || !validHostname(host) {
		return fmt.Sprintf("Invalid name ('%s'); must be a valid hostname", s)
	}
	return ""
}

func upstreamChecks(obj map[string]any) fieldErrors {
	errs := fieldErrors{}
	need := map[string]map[string]string{
		"hash_on":       {"header": "hash_on_header", "cookie": "hash_on_cookie", "query_arg": "hash_on_query_arg", "uri_capture": "hash_on_uri_capture"},
		"hash_fallback": {"header": "hash_fallback_header", "cookie": "hash_on_cookie", "query_arg": "hash_fallback_query_arg", "uri_capture": "hash_fallback_uri_capture"},
	}
	for _, key := range []string{"hash_on", "hash_fallback"} {
		v, _ := obj[key].(string)
		if f, ok := need[key][v]; ok && obj[f] == nil {
			errs[f] = "required field missing"
		}
	}
	if obj["hash_on"] == "none" && obj["hash_fallback"] != "none" && obj["hash_fallback"] != nil {
		errs["hash_fallback"] = "expected one of: none"
	}
	return errs
}

func targetsDef() *entityDef {
	created := fNumber("created_at").Auto().Timestamp()
	updated := fNumber("updated_at").Auto().Timestamp()
	return &entityDef{
		name: "targets", path: "targets", endpointKey: "target", scopedKey: true, nestedOnly: true,
		fields: []*field{
			tdID(), created, updated,
			fForeign("upstream", "upstreams").Required().OnDelete("cascade"),
			fString("target").Required(),
			fInt("weight").Default(int64(100)).Between(0, 65535),
			tdTags(),
		},
		cacheKey: []string{"upstream", "target"},
		finish: func(_ *Server, obj, _ map[string]any) *apiError {
			t, _ := obj["target"].(string)
			norm, msg := normalizeTarget(t)
			if msg != "" {
				return schemaViolation(fieldErrors{"target": msg})
			}
			obj["target"] = norm
			return nil
		},
	}
}

func certificatesDef() *entityDef {
	return &entityDef{
		name: "certificates", path: "certificates",
		fields: []*field{
			tdID(), tdCreatedAt(), tdUpdatedAt(),
			fString("cert").Required().Referenceable(),
			fString("key").Required().Referenceable().Encrypted(),
			fString("cert_alt").Referenceable(),
			fString("key_alt").Referenceable().Encrypted(),
			tdTags(),
		},
		finish: func(_ *Server, obj, _ map[string]any) *apiError {
			errs := fieldErrors{}
			checkKeyPair(obj, "cert", "key", errs)
			if obj["cert_alt"] != nil || obj["key_alt"] != nil {
				checkKeyPair(obj, "cert_alt", "key_alt", errs)
			}
			if len(errs) > 0 {
				return schemaViolation(errs)
			}
			return nil
		},
		split: func(in map[string]any) map[string]any {
			v, ok := in["snis"]
			if !ok {
				return nil
			}
			delete(in, "snis")
			return map[string]any{"snis": v}
		},
		prepareExtra: prepareCertificateSNIs,
		output:       certificateOutput,
	}
}

func parseCertPEM(s string) (*x509.Certificate, error) {
	block, _ := pem.Decode([]byte(s))
	if block == nil {
		return nil, fmt.Errorf("pem decode: no PEM block found")
	}
	return x509.ParseCertificate(block.Bytes)
}

func checkKeyPair(obj map[string]any, certKey, keyKey string, errs fieldErrors) {
	c, _ := obj[certKey].(string)
	k, _ := obj[keyKey].(string)
	if c == "" || k == "" {
		if c == "" {
			errs[certKey] = "required field missing"
		} else {
			errs[keyKey] = "required field missing"
		}
		return
	}
	if _, err := parseCertPEM(c); err != nil {
		errs[certKey] = "invalid certificate: " + err.Error()
		return
	}
	if block, _ := pem.Decode([]byte(k)); block == nil {
		errs[keyKey] = "invalid key: pem decode: no PEM block found"
		return
	}
	if _, err := tls.X509KeyPair([]byte(c), []byte(k)); err != nil {
		errs.Entity("certificate does not match key")
	}
}

// prepareCertificateSNIs handles the "snis" array accepted by the
// certificates endpoints: names are validated and, on commit, replace the
// SNIs attached to the certificate.
func prepareCertificateSNIs(s *Server, obj, extra map[string]any) (func(), *apiError) {
	raw := extra["snis"]
	if raw == nil {
		return func() {}, nil
	}
	list, ok := raw.([]any)
	if !ok {
		return nil, schemaViolation(fieldErrors{"snis": "expected an array"})
	}
	certID, _ := obj["id"].(string)
	names := make([]string, 0, len(list))
	for _, x := range dedupe(list) {
		name, ok := x.(string)
		if !ok {
			return nil, schemaViolation(fieldErrors{"snis": "expected a string"})
		}
		if msg := checkSNI(name); msg != "" {
			return nil, schemaViolation(fieldErrors{"snis": msg})
		}
		if row := s.db.findUnique("snis", "name", name); row != nil && refID(row["certificate"]) != certID {
			return nil, &apiError{status: 409, body: map[string]any{
				"code": 5, "name": "unique constraint violation",
				"message": fmt.Sprintf("%s already associated with existing certificate '%s'", name, refID(row["certificate"])),
				"fields":  map[string]any{"snis": fmt.Sprintf("%s already associated with existing certificate '%s'", name, refID(row["certificate"]))},
			}}
		}
		names = append(names, name)
	}
	return func() {
		for _, row := range s.db.rowsWhere("snis", "certificate", certID) {
			s.db.remove("snis", row["id"].(string))
		}
		now := s.now()
		for _, n := range names {
			s.db.put("snis", map[string]any{
				"id": newUUID(), "name": n, "tags": nil,
				"created_at": now.Unix(), "updated_at": now.Unix(),
				"certificate": map[string]any{"id": certID},
			})
		}
	}, nil
}

func certificateOutput(s *Server, obj map[string]any) map[string]any {
	rows := s.db.rowsWhere("snis", "certificate", obj["id"].(string))
	names := make([]any, 0, len(rows))
	for _, r := range rows {
		names = append(names, r["name"])
	}
	sort.Slice(names, func(i, j int) bool { return names[i].(string) < names[j].(string) })
	out := cloneObject(obj)
	out["snis"] = names
	return out
}

func snisDef() *entityDef {
	return &entityDef{
		name: "snis", path: "snis", endpointKey: "name",
		fields: []*field{
			tdID(), tdCreatedAt(), tdUpdatedAt(),
			fString("name").Required().Unique().Indexed().Check(checkRouteHost),
			tdTags(),
			fForeign("certificate", "certificates").Required().OnDelete("cascade"),
		},
	}
}

func caCertificatesDef() *entityDef {
	return &entityDef{
		name: "ca_certificates", path: "ca_certificates",
		fields: []*field{
			tdID(), tdCreatedAt(), tdUpdatedAt(),
			fString("cert").Required().Referenceable(),
			fString("cert_digest").Unique(),
			tdTags(),
		},
		finish: func(s *Server, obj, _ map[string]any) *apiError {
			c, _ := obj["cert"].(string)
			cert, err := parseCertPEM(c)
			if err != nil {
				return schemaViolation(fieldErrors{"cert": "invalid certificate: " + err.Error()})
			}
			if !cert.IsCA {
				return schemaViolation(fieldErrors{"cert": `certificate does not appear to be a CA because it is missing the "CA" basic constraint`})
			}
			if cert.NotAfter.Before(s.now()) {
				return schemaViolation(fieldErrors{"cert": `certificate expired, "Not After" time is in the past`})
			}
			sum := sha256.Sum256(cert.Raw)
			obj["cert_digest"] = hex.EncodeToString(sum[:])
			return nil
		},
	}
}
