package kong

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"

	"github.com/k3sync/k3sync/internal/kongemu"
	"github.com/k3sync/k3sync/internal/state"
)

// deck runs Debian's decK (1.4.0) against url in dir. Its absence is a
// test failure, not a skip: CI installs it.
func deck(t testing.TB, url, dir string, args ...string) string {
	t.Helper()
	bin, err := exec.LookPath("deck")
	if err != nil {
		t.Fatal("deck not found: install Debian package deck (.ci/run does)")
	}
	cmd := exec.CommandContext(t.Context(), bin, append(args, "--kong-addr", url, "--no-color")...)
	cmd.Dir = dir
	// decK 1.4.0 has no --analytics flag; the variable quiets newer ones.
	cmd.Env = append(os.Environ(), "DECK_ANALYTICS=off", "HOME="+dir)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("deck %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

// deckSummary is decK's summary on one line.
func deckSummary(out string) string {
	flat := strings.Join(strings.Fields(out), " ")
	if i := strings.Index(flat, "Created:"); i >= 0 {
		return flat[i:]
	}
	return flat
}

// TestDeckSeesExample dumps the gateway with decK after k3sync applied
// the example repo: the dump holds exactly the example's Kong entities
// with their tags, and decK's diff of that dump is clean.
func TestDeckSeesExample(t *testing.T) {
	emu, url := emulator(t, kongemu.Options{})
	d := example(t)
	tg := newTarget(t, url, state.NewMemory(), newSink())
	mustApply(t, tg, d.Request())

	want := map[string]any{}
	for _, tn := range d.Tenants {
		k := tn.Kong
		if k == nil || k.Gateway != gateway {
			continue
		}
		tags := []any{"k3sync", "k3sync-tenant:" + tn.Name}
		for _, s := range k.Services {
			want["service "+s.Name] = tags
		}
		for _, r := range k.Routes {
			want["route "+r.Name] = tags
		}
		for _, p := range k.Plugins {
			want["plugin "+pluginName(p)] = tags
		}
		for _, c := range k.Consumers {
			want["consumer "+c.Username] = tags
			for _, g := range c.ACLGroups {
				want["acl-group "+c.Username+"/"+g] = tags
			}
			if c.KeyAuth {
				want["credential "+c.Username+"/key-auth"] = tags
			}
		}
		for _, u := range k.Upstreams {
			want["upstream "+u.Name] = tags
			for _, tg := range u.Targets {
				want["target "+u.Name+"/"+tg.Target] = tags
			}
		}
	}

	dir := t.TempDir()
	deck(t, url, dir, "dump", "-o", "all.yaml")
	// The dump holds keys: only entity names and tags are ever printed.
	if diff := cmp.Diff(want, dumpedEntities(t, filepath.Join(dir, "all.yaml"))); diff != "" {
		t.Errorf("deck dump (-want +got):\n%s", diff)
	}

	emu.ResetStats()
	if got := deckSummary(deck(t, url, dir, "diff", "-s", "all.yaml")); got != "Created: 0 Updated: 0 Deleted: 0" {
		t.Errorf("deck diff of the dump: %q", got)
	}
	deck(t, url, dir, "dump", "-o", "k3sync.yaml", "--select-tag", "k3sync")
	if got := deckSummary(deck(t, url, dir, "diff", "-s", "k3sync.yaml")); got != "Created: 0 Updated: 0 Deleted: 0" {
		t.Errorf("deck diff of the k3sync dump: %q", got)
	}
	if emu.Writes() != 0 {
		t.Errorf("deck wrote: %v", emu.Stats())
	}
}

// dumpedEntities lists the entities of a decK 1.4.0 dump by plan kind and
// name, with their tags.
func dumpedEntities(t *testing.T, path string) map[string]any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("parse deck dump: %v", err)
	}
	got := map[string]any{}
	list := func(m map[string]any, key string) []map[string]any {
		var out []map[string]any
		items, _ := m[key].([]any)
		for _, x := range items {
			out = append(out, x.(map[string]any))
		}
		return out
	}
	// A plugin is nested under one parent, and names any other by a
	// field (a consumer's plugin on a service).
	plugins := func(m map[string]any, kind, name string) {
		for _, p := range list(m, "plugins") {
			ref := func(field string) string {
				if v := p[field]; v != nil {
					return fmt.Sprint(v)
				}
				return ""
			}
			parents := map[string]string{"service": ref("service"), "route": ref("route"), "consumer": ref("consumer")}
			if kind != "" {
				parents[kind] = name
			}
			got["plugin "+pluginKey(parents["service"], parents["route"], parents["consumer"], fmt.Sprint(p["name"]))] = p["tags"]
		}
	}
	for _, s := range list(doc, "services") {
		got["service "+fmt.Sprint(s["name"])] = s["tags"]
		plugins(s, "service", fmt.Sprint(s["name"]))
		for _, r := range list(s, "routes") {
			got["route "+fmt.Sprint(r["name"])] = r["tags"]
			plugins(r, "route", fmt.Sprint(r["name"]))
		}
	}
	for _, c := range list(doc, "consumers") {
		u := fmt.Sprint(c["username"])
		got["consumer "+u] = c["tags"]
		plugins(c, "consumer", u)
		for _, a := range list(c, "acls") {
			got["acl-group "+u+"/"+fmt.Sprint(a["group"])] = a["tags"]
		}
		for _, k := range list(c, "keyauth_credentials") {
			got["credential "+u+"/key-auth"] = k["tags"]
		}
	}
	for _, u := range list(doc, "upstreams") {
		got["upstream "+fmt.Sprint(u["name"])] = u["tags"]
		for _, tg := range list(u, "targets") {
			got["target "+fmt.Sprint(u["name"])+"/"+fmt.Sprint(tg["target"])] = tg["tags"]
		}
	}
	plugins(doc, "", "")
	return got
}
