package kongemu

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1" //nolint:gosec // checking Kong's basic-auth hashing
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"math/big"
	"reflect"
	"testing"
	"time"
)

func TestServiceURLAndDefaults(t *testing.T) {
	c, _ := newAPI(t, Options{})
	svc := c.must(201, "POST", "/services", map[string]any{"name": "s", "url": "https://api.example.com/v1/x"})
	want := map[string]any{
		"protocol": "https", "host": "api.example.com", "port": float64(443), "path": "/v1/x",
		"retries": float64(5), "connect_timeout": float64(60000), "read_timeout": float64(60000),
		"write_timeout": float64(60000), "enabled": true, "tls_verify": nil, "tls_verify_depth": nil,
		"tags": nil, "client_certificate": nil, "ca_certificates": nil,
	}
	for k, v := range want {
		if got, ok := svc[k]; !ok || !reflect.DeepEqual(got, v) {
			t.Errorf("service %s = %v (present %v), want %v", k, got, ok, v)
		}
	}
	if _, ok := svc["url"]; ok {
		t.Error("url must not be stored")
	}
	route := c.must(201, "POST", "/services/s/routes", map[string]any{"hosts": []string{"a.example"}})
	routeWant := map[string]any{
		"protocols": []any{"http", "https"}, "https_redirect_status_code": float64(426),
		"regex_priority": float64(0), "strip_path": true, "preserve_host": false,
		"request_buffering": true, "response_buffering": true, "path_handling": "v0",
		"service": map[string]any{"id": svc["id"]}, "name": nil, "paths": nil,
	}
	for k, v := range routeWant {
		if got := route[k]; !reflect.DeepEqual(got, v) {
			t.Errorf("route %s = %v, want %v", k, got, v)
		}
	}
	// PUT is a full replacement: omitted fields fall back to defaults.
	put := c.must(200, "PUT", "/services/s", map[string]any{"host": "other", "retries": 1})
	if put["id"] != svc["id"] || put["protocol"] != "http" || put["port"] != float64(80) || put["path"] != nil {
		t.Errorf("PUT replace: %v", put)
	}
	// PATCH merges.
	patched := c.must(200, "PATCH", "/services/"+svc["id"].(string), map[string]any{"port": 8443})
	if patched["host"] != "other" || patched["retries"] != float64(1) || patched["port"] != float64(8443) {
		t.Errorf("PATCH: %v", patched)
	}
	// PUT by name on a missing entity creates it.
	created := c.must(200, "PUT", "/services/brand-new", map[string]any{"host": "h"})
	if created["name"] != "brand-new" || !isUUID(created["id"].(string)) {
		t.Errorf("PUT create: %v", created)
	}
	got := c.must(200, "GET", "/routes/"+route["id"].(string)+"/service", nil)
	if got["id"] != svc["id"] {
		t.Errorf("/routes/{id}/service: %v", got)
	}
}

func TestSchemaViolations(t *testing.T) {
	c, _ := newAPI(t, Options{})
	out := c.must(400, "POST", "/services", map[string]any{"name": "s"})
	if out["code"] != float64(2) || out["name"] != "schema violation" ||
		out["message"] != "schema violation (host: required field missing)" {
		t.Fatalf("body %v", out)
	}
	out = c.must(400, "POST", "/services", map[string]any{"host": "h", "port": "x", "bogus": 1})
	fields := out["fields"].(map[string]any)
	if fields["port"] != "expected an integer" || fields["bogus"] != "unknown field" {
		t.Fatalf("fields %v", fields)
	}
	c.must(400, "POST", "/routes", map[string]any{"protocols": []string{"http"}})
	out = c.must(400, "POST", "/routes", map[string]any{
		"paths": []string{"/x"}, "service": map[string]any{"id": "8ed4ff3c-3c71-4bd5-b6cb-6b2ae5d9b8f6"},
	})
	if out["code"] != float64(4) {
		t.Fatalf("dangling foreign key: %v", out)
	}
	out = c.must(400, "POST", "/plugins", map[string]any{"name": "no-such-plugin"})
	if out["fields"].(map[string]any)["name"] == nil {
		t.Fatalf("unknown plugin: %v", out)
	}
	c.must(400, "POST", "/plugins", map[string]any{"name": "rate-limiting"})
	c.must(400, "POST", "/plugins", map[string]any{"name": "rate-limiting", "config": map[string]any{"minute": 10, "hour": 5}})
	c.must(201, "POST", "/consumers", map[string]any{"username": "u"})
	// key-auth cannot be scoped to a consumer (typedefs.no_consumer)
	c.must(400, "POST", "/consumers/u/plugins", map[string]any{"name": "key-auth"})
	c.must(400, "POST", "/consumers", map[string]any{"tags": []string{"x"}})
}

func TestPluginDefaultsAndPatch(t *testing.T) {
	c, _ := newAPI(t, Options{})
	p := c.must(201, "POST", "/plugins", map[string]any{"name": "rate-limiting", "config": map[string]any{"minute": 5}})
	cfg := p["config"].(map[string]any)
	if cfg["policy"] != "local" || cfg["limit_by"] != "consumer" || cfg["second"] != nil {
		t.Fatalf("config defaults %v", cfg)
	}
	if redis := cfg["redis"].(map[string]any); redis["port"] != float64(6379) || redis["host"] != nil {
		t.Fatalf("nested record defaults %v", redis)
	}
	if !reflect.DeepEqual(p["protocols"], []any{"grpc", "grpcs", "http", "https"}) || p["enabled"] != true {
		t.Fatalf("plugin defaults %v", p)
	}
	patched := c.must(200, "PATCH", "/plugins/"+p["id"].(string), map[string]any{"config": map[string]any{"hour": 100}})
	pc := patched["config"].(map[string]any)
	if pc["minute"] != float64(5) || pc["hour"] != float64(100) {
		t.Fatalf("PATCH must merge config: %v", pc)
	}
	schema := c.must(200, "GET", "/schemas/plugins/key-auth", nil)
	if len(schema["fields"].([]any)) == 0 {
		t.Fatal("empty plugin schema")
	}
	c.must(404, "GET", "/schemas/plugins/nope", nil)
	c.must(200, "GET", "/schemas/upstreams", nil)
	c.must(404, "GET", "/schemas/nope", nil)
	c.must(200, "POST", "/schemas/plugins/validate", map[string]any{"name": "cors"})
	c.must(400, "POST", "/schemas/plugins/validate", map[string]any{"name": "cors", "config": map[string]any{"max_age": "x"}})
	c.must(200, "POST", "/schemas/services/validate", map[string]any{"host": "h"})
	c.must(400, "POST", "/schemas/services/validate", map[string]any{})
	if n := len(c.must(200, "GET", "/plugins", nil)["data"].([]any)); n != 1 {
		t.Fatalf("validate stored something: %d plugins", n)
	}
}

func TestConsumerCascadeAndCredentials(t *testing.T) {
	c, emu := newAPI(t, Options{})
	cons := c.must(201, "POST", "/consumers", map[string]any{"username": "alice", "custom_id": "A-1"})
	cid := cons["id"].(string)
	if got := ids(t, c.must(200, "GET", "/consumers?custom_id=A-1", nil)); len(got) != 1 || got[0] != cid {
		t.Errorf("custom_id lookup: %v", got)
	}
	ka := c.must(201, "POST", "/consumers/alice/key-auth", map[string]any{})
	if k, _ := ka["key"].(string); len(k) != 32 {
		t.Errorf("generated key %q", ka["key"])
	}
	ba := c.must(201, "POST", "/consumers/alice/basic-auth", map[string]any{"username": "alice", "password": "pw"})
	sum := sha1.Sum([]byte("pw" + cid)) //nolint:gosec // Kong's scheme
	if ba["password"] != hex.EncodeToString(sum[:]) {
		t.Errorf("basic-auth password %v not hashed", ba["password"])
	}
	acl := c.must(201, "POST", "/consumers/alice/acls", map[string]any{"group": "admins"})
	c.must(200, "GET", "/acls/"+acl["id"].(string), nil)
	c.must(404, "GET", "/acls/admins", nil) // group names are only keys under a consumer
	c.must(409, "POST", "/consumers/alice/acls", map[string]any{"group": "admins"})
	c.must(200, "GET", "/consumers/alice/acls/admins", nil)
	c.must(201, "POST", "/consumers/alice/jwt", map[string]any{})
	c.must(201, "POST", "/consumers/alice/hmac-auth", map[string]any{"username": "alice-h"})
	c.must(201, "POST", "/consumers/alice/oauth2", map[string]any{"name": "app"})
	c.must(201, "POST", "/consumers/alice/plugins", map[string]any{"name": "rate-limiting", "config": map[string]any{"second": 1}})
	for _, p := range []string{"/key-auths", "/basic-auths", "/acls", "/jwts", "/hmac-auths", "/oauth2", "/mtls-auths"} {
		c.must(200, "GET", p, nil)
	}
	if got := c.must(200, "GET", "/key-auths/"+ka["key"].(string)+"/consumer", nil); got["id"] != cid {
		t.Errorf("/key-auths/{key}/consumer: %v", got)
	}
	c.must(204, "DELETE", "/consumers/alice", nil)
	for _, e := range []string{"key-auths", "basic-auths", "acls", "jwts", "hmac-auths", "oauth2", "plugins"} {
		if n := emu.Count(e); n != 0 {
			t.Errorf("consumer delete left %d %s", n, e)
		}
	}
	c.must(404, "GET", "/consumers/alice/key-auth", nil)
}

func TestUpstreamTargets(t *testing.T) {
	c, emu := newAPI(t, Options{})
	up := c.must(201, "POST", "/upstreams", map[string]any{"name": "svc.internal"})
	hc := up["healthchecks"].(map[string]any)["active"].(map[string]any)
	if hc["http_path"] != "/" || hc["https_sni"] != nil || up["slots"] != float64(10000) || up["algorithm"] != "round-robin" {
		t.Fatalf("upstream defaults %v", up)
	}
	tg := c.must(201, "POST", "/upstreams/svc.internal/targets", map[string]any{"target": "10.0.0.1"})
	if tg["target"] != "10.0.0.1:8000" || tg["weight"] != float64(100) {
		t.Fatalf("target %v", tg)
	}
	if _, ok := tg["created_at"].(float64); !ok {
		t.Fatalf("target created_at %T", tg["created_at"])
	}
	v6 := c.must(201, "POST", "/upstreams/svc.internal/targets", map[string]any{"target": "[::1]:9000"})
	if v6["target"] != "[0000:0000:0000:0000:0000:0000:0000:0001]:9000" {
		t.Fatalf("ipv6 target %v", v6["target"])
	}
	c.must(409, "POST", "/upstreams/svc.internal/targets", map[string]any{"target": "10.0.0.1:8000"})
	c.must(200, "GET", "/upstreams/svc.internal/targets/10.0.0.1:8000", nil)
	c.must(404, "PUT", "/upstreams/svc.internal/targets/5b2c5dc2-b5a5-4e55-8f6b-2a4c3f6a0a77", map[string]any{"target": "a:1"})
	if n := len(c.must(200, "GET", "/upstreams/svc.internal/targets", nil)["data"].([]any)); n != 2 {
		t.Fatalf("targets listed: %d", n)
	}
	c.must(404, "GET", "/targets", nil) // no top-level targets collection in Kong
	c.must(204, "DELETE", "/upstreams/svc.internal", nil)
	if n := emu.Count("targets"); n != 0 {
		t.Fatalf("upstream delete left %d targets", n)
	}
}

func selfSigned(t *testing.T, isCA bool) (certPEM, keyPEM string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "kongemu.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: isCA, BasicConstraintsValid: true, DNSNames: []string{"kongemu.test"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}))
}

func TestCertificatesAndSNIs(t *testing.T) {
	c, emu := newAPI(t, Options{})
	cert, key := selfSigned(t, false)
	crt := c.must(201, "POST", "/certificates", map[string]any{"cert": cert, "key": key, "snis": []string{"a.example", "b.example"}})
	if !reflect.DeepEqual(crt["snis"], []any{"a.example", "b.example"}) || emu.Count("snis") != 2 {
		t.Fatalf("certificate snis %v", crt["snis"])
	}
	c.must(409, "POST", "/snis", map[string]any{"name": "a.example", "certificate": map[string]any{"id": crt["id"]}})
	c.must(400, "POST", "/certificates", map[string]any{"cert": "junk", "key": key})
	ca, _ := selfSigned(t, true)
	cac := c.must(201, "POST", "/ca_certificates", map[string]any{"cert": ca})
	if d, _ := cac["cert_digest"].(string); len(d) != 64 {
		t.Fatalf("cert_digest %v", cac["cert_digest"])
	}
	c.must(409, "POST", "/ca_certificates", map[string]any{"cert": ca})
	c.must(400, "POST", "/ca_certificates", map[string]any{"cert": cert})
	c.must(204, "DELETE", "/certificates/"+crt["id"].(string), nil)
	if emu.Count("snis") != 0 {
		t.Fatal("certificate delete must drop its snis")
	}
}

func TestConsumerGroups(t *testing.T) {
	c, _ := newAPI(t, Options{})
	if n := len(c.must(200, "GET", "/consumer_groups", nil)["data"].([]any)); n != 0 {
		t.Fatalf("consumer groups: %d", n)
	}
	c.must(201, "POST", "/consumer_groups", map[string]any{"name": "gold"})
	c.must(201, "POST", "/consumers", map[string]any{"username": "alice"})
	c.must(201, "POST", "/consumer_groups/gold/consumers", map[string]any{"consumer": "alice"})
	g := c.must(200, "GET", "/consumer_groups/gold", nil)
	if g["consumer_group"].(map[string]any)["name"] != "gold" || len(g["consumers"].([]any)) != 1 {
		t.Fatalf("group object %v", g)
	}
	c.must(204, "DELETE", "/consumer_groups/gold/consumers/alice", nil)
	g = c.must(200, "GET", "/consumer_groups/gold", nil)
	if len(g["consumers"].([]any)) != 0 {
		t.Fatalf("membership not removed: %v", g)
	}
}
