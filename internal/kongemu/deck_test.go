package kongemu

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// deckBinary returns the Debian decK (1.4.0) binary; its absence is a test
// failure, not a skip, because CI installs it.
func deckBinary(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("deck")
	if err != nil {
		t.Fatal("deck not found: install Debian package deck (.ci/run does)")
	}
	return path
}

type deckRunner struct {
	t    *testing.T
	bin  string
	addr string
	dir  string
	args []string // extra global flags (e.g. --headers)
}

func (d *deckRunner) run(args ...string) (string, error) {
	d.t.Helper()
	full := append([]string{}, args...)
	full = append(full, "--kong-addr", d.addr, "--no-color")
	full = append(full, d.args...)
	cmd := exec.CommandContext(d.t.Context(), d.bin, full...)
	cmd.Dir = d.dir
	// decK 1.4.0 has no --analytics flag (it came with 1.5); the variable
	// keeps newer builds quiet and is ignored by 1.4.0.
	cmd.Env = append(os.Environ(), "DECK_ANALYTICS=off", "HOME="+d.dir)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	err := cmd.Run()
	if err != nil {
		return out.String(), fmt.Errorf("deck %s: %w\n%s", strings.Join(args, " "), err, out.String())
	}
	return out.String(), nil
}

func (d *deckRunner) mustRun(args ...string) string {
	d.t.Helper()
	out, err := d.run(args...)
	if err != nil {
		d.t.Fatal(err)
	}
	return out
}

// summary extracts decK's "Summary: Created: N Updated: N Deleted: N".
func summary(out string) string {
	flat := strings.Join(strings.Fields(out), " ")
	i := strings.Index(flat, "Created:")
	if i < 0 {
		return ""
	}
	s := flat[i:]
	if j := strings.Index(s, "Deleted:"); j >= 0 {
		rest := strings.Fields(s[j:])
		if len(rest) >= 2 {
			return s[:j] + rest[0] + " " + rest[1]
		}
	}
	return s
}

func newDeck(t *testing.T, emu *Server, extra ...string) *deckRunner {
	t.Helper()
	bin := deckBinary(t)
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	data, err := os.ReadFile("testdata/kong.yaml")
	if err != nil {
		t.Fatalf("read testdata: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "kong.yaml"), data, 0o600); err != nil {
		t.Fatalf("copy testdata: %v", err)
	}
	return &deckRunner{t: t, bin: bin, addr: srv.URL, dir: dir, args: extra}
}

func TestDeck(t *testing.T) {
	emu := New(Options{})
	d := newDeck(t, emu)

	out := d.mustRun("sync", "-s", "kong.yaml")
	if got, want := summary(out), "Created: 18 Updated: 0 Deleted: 0"; got != want {
		t.Fatalf("deck sync summary %q, want %q\n%s", got, want, out)
	}
	want := map[string]int{
		"services": 2, "routes": 2, "plugins": 6, "consumers": 2,
		"key-auths": 2, "acls": 1, "upstreams": 1, "targets": 2,
	}
	for entity, n := range want {
		if got := emu.Count(entity); got != n {
			t.Errorf("after deck sync: %d %s, want %d", got, entity, n)
		}
	}

	emu.ResetStats()
	out = d.mustRun("diff", "-s", "kong.yaml")
	if got, want := summary(out), "Created: 0 Updated: 0 Deleted: 0"; got != want {
		t.Fatalf("deck diff summary %q, want %q\n%s", got, want, out)
	}
	if emu.Writes() != 0 {
		t.Fatalf("deck diff wrote: %v", emu.Stats())
	}

	out = d.mustRun("sync", "-s", "kong.yaml")
	if got, want := summary(out), "Created: 0 Updated: 0 Deleted: 0"; got != want || emu.Writes() != 0 {
		t.Fatalf("second deck sync %q with %d writes, want no-op\n%s", got, emu.Writes(), out)
	}

	d.mustRun("dump", "-o", "out.yaml")
	assertSameState(t, filepath.Join(d.dir, "kong.yaml"), filepath.Join(d.dir, "out.yaml"))

	checkSyncedAPI(t, &apiClient{t: t, base: d.addr, http: http.DefaultClient})

	// Removing a service and a consumer from the file deletes them (with
	// their routes, plugins and credentials).
	shrinkState(t, filepath.Join(d.dir, "kong.yaml"), filepath.Join(d.dir, "small.yaml"))
	out = d.mustRun("sync", "-s", "small.yaml")
	if got, want := summary(out), "Created: 0 Updated: 0 Deleted: 5"; got != want {
		t.Fatalf("shrinking sync %q, want %q\n%s", got, want, out)
	}
	if got, want := summary(d.mustRun("diff", "-s", "small.yaml")), "Created: 0 Updated: 0 Deleted: 0"; got != want {
		t.Fatalf("diff after shrinking %q", got)
	}

	d.mustRun("reset", "--force")
	for _, entity := range []string{"services", "routes", "plugins", "consumers", "key-auths", "acls", "upstreams", "targets"} {
		if n := emu.Count(entity); n != 0 {
			t.Errorf("after deck reset: %d %s left", n, entity)
		}
	}
}

func TestDeckAdminToken(t *testing.T) {
	emu := New(Options{AdminToken: "s3cret"})
	anon := newDeck(t, emu)
	if out, err := anon.run("ping"); err == nil {
		t.Fatalf("deck ping without token succeeded:\n%s", out)
	}
	authed := newDeck(t, emu, "--headers", "Kong-Admin-Token:s3cret")
	authed.mustRun("ping")
	out := authed.mustRun("sync", "-s", "kong.yaml")
	if got := summary(out); got != "Created: 18 Updated: 0 Deleted: 0" {
		t.Fatalf("deck sync with token: %q\n%s", got, out)
	}
}

// assertSameState compares two decK state files entity by entity,
// ignoring comments and list order.
func assertSameState(t *testing.T, wantPath, gotPath string) {
	t.Helper()
	load := func(p string) any {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatalf("read %s: %v", p, err)
		}
		var v any
		if err := yaml.Unmarshal(data, &v); err != nil {
			t.Fatalf("parse %s: %v", p, err)
		}
		return canonicalState(v)
	}
	want, got := load(wantPath), load(gotPath)
	if !reflect.DeepEqual(want, got) {
		wb, _ := yaml.Marshal(want)
		gb, _ := yaml.Marshal(got)
		t.Fatalf("deck dump differs from the synced file\n--- want\n%s\n--- got\n%s", wb, gb)
	}
}

// canonicalState sorts lists of entities by their natural key.
func canonicalState(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, x := range t {
			out[k] = canonicalState(x)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, x := range t {
			out[i] = canonicalState(x)
		}
		sort.SliceStable(out, func(i, j int) bool { return naturalKey(out[i]) < naturalKey(out[j]) })
		return out
	}
	return v
}

func naturalKey(v any) string {
	m, ok := v.(map[string]any)
	if !ok {
		return ""
	}
	for _, k := range []string{"name", "username", "target", "key", "group"} {
		if s, ok := m[k].(string); ok {
			return k + "=" + s
		}
	}
	return ""
}

// checkSyncedAPI exercises Admin API rules on the state decK synced.
func checkSyncedAPI(t *testing.T, c *apiClient) {
	t.Helper()
	out := c.must(409, "POST", "/services", map[string]any{"name": "orders", "host": "x"})
	if out["name"] != "unique constraint violation" {
		t.Errorf("duplicate service: %v", out)
	}
	c.must(409, "POST", "/consumers", map[string]any{"username": "alice"})
	out = c.must(400, "DELETE", "/services/orders", nil)
	if out["message"] != "an existing 'routes' entity references this 'services' entity" {
		t.Errorf("delete service with routes: %v", out)
	}
	names := func(path string) []string {
		var got []string
		for _, x := range c.must(200, "GET", path, nil)["data"].([]any) {
			got = append(got, x.(map[string]any)["name"].(string))
		}
		sort.Strings(got)
		return got
	}
	if got := names("/services?tags=k3sync,team-a"); !reflect.DeepEqual(got, []string{"orders"}) {
		t.Errorf("AND tags: %v", got)
	}
	if got := names("/services?tags=team-a/team-b"); !reflect.DeepEqual(got, []string{"billing", "orders"}) {
		t.Errorf("OR tags: %v", got)
	}
	if got := names("/services?tags=k3sync,team-b"); got != nil {
		t.Errorf("AND tags without match: %v", got)
	}
	seen := 0
	for path := "/plugins?size=1"; path != ""; {
		page := c.must(200, "GET", path, nil)
		seen += len(page["data"].([]any))
		path, _ = page["next"].(string)
	}
	if seen != 6 {
		t.Errorf("paging with size=1 walked %d plugins, want 6", seen)
	}
}

// shrinkState writes a copy of a decK file without the "billing" service
// and the "bob" consumer.
func shrinkState(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	drop := func(key, field, value string) {
		var kept []any
		for _, x := range doc[key].([]any) {
			if x.(map[string]any)[field] != value {
				kept = append(kept, x)
			}
		}
		doc[key] = kept
	}
	drop("services", "name", "billing")
	drop("consumers", "username", "bob")
	out, err := yaml.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, out, 0o600); err != nil {
		t.Fatal(err)
	}
}
