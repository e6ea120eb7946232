package reconcile

import (
	"context"
	"fmt"
	"io/fs"
	"testing"

	"github.com/k3sync/k3sync/internal/model"
	"github.com/k3sync/k3sync/internal/view"
)

// fakeChanged is a Source that only answers Changed.
type fakeChanged []string

func (f fakeChanged) Fetch(context.Context) (view.Commit, error) { return view.Commit{}, nil }
func (f fakeChanged) FS(string) (fs.FS, error)                   { return nil, fs.ErrNotExist }
func (f fakeChanged) Changed(string, string) ([]string, error)   { return f, nil }

func TestAffectedTenants(t *testing.T) {
	repo := &model.Repo{Tenants: []*model.Tenant{{Name: "a"}, {Name: "b"}, {Name: "c"}}}
	cur := &loaded{commit: view.Commit{Hash: "1"}, repo: repo}
	next := &loaded{commit: view.Commit{Hash: "2"}, repo: repo}
	for _, tc := range []struct {
		files    []string
		want     string
		complete bool
	}{
		{[]string{"README.md", ".github/workflows/ci.yml"}, "[]", false},
		{[]string{"tenants/b/tenant.cue", "tenants/b/kafka.cue", "README.md"}, "[b]", false},
		{[]string{"tenants/a/x.cue", "tenants/c/y.cue"}, "[a c]", false},
		{[]string{"platform.cue"}, "[a b c]", true},
		{[]string{"tenants/gone/tenant.cue"}, "[a b c]", true},
	} {
		got, complete := affected(cur, next, fakeChanged(tc.files))
		if fmt.Sprint(got) != tc.want || complete != tc.complete {
			t.Errorf("%v: got %v complete=%v, want %s complete=%v", tc.files, got, complete, tc.want, tc.complete)
		}
	}
	if got, complete := affected(nil, next, fakeChanged(nil)); len(got) != 3 || !complete {
		t.Errorf("first revision: %v %v", got, complete)
	}
}
