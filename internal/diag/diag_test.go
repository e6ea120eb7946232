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
