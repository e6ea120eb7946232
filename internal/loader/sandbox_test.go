package loader

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/k3sync/k3sync/internal/model"
)

// TestMain: the sandbox tests start this test binary as the evaluation
// child. A child started with slowChecksEnv set stalls the policy checks
// of the tenant folder it names.
func TestMain(m *testing.M) {
	if dir := os.Getenv(slowChecksEnv); dir != "" {
		checking = func(t *model.Tenant) {
			if t.Dir == dir {
				time.Sleep(time.Minute)
			}
		}
	}
	RunTests(m)
}

// slowChecksEnv names the tenant folder whose checks a child stalls.
const slowChecksEnv = "K3SYNC_TEST_SLOW_CHECKS"

func testSandbox(t *testing.T) *Sandbox {
	t.Helper()
	s, err := NewSandbox()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestSandboxEqualsInProcess: the example repo evaluated in the child is
// the repo evaluated in process, model and positions alike.
func TestSandboxEqualsInProcess(t *testing.T) {
	want, err := Load(os.DirFS(exampleRepo))
	if err != nil {
		t.Fatal(err)
	}
	got, err := LoadWith(t.Context(), os.DirFS(exampleRepo), Options{Sandbox: testSandbox(t)})
	if err != nil {
		t.Fatalf("sandbox: %v", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("sandbox result differs from in-process (-in-process +sandbox):\n%s", diff)
	}
}

// sandboxRepo is a valid platform with a well-behaved tenant, plus the
// given tenant files.
func sandboxRepo(t *testing.T, platformExtra string, files map[string]string) fstest.MapFS {
	t.Helper()
	platform := testPlatform(t)
	fsys := fstest.MapFS{
		"platform.cue":              {Data: append(platform, []byte("\n"+platformExtra)...)},
		"tenants/good/tenant.cue":   {Data: []byte("package k3sync\nowners: [\"good@example.com\"]\n")},
		"tenants/broken/tenant.cue": {Data: []byte("package k3sync\nowners: [\"b@example.com\"]\nkafka: {cluster: \"nope\"}\n")},
	}
	for name, src := range files {
		fsys[name] = &fstest.MapFile{Data: []byte(src)}
	}
	return fsys
}

// errorLines returns the error's lines, or fails.
func errorLines(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		t.Fatal("loaded without error")
	}
	l, ok := Validation(err)
	if !ok {
		t.Fatalf("not a validation error: %v", err)
	}
	var out []string
	for _, e := range l {
		out = append(out, e.Error())
	}
	return out
}

func hasLine(lines []string, prefix, contains string) bool {
	for _, l := range lines {
		if strings.HasPrefix(l, prefix) && strings.Contains(l, contains) {
			return true
		}
	}
	return false
}

// TestSandboxBoundsMemory: a tenant that builds a huge string costs an
// error naming its file, whether the evaluation outgrows the memory limit
// or evaluates to more than k3sync holds per tenant; the other tenants are
// still evaluated and their own errors reported.
func TestSandboxBoundsMemory(t *testing.T) {
	for _, tc := range []struct {
		name      string
		doublings int
		want      string
	}{
		{"1GiB string", 26, "more than 512 MiB of memory (policy.input.maxEvalMemory)"},
		// 2^26 bytes of string, plus the rest of the tenant's model.
		{"64MiB string", 22, "tenant huge evaluates to 6710"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fsys := sandboxRepo(t, "", map[string]string{"tenants/huge/tenant.cue": hugeTenant(tc.doublings)})
			_, err := LoadWith(t.Context(), fsys, Options{Sandbox: testSandbox(t)})
			lines := errorLines(t, err)
			if !hasLine(lines, "tenants/huge/tenant.cue:1:1: ", tc.want) {
				t.Errorf("no error %q for tenants/huge in:\n%s", tc.want, strings.Join(lines, "\n"))
			}
			if !hasLine(lines, "tenants/broken/tenant.cue:", `Kafka cluster "nope" is not defined`) {
				t.Errorf("the other tenant's error is missing:\n%s", strings.Join(lines, "\n"))
			}
		})
	}
}

// hugeTenant is a tenant whose owner is a string of 16<<doublings bytes,
// built by doubling (CUE's strings.Repeat refuses large results).
func hugeTenant(doublings int) string {
	var b strings.Builder
	b.WriteString("package k3sync\n_a0: \"xxxxxxxxxxxxxxxx\"\n")
	for i := 1; i <= doublings; i++ {
		fmt.Fprintf(&b, "_a%d: _a%d + _a%d\n", i, i-1, i-1)
	}
	fmt.Fprintf(&b, "owners: [_a%d]\n", doublings)
	return b.String()
}

// TestSandboxBoundsTime: a tenant whose evaluation runs past the platform's
// evalTimeout is stopped and named.
func TestSandboxBoundsTime(t *testing.T) {
	fsys := sandboxRepo(t, `policy: input: evalTimeout: "1s"`, map[string]string{
		"tenants/slow/tenant.cue": slowTenant,
	})
	_, err := LoadWith(t.Context(), fsys, Options{Sandbox: testSandbox(t)})
	lines := errorLines(t, err)
	if !hasLine(lines, "tenants/slow/tenant.cue:1:1: ", "evaluation took longer than 1s (policy.input.evalTimeout)") {
		t.Errorf("no time error for tenants/slow in:\n%s", strings.Join(lines, "\n"))
	}
	if !hasLine(lines, "tenants/broken/tenant.cue:", `Kafka cluster "nope" is not defined`) {
		t.Errorf("the other tenant's error is missing:\n%s", strings.Join(lines, "\n"))
	}
}

// TestSandboxStopsAfterThreeCulprits: a repo full of folders that exceed
// the limits costs at most three of them, not one evaluation each.
func TestSandboxStopsAfterThreeCulprits(t *testing.T) {
	files := map[string]string{}
	for _, n := range []string{"s1", "s2", "s3", "s4", "s5", "s6"} {
		files["tenants/"+n+"/tenant.cue"] = slowTenant
	}
	fsys := sandboxRepo(t, `policy: input: evalTimeout: "1s"`, files)
	_, err := LoadWith(t.Context(), fsys, Options{Sandbox: testSandbox(t)})
	lines := errorLines(t, err)
	n := 0
	for _, l := range lines {
		if strings.Contains(l, "evaluation took longer than 1s") {
			n++
		}
	}
	if n < maxCulprits || n > maxCulprits+1 || !hasLine(lines, "tenants: ", "evaluation stopped: ") {
		t.Errorf("want %d (or, blamed together, %d) timeouts and a stop, got:\n%s", maxCulprits, maxCulprits+1, strings.Join(lines, "\n"))
	}
}

// slowTenant evaluates for minutes with little memory.
const slowTenant = `package k3sync
import "list"
owners: ["s@example.com"]
x: len([for i in list.Range(0, 30000, 1) for j in list.Range(0, 30000, 1) if i*j < 0 {i}])
`

// TestSandboxCancel: ending the context stops the child at once; the
// caller gets the context's error, not a validation error.
func TestSandboxCancel(t *testing.T) {
	fsys := sandboxRepo(t, "", map[string]string{"tenants/slow/tenant.cue": slowTenant})
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() {
		_, err := LoadWith(ctx, fsys, Options{Sandbox: testSandbox(t)})
		errc <- err
	}()
	// Let the child start on the slow tenant (it would take minutes, and
	// the default evalTimeout is 10 s), then cancel.
	time.Sleep(500 * time.Millisecond)
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
}
