package kongemu

import (
	"bytes"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"
)

// formField pairs, in order, stand for one body in every encoding.
type pairs [][2]string

func (p pairs) urlencoded() string {
	parts := make([]string, len(p))
	for i, kv := range p {
		parts[i] = url.QueryEscape(kv[0]) + "=" + url.QueryEscape(kv[1])
	}
	return strings.Join(parts, "&")
}

func (p pairs) multipart(t *testing.T) (string, []byte) {
	t.Helper()
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	for _, kv := range p {
		if err := w.WriteField(kv[0], kv[1]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return w.FormDataContentType(), b.Bytes()
}

// raw sends body as is with contentType.
func (c *apiClient) raw(method, path, contentType string, body []byte) (int, map[string]any) {
	c.t.Helper()
	req, err := http.NewRequestWithContext(c.t.Context(), method, c.base+path, bytes.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	var out map[string]any
	if len(data) > 0 {
		if err := json.Unmarshal(data, &out); err != nil {
			c.t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, data)
		}
	}
	return resp.StatusCode, out
}

// send sends one body in an encoding: "json" (the document), "form"
// (urlencoded pairs) or "multipart" (pairs).
func (c *apiClient) send(encoding, method, path string, doc map[string]any, form pairs) (int, map[string]any) {
	c.t.Helper()
	switch encoding {
	case "json":
		return c.call(method, path, doc)
	case "form":
		return c.raw(method, path, "application/x-www-form-urlencoded", []byte(form.urlencoded()))
	default:
		ct, body := form.multipart(c.t)
		return c.raw(method, path, ct, body)
	}
}

const (
	formServiceID  = "4c8ea2ad-2f0f-4f6a-9f55-0f2a8a0a1a01"
	formRouteID    = "4c8ea2ad-2f0f-4f6a-9f55-0f2a8a0a1a02"
	formConsumerID = "4c8ea2ad-2f0f-4f6a-9f55-0f2a8a0a1a03"
	formLimitID    = "4c8ea2ad-2f0f-4f6a-9f55-0f2a8a0a1a04"
	formKeyAuthID  = "4c8ea2ad-2f0f-4f6a-9f55-0f2a8a0a1a05"
	formDesktopID  = "4c8ea2ad-2f0f-4f6a-9f55-0f2a8a0a1a06"
)

// formWrites are the same writes as a JSON document and as form fields:
// services, routes, consumers and plugins (nested config), created, then
// patched.
var formWrites = []struct {
	method, path string
	doc          map[string]any
	form         pairs
}{
	{"POST", "/services", map[string]any{
		"id": formServiceID, "name": "payments", "protocol": "https", "host": "api.internal", "port": 8443,
		"path": "/v1", "retries": 3, "connect_timeout": 5000, "enabled": true, "tags": []any{"a", "b"},
	}, pairs{
		{"id", formServiceID}, {"name", "payments"}, {"protocol", "https"}, {"host", "api.internal"}, {"port", "8443"},
		{"path", "/v1"}, {"retries", "3"}, {"connect_timeout", "5000"}, {"enabled", "true"}, {"tags[]", "a"}, {"tags[]", "b"},
	}},
	{"POST", "/services/payments/routes", map[string]any{
		"id": formRouteID, "name": "payments-public", "paths": []any{"/payments", "/pay"}, "methods": []any{"GET", "POST"},
		"hosts": []any{"pay.example.com"}, "headers": map[string]any{"x-env": []any{"prod", "stage"}}, "strip_path": false,
		"regex_priority": 5, "https_redirect_status_code": 301,
	}, pairs{
		{"id", formRouteID}, {"name", "payments-public"}, {"paths[]", "/payments"}, {"paths[]", "/pay"},
		{"methods", "GET"}, {"methods", "POST"}, // a repeated name is an array too
		{"hosts", "pay.example.com"}, // one value of an array field
		{"headers[x-env][]", "prod"}, {"headers.x-env[]", "stage"},
		{"strip_path", "false"}, {"regex_priority", "5"}, {"https_redirect_status_code", "301"},
	}},
	{"POST", "/consumers", map[string]any{
		"id": formConsumerID, "username": "mobile", "custom_id": "m-1", "tags": []any{"team-payments"},
	}, pairs{
		{"id", formConsumerID}, {"username", "mobile"}, {"custom_id", "m-1"}, {"tags", "team-payments"},
	}},
	{"POST", "/plugins", map[string]any{
		"id": formLimitID, "name": "rate-limiting", "service": map[string]any{"id": formServiceID},
		"config":    map[string]any{"minute": 5, "hour": 100, "policy": "local", "fault_tolerant": false},
		"protocols": []any{"http", "https"},
	}, pairs{
		{"id", formLimitID}, {"name", "rate-limiting"}, {"service.id", formServiceID},
		{"config.minute", "5"}, {"config.hour", "100"}, {"config.policy", "local"}, {"config.fault_tolerant", "false"},
		{"protocols[1]", "http"}, {"protocols[2]", "https"},
	}},
	{"POST", "/routes/payments-public/plugins", map[string]any{
		"id": formKeyAuthID, "name": "key-auth",
		"config": map[string]any{"key_names": []any{"apikey", "x-api-key"}, "hide_credentials": true},
	}, pairs{
		{"id", formKeyAuthID}, {"name", "key-auth"},
		{"config.key_names[]", "apikey"}, {"config.key_names[]", "x-api-key"}, {"config.hide_credentials", "true"},
	}},
	{"PATCH", "/services/payments", map[string]any{"port": 9443, "tags": []any{"c"}, "read_timeout": 1500},
		pairs{{"port", "9443"}, {"tags[]", "c"}, {"read_timeout", "1500"}}},
	// What the k3sync dev banner suggests: curl -X PATCH .../routes/payments-public -d 'paths[]=/payments/v2'
	{"PATCH", "/routes/payments-public", map[string]any{"paths": []any{"/payments/v2"}},
		pairs{{"paths[]", "/payments/v2"}}},
	{"PATCH", "/consumers/mobile", map[string]any{"custom_id": "m-2"}, pairs{{"custom_id", "m-2"}}},
	// PATCH takes the plugin's schema from the stored row.
	{"PATCH", "/plugins/" + formLimitID, map[string]any{"config": map[string]any{"minute": 10}, "enabled": false},
		pairs{{"config.minute", "10"}, {"enabled", "false"}}},
	// PUT creates (an id in the URL keeps the stored rows comparable).
	{"PUT", "/consumers/" + formDesktopID, map[string]any{"username": "desktop", "custom_id": "d-1"},
		pairs{{"username", "desktop"}, {"custom_id", "d-1"}}},
}

// TestFormBodiesStoreWhatJSONStores: every write sent form-encoded or as
// multipart stores exactly what the same write in JSON stores.
func TestFormBodiesStoreWhatJSONStores(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	stored := map[string]map[string]any{}
	for _, encoding := range []string{"json", "form", "multipart"} {
		t.Run(encoding, func(t *testing.T) {
			c, _ := newAPI(t, Options{Now: func() time.Time { return now }})
			for _, w := range formWrites {
				want := http.StatusCreated
				if w.method != "POST" {
					want = http.StatusOK
				}
				if got, out := c.send(encoding, w.method, w.path, w.doc, w.form); got != want {
					t.Fatalf("%s %s: %d, want %d: %v", w.method, w.path, got, want, out)
				}
			}
			for _, path := range []string{"/services/payments", "/routes/payments-public", "/consumers/mobile", "/consumers/desktop",
				"/plugins/" + formLimitID, "/plugins/" + formKeyAuthID} {
				got := c.must(200, "GET", path, nil)
				if encoding == "json" {
					stored[path] = got
					continue
				}
				if !reflect.DeepEqual(got, stored[path]) {
					t.Errorf("GET %s:\n%s\nwant (as stored from JSON):\n%s", path, mustJSON(t, got), mustJSON(t, stored[path]))
				}
			}
		})
	}
	// The JSON writes did store what they said (the comparison above is
	// against something meaningful).
	if r := stored["/routes/payments-public"]; !reflect.DeepEqual(r["paths"], []any{"/payments/v2"}) || r["regex_priority"] != float64(5) {
		t.Errorf("route stored from JSON: %v", r)
	}
	if p := stored["/plugins/"+formLimitID]; p["config"].(map[string]any)["minute"] != float64(10) || p["config"].(map[string]any)["hour"] != float64(100) || p["enabled"] != false {
		t.Errorf("plugin stored from JSON: %v", p)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestFormBodiesRefuseWhatJSONRefuses: an unknown field, or a value of the
// wrong type, gets the same 400 in every encoding.
func TestFormBodiesRefuseWhatJSONRefuses(t *testing.T) {
	tests := []struct {
		name, path string
		doc        map[string]any
		form       pairs
	}{
		{"unknown field", "/services", map[string]any{"name": "s", "host": "h", "colour": "blue"},
			pairs{{"name", "s"}, {"host", "h"}, {"colour", "blue"}}},
		{"not a number", "/services", map[string]any{"name": "s", "host": "h", "port": "eighty"},
			pairs{{"name", "s"}, {"host", "h"}, {"port", "eighty"}}},
		{"not an integer", "/services", map[string]any{"name": "s", "host": "h", "retries": 1.5},
			pairs{{"name", "s"}, {"host", "h"}, {"retries", "1.5"}}},
		{"not a boolean", "/services", map[string]any{"name": "s", "host": "h", "enabled": "yes"},
			pairs{{"name", "s"}, {"host", "h"}, {"enabled", "yes"}}},
		{"two values of a string", "/consumers", map[string]any{"username": []any{"a", "b"}},
			pairs{{"username", "a"}, {"username", "b"}}},
		{"unknown config field", "/plugins", map[string]any{"name": "rate-limiting", "config": map[string]any{"minute": 5, "weekly": 1}},
			pairs{{"name", "rate-limiting"}, {"config.minute", "5"}, {"config.weekly", "1"}}},
		{"invalid config value", "/plugins", map[string]any{"name": "rate-limiting", "config": map[string]any{"minute": "often"}},
			pairs{{"name", "rate-limiting"}, {"config.minute", "often"}}},
		{"unknown plugin", "/plugins", map[string]any{"name": "no-such-plugin"}, pairs{{"name", "no-such-plugin"}}},
		{"invalid path", "/routes", map[string]any{"paths": []any{"no-slash"}}, pairs{{"paths[]", "no-slash"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var want map[string]any
			for _, encoding := range []string{"json", "form", "multipart"} {
				c, _ := newAPI(t, Options{})
				status, out := c.send(encoding, "POST", tt.path, tt.doc, tt.form)
				if status != http.StatusBadRequest {
					t.Fatalf("%s: status %d, want 400: %v", encoding, status, out)
				}
				if encoding == "json" {
					want = out
					continue
				}
				if !reflect.DeepEqual(out, want) {
					t.Errorf("%s: %v\nwant (as JSON answers): %v", encoding, out, want)
				}
			}
		})
	}
}

func TestFormBodyDetails(t *testing.T) {
	c, _ := newAPI(t, Options{})
	// "" is null; a JSON part of a multipart body is JSON.
	status, svc := c.raw("POST", "/services", "application/x-www-form-urlencoded", []byte("name=s&host=h&tls_verify_depth=&tags="))
	if status != 201 || svc["tls_verify_depth"] != nil || svc["tags"] != nil {
		t.Errorf("empty values: %d %v", status, svc)
	}
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	_ = w.WriteField("name", "rate-limiting")
	part, err := w.CreatePart(map[string][]string{"Content-Disposition": {`form-data; name="config"`}, "Content-Type": {"application/json"}})
	if err != nil {
		t.Fatal(err)
	}
	_, _ = part.Write([]byte(`{"second": 7, "policy": "local"}`))
	_ = w.Close()
	status, p := c.raw("POST", "/plugins", w.FormDataContentType(), b.Bytes())
	if status != 201 || p["config"].(map[string]any)["second"] != float64(7) {
		t.Errorf("JSON part: %d %v", status, p)
	}
	// Consumer group membership takes the consumer as a form field too.
	c.must(201, "POST", "/consumers", map[string]any{"username": "u"})
	c.must(201, "POST", "/consumer_groups", map[string]any{"name": "g"})
	if status, out := c.raw("POST", "/consumer_groups/g/consumers", "application/x-www-form-urlencoded", []byte("consumer=u")); status != 201 {
		t.Errorf("group member: %d %v", status, out)
	}
	// Other media types are still refused; a broken form is a 400.
	if status, _ := c.raw("POST", "/consumers", "text/plain", []byte("username=x")); status != http.StatusUnsupportedMediaType {
		t.Errorf("text/plain: %d", status)
	}
	if status, _ := c.raw("POST", "/consumers", "application/x-www-form-urlencoded", []byte("username=%zz")); status != http.StatusBadRequest {
		t.Errorf("bad escape: %d", status)
	}
	if status, _ := c.raw("POST", "/consumers", "multipart/form-data", []byte("username=x")); status != http.StatusBadRequest {
		t.Errorf("multipart without boundary: %d", status)
	}
}

func TestFormPath(t *testing.T) {
	tests := map[string][]pathElem{
		"name":                  {{key: "name"}},
		"config.minute":         {{key: "config"}, {key: "minute"}},
		"paths[]":               {{key: "paths"}, {list: true}},
		"paths[2]":              {{key: "paths"}, {list: true, index: 2}},
		"headers[x-env][]":      {{key: "headers"}, {key: "x-env"}, {list: true}},
		"headers.x-env[]":       {{key: "headers"}, {key: "x-env"}, {list: true}},
		"config.headers[x.y][]": {{key: "config"}, {key: "headers"}, {key: "x.y"}, {list: true}},
		"destinations[1].ip":    {{key: "destinations"}, {list: true, index: 1}, {key: "ip"}},
		"a[][]":                 {{key: "a"}, {list: true}, {list: true}},
		"config..minute":        {{key: "config"}, {key: "minute"}},
		".hidden":               {{key: ".hidden"}},
		"trailing.":             {{key: "trailing."}},
		"[]":                    {{key: "[]"}},
		"open[":                 {{key: "open["}},
	}
	for name, want := range tests {
		if got := formPath(name); !reflect.DeepEqual(got, want) {
			t.Errorf("formPath(%q) = %+v, want %+v", name, got, want)
		}
	}
}
