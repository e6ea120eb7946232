package loader

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestSandboxBoundsPolicyChecks: the checks of a tenant's definitions are
// bounded as its evaluation is. A tenant whose checks run past the
// platform's evalTimeout is stopped and named, and every other tenant is
// still validated.
func TestSandboxBoundsPolicyChecks(t *testing.T) {
	t.Setenv(slowChecksEnv, "tenants/stall")
	// The stall is a minute; 3 s leaves the other tenants room on a busy
	// machine.
	fsys := sandboxRepo(t, `policy: input: evalTimeout: "3s"`, map[string]string{
		"tenants/stall/tenant.cue": "package k3sync\nowners: [\"s@example.com\"]\n",
	})
	_, err := LoadWith(t.Context(), fsys, Options{Sandbox: testSandbox(t)})
	lines := errorLines(t, err)
	if !hasLine(lines, "tenants/stall/tenant.cue:1:1: ", "evaluation took longer than 3s (policy.input.evalTimeout)") {
		t.Errorf("no time error for tenants/stall in:\n%s", strings.Join(lines, "\n"))
	}
	if !hasLine(lines, "tenants/broken/tenant.cue:", `Kafka cluster "nope" is not defined`) {
		t.Errorf("the other tenant's error is missing:\n%s", strings.Join(lines, "\n"))
	}
}

// TestManyAccessGrantsValidate: a tenant with 10,000 access grants (a
// model of 400 KB, within every input limit) validates within its
// evalTimeout, its one duplicate RoleBinding name reported. The check for
// duplicate names compared every grant with every earlier one: 10,000
// grants took about a minute, and held the validation of every tenant.
func TestManyAccessGrantsValidate(t *testing.T) {
	const n = 10000
	tenant := fmt.Sprintf(`package k3sync
import "list"
owners: ["x@example.com"]
kubernetes: {
	clusters: ["eu-west"]
	namespaces: many: quota: {requests: {cpu: "1", memory: "1Gi"}, pods: 10}
	access: list.Concat([[for i in list.Range(0, %d, 1) {group: "many-\(i)", role: "edit"}], [{group: "many-7", role: "edit"}]])
}
`, n)
	fsys := sandboxRepo(t, `policy: input: evalTimeout: "10s"`, map[string]string{"tenants/many/tenant.cue": tenant})
	_, err := LoadWith(t.Context(), fsys, Options{Sandbox: testSandbox(t)})
	lines := errorLines(t, err)
	want := fmt.Sprintf(`kubernetes.access.%d.name: RoleBinding name "k3sync:edit:many-7" (made of its group and role; set name) is also access[7]'s in namespace "many"`, n)
	if !hasLine(lines, "tenants/many/tenant.cue:", want) {
		t.Errorf("no error %q in:\n%s", want, strings.Join(lines, "\n"))
	}
	for _, l := range lines {
		if strings.HasPrefix(l, "tenants/many/") && !strings.Contains(l, want) {
			t.Errorf("unexpected error: %s", l)
		}
	}
}

// TestTrackerNestedProgress: locating an error in a tenant's files
// reports the tenant again while its checks are in progress; the tenant
// stays in flight, timed from the outer start, until the outer end.
func TestTrackerNestedProgress(t *testing.T) {
	tr := newTracker()
	pr, pw := io.Pipe()
	go tr.read(pr)
	say := func(lines ...string) {
		for _, l := range lines {
			if _, err := fmt.Fprintln(pw, l); err != nil {
				t.Fatal(err)
			}
		}
	}
	say(`B "tenants/a"`, `B "tenants/a"`, `E "tenants/a"`, `B "tenants/b"`, `E "tenants/b"`)
	_ = pw.Close()
	tr.wait()
	if got := tr.inFlight(); !slices.Equal(got, []string{"tenants/a"}) {
		t.Errorf("in flight after a nested end: %v, want [tenants/a]", got)
	}
	if _, late := tr.overdue(time.Hour); late {
		t.Errorf("overdue within the limit")
	}
	tr.started["tenants/a"].at = time.Now().Add(-2 * time.Hour)
	if dir, late := tr.overdue(time.Hour); !late || dir != "tenants/a" {
		t.Errorf("overdue: %q %v, want tenants/a", dir, late)
	}
}
