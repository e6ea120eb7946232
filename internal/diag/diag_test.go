package diag

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestListSortedDeduplicates(t *testing.T) {
	var l List
	l.Addf(Position{File: "tenants/b/tenant.cue", Line: 3, Column: 2}, "owners", "empty")
	l.Addf(Position{File: "platform.cue", Line: 10, Column: 1}, "clusters.x", "bad")
	l.Addf(Position{File: "tenants/b/tenant.cue", Line: 3, Column: 2}, "owners", "empty")
	l.Addf(Position{File: "platform.cue", Line: 2, Column: 5}, "policy", "bad")
	got := l.Err().Error()
	want := "platform.cue:2:5: policy: bad\nplatform.cue:10:1: clusters.x: bad\ntenants/b/tenant.cue:3:2: owners: empty"
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
}

func TestEmptyListIsNoError(t *testing.T) {
	var l List
	if err := l.Err(); err != nil {
		t.Fatalf("empty list: got error %v", err)
	}
}

// A validation message quotes tenant input: printed, it stays on its line
// and sends no control character to the terminal.
func TestErrorEscapesTenantInput(t *testing.T) {
	var l List
	l.Addf(Position{File: "tenants/x\x1b[2J/tenant.cue", Line: 4, Column: 3}, "kafka.topics.\"x\\u001b[2J\"", "topic %q is outside the prefix", "x\x1b[2J\r\u202egnp.exe")
	l.Add(Error{File: "tenants/x/tenant.cue", Path: "owners", Message: "first line\nfake.cue:1:1: second\u2028third"})
	want := "tenants/x\\x1b[2J/tenant.cue:4:3: kafka.topics.\"x\\u001b[2J\": topic \"x\\x1b[2J\\r\\u202egnp.exe\" is outside the prefix\n" +
		"tenants/x/tenant.cue: owners: first line\\nfake.cue:1:1: second\\u2028third"
	if diff := cmp.Diff(want, l.Error()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if got := l[1].Message; got != "first line\nfake.cue:1:1: second\u2028third" {
		t.Errorf("the message itself changed: %q", got)
	}
}
