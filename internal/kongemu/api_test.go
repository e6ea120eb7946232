package kongemu

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
)

type apiClient struct {
	t     *testing.T
	base  string
	http  *http.Client
	token string
}

func newAPI(t *testing.T, opts Options) (*apiClient, *Server) {
	t.Helper()
	emu := New(opts)
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	return &apiClient{t: t, base: srv.URL, http: srv.Client(), token: opts.AdminToken}, emu
}

// call performs a request and decodes the JSON object answer (nil for 204).
func (c *apiClient) call(method, path string, body any) (int, map[string]any) {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			c.t.Fatalf("marshal: %v", err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(c.t.Context(), method, c.base+path, rd)
	if err != nil {
		c.t.Fatalf("request: %v", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Kong-Admin-Token", c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("read body: %v", err)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return resp.StatusCode, nil
	}
	var out map[string]any
	if err := json.Unmarshal(data, &out); err != nil {
		c.t.Fatalf("%s %s: decode %q: %v", method, path, data, err)
	}
	return resp.StatusCode, out
}

// must performs a request and fails unless the status matches.
func (c *apiClient) must(status int, method, path string, body any) map[string]any {
	c.t.Helper()
	got, out := c.call(method, path, body)
	if got != status {
		c.t.Fatalf("%s %s: status %d, want %d: %v", method, path, got, status, out)
	}
	return out
}

func ids(t *testing.T, list map[string]any) []string {
	t.Helper()
	data, ok := list["data"].([]any)
	if !ok {
		t.Fatalf("no data array in %v", list)
	}
	var out []string
	for _, x := range data {
		out = append(out, x.(map[string]any)["id"].(string))
	}
	return out
}

func TestRootAndWorkspaces(t *testing.T) {
	c, _ := newAPI(t, Options{})
	root := c.must(200, "GET", "/", nil)
	if root["version"] != DefaultVersion {
		t.Errorf("version %v", root["version"])
	}
	if db := root["configuration"].(map[string]any)["database"]; db != "postgres" {
		t.Errorf("database %v", db)
	}
	avail := root["plugins"].(map[string]any)["available_on_server"].(map[string]any)
	for _, p := range []string{"key-auth", "rate-limiting", "cors", "acl", "request-transformer",
		"correlation-id", "prometheus", "basic-auth", "jwt"} {
		if avail[p] == nil {
			t.Errorf("plugin %s not available", p)
		}
	}
	out := c.must(404, "GET", "/workspaces", nil)
	if out["message"] != "Not found" {
		t.Errorf("workspaces body %v", out)
	}
	c.must(404, "GET", "/services/nope", nil)
}

func TestAdminToken(t *testing.T) {
	c, _ := newAPI(t, Options{AdminToken: "tok"})
	c.must(200, "GET", "/services", nil)
	c.token = "wrong"
	c.must(401, "GET", "/services", nil)
	c.token = ""
	c.must(401, "GET", "/", nil)
}

func TestDuplicateNameConflict(t *testing.T) {
	c, _ := newAPI(t, Options{})
	c.must(201, "POST", "/services", map[string]any{"name": "svc1", "host": "a.example"})
	out := c.must(409, "POST", "/services", map[string]any{"name": "svc1", "host": "b.example"})
	if out["code"] != float64(5) || out["name"] != "unique constraint violation" ||
		out["message"] != `UNIQUE violation detected on '{name="svc1"}'` {
		t.Fatalf("409 body %v", out)
	}
	if f := out["fields"].(map[string]any); f["name"] != "svc1" {
		t.Fatalf("409 fields %v", f)
	}
	c.must(201, "POST", "/consumers", map[string]any{"username": "alice"})
	c.must(409, "POST", "/consumers", map[string]any{"username": "alice"})
	c.must(201, "POST", "/consumers/alice/key-auth", map[string]any{"key": "k1"})
	c.must(409, "POST", "/consumers/alice/key-auth", map[string]any{"key": "k1"})
	// duplicated plugin on the same scope violates the plugins cache key
	c.must(201, "POST", "/services/svc1/plugins", map[string]any{"name": "cors"})
	c.must(409, "POST", "/services/svc1/plugins", map[string]any{"name": "cors"})
}

func TestDeleteServiceWithRoutes(t *testing.T) {
	c, emu := newAPI(t, Options{})
	svc := c.must(201, "POST", "/services", map[string]any{"name": "svc", "url": "http://up:8080/x"})
	route := c.must(201, "POST", "/services/svc/routes", map[string]any{"name": "r", "paths": []string{"/r"}})
	c.must(201, "POST", "/routes/r/plugins", map[string]any{"name": "key-auth"})
	c.must(201, "POST", "/services/svc/plugins", map[string]any{"name": "cors"})

	out := c.must(400, "DELETE", "/services/svc", nil)
	if out["message"] != "an existing 'routes' entity references this 'services' entity" || out["code"] != float64(4) {
		t.Fatalf("delete body %v", out)
	}
	c.must(204, "DELETE", "/routes/"+route["id"].(string), nil)
	if n := emu.Count("plugins"); n != 1 {
		t.Fatalf("route delete left %d plugins, want 1 (cascade)", n)
	}
	c.must(204, "DELETE", "/services/"+svc["id"].(string), nil)
	if n := emu.Count("plugins"); n != 0 {
		t.Fatalf("service delete left %d plugins", n)
	}
	c.must(204, "DELETE", "/services/svc", nil) // already gone: still 204
}

// TestNestedListFollowsMoves lists a service's routes after a route moved
// to another service, after a route was deleted and after one was put
// back: each list holds exactly the routes that point at that service, in
// primary-key order, as Kong's foreign key index serves them.
func TestNestedListFollowsMoves(t *testing.T) {
	c, _ := newAPI(t, Options{})
	a := c.must(201, "POST", "/services", map[string]any{"name": "a", "url": "http://a:8080"})
	b := c.must(201, "POST", "/services", map[string]any{"name": "b", "url": "http://b:8080"})
	var routes []string
	for _, n := range []string{"r1", "r2", "r3"} {
		r := c.must(201, "POST", "/services/a/routes", map[string]any{"name": n, "paths": []string{"/" + n}})
		routes = append(routes, r["id"].(string))
	}
	slices.Sort(routes)
	list := func(svc string) []string { return ids(t, c.must(200, "GET", "/services/"+svc+"/routes", nil)) }
	if got := list("a"); !slices.Equal(got, routes) {
		t.Fatalf("routes of a: %v, want %v", got, routes)
	}
	c.must(200, "PATCH", "/routes/"+routes[1], map[string]any{"service": map[string]any{"id": b["id"]}})
	if got, want := list("a"), []string{routes[0], routes[2]}; !slices.Equal(got, want) {
		t.Errorf("routes of a after a move: %v, want %v", got, want)
	}
	if got := list("b"); !slices.Equal(got, routes[1:2]) {
		t.Errorf("routes of b after a move: %v, want %v", got, routes[1:2])
	}
	c.must(204, "DELETE", "/routes/"+routes[0], nil)
	c.must(200, "PUT", "/routes/"+routes[1], map[string]any{"paths": []string{"/back"}, "service": map[string]any{"id": a["id"]}})
	if got, want := list("a"), []string{routes[1], routes[2]}; !slices.Equal(got, want) {
		t.Errorf("routes of a after a delete and a put: %v, want %v", got, want)
	}
	if got := list("b"); len(got) != 0 {
		t.Errorf("routes of b after the put: %v, want none", got)
	}
}

func TestTagFilters(t *testing.T) {
	c, _ := newAPI(t, Options{})
	mk := func(name string, tags ...string) string {
		return c.must(201, "POST", "/services", map[string]any{"name": name, "host": "h", "tags": tags})["id"].(string)
	}
	a := mk("a", "team-a", "prod")
	b := mk("b", "team-b", "prod")
	mk("c", "team-a")
	mk("d")

	and := ids(t, c.must(200, "GET", "/services?tags=team-a,prod", nil))
	if len(and) != 1 || and[0] != a {
		t.Fatalf("AND filter: %v", and)
	}
	or := ids(t, c.must(200, "GET", "/services?tags=team-b/prod", nil))
	if len(or) != 2 || !contains(or, a) || !contains(or, b) {
		t.Fatalf("OR filter: %v", or)
	}
	if got := ids(t, c.must(200, "GET", "/services?tags=prod", nil)); len(got) != 2 {
		t.Fatalf("single tag: %v", got)
	}
	c.must(400, "GET", "/services?tags=a,b/c", nil)
	tags := c.must(200, "GET", "/tags/prod", nil)
	if n := len(tags["data"].([]any)); n != 2 {
		t.Fatalf("/tags/prod: %d rows", n)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestPagingWalksAll(t *testing.T) {
	c, _ := newAPI(t, Options{})
	want := map[string]bool{}
	for i := range 7 {
		out := c.must(201, "POST", "/consumers", map[string]any{"username": fmt.Sprintf("u%d", i), "tags": []string{"t"}})
		want[out["id"].(string)] = true
	}
	for _, query := range []string{"size=1", "size=1&tags=t", "size=3"} {
		seen := map[string]bool{}
		path := "/consumers?" + query
		var last string
		for pages := 0; path != ""; pages++ {
			if pages > 20 {
				t.Fatal("paging does not terminate")
			}
			out := c.must(200, "GET", path, nil)
			for _, id := range ids(t, out) {
				if seen[id] {
					t.Fatalf("%s: id %s returned twice", query, id)
				}
				if id <= last {
					t.Fatalf("%s: order not stable: %s after %s", query, id, last)
				}
				last = id
				seen[id] = true
			}
			path = ""
			if next, ok := out["next"].(string); ok {
				if out["offset"] == nil || !strings.HasPrefix(next, "/consumers?") {
					t.Fatalf("bad next/offset: %v", out)
				}
				path = next
			}
		}
		if len(seen) != len(want) {
			t.Fatalf("%s: walked %d of %d", query, len(seen), len(want))
		}
	}
	c.must(400, "GET", "/consumers?size=0", nil)
	c.must(400, "GET", "/consumers?size=1001", nil)
	c.must(400, "GET", "/consumers?offset=!!!", nil)
	c.must(400, "GET", "/consumers?offset=bm90anNvbg", nil)
	if out := c.must(200, "GET", "/consumers?size=1000", nil); out["next"] != nil {
		t.Fatalf("last page next = %v", out["next"])
	}
}

func TestConcurrentWrites(t *testing.T) {
	c, emu := newAPI(t, Options{})
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for i := range 32 {
		wg.Go(func() {
			status, out := c.call("POST", "/services", map[string]any{"name": fmt.Sprintf("s%d", i%16), "host": "h"})
			if status != 201 && status != 409 {
				errs <- fmt.Sprintf("status %d: %v", status, out)
			}
			c.call("GET", "/services?size=5", nil)
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if n := emu.Count("services"); n != 16 {
		t.Fatalf("%d services, want 16", n)
	}
	if emu.Writes() != 32 || emu.Stats()["POST /services"] != 32 || emu.Reads() != 32 {
		t.Fatalf("stats: %v", emu.Stats())
	}
}
