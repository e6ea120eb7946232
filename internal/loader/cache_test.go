package loader

import (
	"fmt"
	"maps"
	"os"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"

	"github.com/k3sync/k3sync/internal/diag"
	"github.com/k3sync/k3sync/internal/model"
)

// nsTenant is a tenant file claiming namespaces on eu-west, each with the
// given pods.
func nsTenant(pods int, namespaces ...string) string {
	var b strings.Builder
	b.WriteString("package k3sync\n\nowners: [\"team@example.com\"]\n\nkubernetes: {\n\tclusters: [\"eu-west\"]\n")
	for _, ns := range namespaces {
		fmt.Fprintf(&b, "\tnamespaces: %q: quota: {requests: {cpu: \"1\", memory: \"1Gi\"}, pods: %d}\n", ns, pods)
	}
	b.WriteString("}\n")
	return b.String()
}

// revision edits the repo of the previous revision.
type revision struct {
	name string
	edit func(fsys fstest.MapFS)
	// evaluated is how many tenant folders a load with the cache
	// evaluates; kept is how many entries the cache keeps after it.
	evaluated, kept int
	// want is an error line the load must report ("" for a valid repo).
	want string
}

func set(name, src string) func(fstest.MapFS) {
	return func(fsys fstest.MapFS) { fsys[name] = &fstest.MapFile{Data: []byte(src)} }
}

// TestIncrementalLoadEqualsFullLoad loads a sequence of revisions with and
// without a cache, in process and in the sandbox: each load with the cache
// returns what a full load of the same tree returns, model and every
// diagnostic with its position, while evaluating only the tenant folders
// whose bytes changed (all of them when platform.cue changes).
func TestIncrementalLoadEqualsFullLoad(t *testing.T) {
	platform := testPlatform(t)
	b1 := "package k3sync\n\nowners: [\"b@example.com\"]\n\nkubernetes: clusters: [\"eu-west\"]\n"
	b2 := "package k3sync\n\nkubernetes: namespaces: b: quota: {requests: {cpu: \"2\", memory: \"1Gi\"}, pods: 10}\n"
	revisions := []revision{
		{name: "first load", edit: func(fstest.MapFS) {}, evaluated: 4, kept: 4},
		{name: "same tree again", edit: func(fstest.MapFS) {}, evaluated: 0, kept: 4},
		{name: "edit one tenant", edit: set("tenants/b/quota.cue", strings.Replace(b2, `cpu: "2"`, `cpu: "3"`, 1)), evaluated: 1, kept: 4},
		{name: "add a tenant", edit: set("tenants/d/tenant.cue", nsTenant(10, "d", "d-jobs")), evaluated: 1, kept: 5},
		{name: "remove a tenant", edit: func(fsys fstest.MapFS) { delete(fsys, "tenants/c/tenant.cue") }, evaluated: 0, kept: 4},
		{
			name: "break a tenant", edit: set("tenants/b/quota.cue", strings.Replace(b2, "pods: 10", `pods: "ten"`, 1)),
			evaluated: 1, kept: 4, want: "tenants/b/quota.cue:3:",
		},
		{
			name: "same broken tree again", edit: func(fstest.MapFS) {},
			evaluated: 0, kept: 4, want: "tenants/b/quota.cue:3:",
		},
		{name: "fix it", edit: set("tenants/b/quota.cue", b2), evaluated: 1, kept: 4},
		{
			name: "a policy error in one tenant", edit: set("tenants/d/tenant.cue", nsTenant(10, "d", "zz")),
			evaluated: 1, kept: 4, want: `tenants/d/tenant.cue:8:14: kubernetes.namespaces.zz: namespace "zz" is outside tenant d's prefix`,
		},
		{
			name: "the policy error located again from the cache", edit: func(fstest.MapFS) {},
			evaluated: 0, kept: 4, want: `tenants/d/tenant.cue:8:14: kubernetes.namespaces.zz: namespace "zz" is outside tenant d's prefix`,
		},
		{
			// a-b is unchanged: its error comes from its kept evaluation
			// and its position from its files.
			name: "a changed tenant claims an unchanged tenant's namespace", edit: set("tenants/a/tenant.cue", nsTenant(10, "a", "a-b")),
			evaluated: 1, kept: 4,
			want: `tenants/a-b/tenant.cue:7:14: kubernetes.namespaces."a-b": namespace "a-b" is already claimed by tenant a (tenants/a/tenant.cue)`,
		},
		{
			// Tenant folders are evaluated against the schema, not the
			// platform: a cluster's capacity is checked again over the
			// kept models.
			name: "platform.cue lowers a capacity: no tenant again, capacity across tenants",
			edit: set("platform.cue", strings.Replace(string(platform), "pods: 2000", "pods: 35", 1)),
			// a: 2 namespaces, a-b: 1, b: 1, d: 2 at 10 pods each.
			evaluated: 0, kept: 4,
			want: "tenants' quotas allow 60 pods on cluster eu-west, more than its capacity 35",
		},
		{name: "the conflict resolved", edit: set("tenants/a/tenant.cue", nsTenant(1, "a")), evaluated: 1, kept: 4, want: "tenants' quotas allow 41 pods"},
		{
			// The input limits decide what of a folder is read and how
			// its evaluation is bounded: every folder again.
			name: "platform.cue changes policy.input: every tenant again",
			edit: func(fsys fstest.MapFS) {
				src := strings.Replace(string(fsys["platform.cue"].Data), "policy: {", "policy: {\n\tinput: maxFileBytes: 64Ki", 1)
				set("platform.cue", src)(fsys)
			},
			evaluated: 4, kept: 4, want: "tenants' quotas allow 41 pods",
		},
		{
			name: "platform.cue tightens policy.input below a tenant's file",
			edit: func(fsys fstest.MapFS) {
				src := strings.Replace(string(fsys["platform.cue"].Data), "maxFileBytes: 64Ki", "maxFileBytes: 100", 1)
				set("platform.cue", src)(fsys)
			},
			// tenants/b/quota.cue is under 100 bytes; every other file is
			// over and its tenant is not evaluated.
			evaluated: 1, kept: 1, want: "policy.input.maxFileBytes",
		},
		{
			name:      "a broken platform.cue: tenants are still checked as before",
			edit:      set("platform.cue", "package k3sync\n\nclusters: 1\n"),
			evaluated: 4, kept: 4, want: "platform.cue:3:",
		},
	}
	for _, mode := range []string{"in-process", "sandbox"} {
		t.Run(mode, func(t *testing.T) {
			opts := Options{ReservedNamespaces: []string{"k3sync-system"}}
			if mode == "sandbox" {
				opts.Sandbox = testSandbox(t)
			}
			fsys := fstest.MapFS{
				"platform.cue":           {Data: platform},
				"tenants/a/tenant.cue":   {Data: []byte(nsTenant(10, "a"))},
				"tenants/a-b/tenant.cue": {Data: []byte(nsTenant(10, "a-b"))},
				"tenants/b/tenant.cue":   {Data: []byte(b1)},
				"tenants/b/quota.cue":    {Data: []byte(b2)},
				"tenants/c/tenant.cue":   {Data: []byte(nsTenant(10, "c"))},
			}
			cached := opts
			cached.Cache = NewCache(1)
			for _, rev := range revisions {
				rev.edit(fsys)
				tree := maps.Clone(fsys)
				want, wantErr := LoadWith(t.Context(), tree, opts)
				before, _ := cached.Cache.counts()
				got, gotErr := LoadWith(t.Context(), tree, cached)
				after, _ := cached.Cache.counts()
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("%s: model differs from a full load (-full +incremental):\n%s", rev.name, diff)
				}
				if diff := cmp.Diff(diagnostics(t, wantErr), diagnostics(t, gotErr)); diff != "" {
					t.Errorf("%s: diagnostics differ from a full load (-full +incremental):\n%s", rev.name, diff)
				}
				if n := after - before; n != rev.evaluated {
					t.Errorf("%s: evaluated %d tenant folders, want %d", rev.name, n, rev.evaluated)
				}
				if n := cached.Cache.len(); n != rev.kept {
					t.Errorf("%s: the cache keeps %d entries, want %d", rev.name, n, rev.kept)
				}
				checkWant(t, rev, got, gotErr)
			}
		})
	}
}

// diagnostics is the diag.List of a load's error, nil without one.
func diagnostics(t *testing.T, err error) diag.List {
	t.Helper()
	if err == nil {
		return nil
	}
	l, ok := Validation(err)
	if !ok {
		t.Fatalf("not a validation error: %v", err)
	}
	return l
}

// checkWant checks that the load reports rev.want, or is valid.
func checkWant(t *testing.T, rev revision, repo *model.Repo, err error) {
	t.Helper()
	if rev.want == "" {
		if err != nil {
			t.Errorf("%s: %v", rev.name, err)
		} else if repo == nil || len(repo.Tenants) == 0 {
			t.Errorf("%s: no tenants loaded", rev.name)
		}
		return
	}
	for _, e := range diagnostics(t, err) {
		if strings.Contains(e.Error(), rev.want) {
			return
		}
	}
	t.Errorf("%s: no error %q in:\n%v", rev.name, rev.want, err)
}

// TestCacheKeyIsTheBytes: two folders with the same file names and sizes
// but other bytes are different entries, and so are the same bytes under
// other input limits or other options.
func TestCacheKeyIsTheBytes(t *testing.T) {
	limits := model.InputLimits{MaxFileBytes: 1 << 20, EvalTimeout: "10s"}
	base := baseKey(limits, Options{}, false)
	k := tenantKey(base, "tenants/a", []string{"tenants/a/t.cue"}, [][]byte{[]byte("x: 1")})
	for name, other := range map[string]cacheKey{
		"other bytes, same size":  tenantKey(base, "tenants/a", []string{"tenants/a/t.cue"}, [][]byte{[]byte("x: 2")}),
		"other folder":            tenantKey(base, "tenants/b", []string{"tenants/a/t.cue"}, [][]byte{[]byte("x: 1")}),
		"bytes moved to the name": tenantKey(base, "tenants/a", []string{"tenants/a/t.cuex: 1"}, [][]byte{nil}),
		"other file limit":        tenantKey(baseKey(model.InputLimits{MaxFileBytes: 1<<20 + 1, EvalTimeout: "10s"}, Options{}, false), "tenants/a", []string{"tenants/a/t.cue"}, [][]byte{[]byte("x: 1")}),
		"other eval timeout":      tenantKey(baseKey(model.InputLimits{MaxFileBytes: 1 << 20, EvalTimeout: "11s"}, Options{}, false), "tenants/a", []string{"tenants/a/t.cue"}, [][]byte{[]byte("x: 1")}),
		"other options":           tenantKey(baseKey(limits, Options{ReservedNamespaces: []string{"ops"}}, false), "tenants/a", []string{"tenants/a/t.cue"}, [][]byte{[]byte("x: 1")}),
		"sandboxed":               tenantKey(baseKey(limits, Options{}, true), "tenants/a", []string{"tenants/a/t.cue"}, [][]byte{[]byte("x: 1")}),
	} {
		if other == k {
			t.Errorf("%s: same key", name)
		}
	}
}

// TestIncrementalLoadExampleRepo: the example repo, every feature of the
// schema, loaded again from the cache (no folder evaluated, in the sandbox
// its models decoded from JSON) is the repo a full load returns.
func TestIncrementalLoadExampleRepo(t *testing.T) {
	for _, mode := range []string{"in-process", "sandbox"} {
		t.Run(mode, func(t *testing.T) {
			opts := Options{}
			if mode == "sandbox" {
				opts.Sandbox = testSandbox(t)
			}
			want, err := LoadWith(t.Context(), os.DirFS(exampleRepo), opts)
			if err != nil {
				t.Fatal(err)
			}
			opts.Cache = NewCache(1)
			for i := range 2 {
				got, err := LoadWith(t.Context(), os.DirFS(exampleRepo), opts)
				if err != nil {
					t.Fatalf("load %d: %v", i+1, err)
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("load %d differs from a full load (-full +incremental):\n%s", i+1, diff)
				}
			}
			if evaluated, reused := opts.Cache.counts(); evaluated != len(want.Tenants) || reused != len(want.Tenants) {
				t.Errorf("evaluated %d and reused %d tenant folders, want %d each", evaluated, reused, len(want.Tenants))
			}
		})
	}
}

// TestSandboxKeepsOnlyWhatItAsked: what a sandbox child answers for a
// folder it was handed as kept never replaces the cache's entry. The
// daemon's loads of its branch and of pull requests share one cache: a
// child evaluating a pull request's tree, whatever it answers, cannot
// change the model another load reuses for a tenant the pull request
// does not touch.
func TestSandboxKeepsOnlyWhatItAsked(t *testing.T) {
	platform := testPlatform(t)
	fsys := fstest.MapFS{
		"platform.cue":       {Data: platform},
		"tenants/a/t.cue":    {Data: []byte(nsTenant(1, "a"))},
		"tenants/b/t.cue":    {Data: []byte(nsTenant(1, "b"))},
		"tenants/b/more.cue": {Data: []byte("package k3sync\n")},
	}
	opts := Options{Cache: NewCache(4)}
	s, limits, errs, err := snapshot(fsys, opts)
	if err != nil || len(errs) > 0 {
		t.Fatalf("snapshot: %v %v", err, errs)
	}
	// The first load evaluates both folders.
	sc := s.useCache(opts, limits)
	if len(sc.reuseList()) != 0 {
		t.Fatalf("first load reuses %d folders", len(sc.reuseList()))
	}
	sc.keep(&childResponse{Units: []childUnit{
		{Dir: "tenants/a", Model: []byte(`{"name":"a"}`)},
		{Dir: "tenants/b", Model: []byte(`{"name":"b"}`)},
	}})
	// The second is handed both as kept, and answers another model for b.
	sc = s.useCache(opts, limits)
	if len(sc.reuseList()) != 2 {
		t.Fatalf("second load reuses %d folders, want 2", len(sc.reuseList()))
	}
	sc.keep(&childResponse{Units: []childUnit{{Dir: "tenants/b", Model: []byte(`{"name":"forged"}`)}}})
	// The third still gets b's own model.
	for _, u := range s.useCache(opts, limits).reuseList() {
		if u.Dir == "tenants/b" && string(u.Model) != `{"name":"b"}` {
			t.Errorf("b's kept model is %s, want the one its evaluation made", u.Model)
		}
	}
}
