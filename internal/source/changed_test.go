package source

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestChanged lists exactly the files that differ between two commits.
func TestChanged(t *testing.T) {
	up, _ := upstream(t)
	up.CopyDir(exampleRepo)
	base := up.Commit("Add the platform repo")
	all := []string{
		"README.md", "platform.cue",
		"tenants/analytics/tenant.cue", "tenants/checkout/tenant.cue",
		"tenants/payments/tenant.cue", "tenants/search/tenant.cue",
	}
	tests := []struct {
		name   string
		change func()
		want   []string
	}{
		{
			name: "one tenant file modified",
			change: func() {
				up.WriteFile("tenants/search/tenant.cue", readFile(t, exampleRepo+"/tenants/search/tenant.cue")+"// x\n")
			},
			want: []string{"tenants/search/tenant.cue"},
		},
		{
			name: "tenant added",
			change: func() {
				up.WriteFile("tenants/ledger/tenant.cue", "package k3sync\n")
				up.WriteFile("tenants/ledger/topics.cue", "package k3sync\n")
			},
			want: []string{"tenants/ledger/tenant.cue", "tenants/ledger/topics.cue"},
		},
		{
			name:   "tenant removed",
			change: func() { up.Remove("tenants/analytics") },
			want:   []string{"tenants/analytics/tenant.cue"},
		},
		{
			name:   "file renamed",
			change: func() { up.Git("mv", "tenants/checkout/tenant.cue", "tenants/checkout/main.cue") },
			want:   []string{"tenants/checkout/main.cue", "tenants/checkout/tenant.cue"},
		},
		{
			name:   "tenant folder renamed",
			change: func() { up.Git("mv", "tenants/payments", "tenants/billing") },
			want:   []string{"tenants/billing/tenant.cue", "tenants/payments/tenant.cue"},
		},
		{
			name: "platform and a tenant",
			change: func() {
				up.WriteFile("platform.cue", readFile(t, exampleRepo+"/platform.cue")+"// x\n")
				up.WriteFile("tenants/search/notes.md", "x\n")
			},
			want: []string{"platform.cue", "tenants/search/notes.md"},
		},
		{
			name: "mode only",
			change: func() {
				if err := os.Chmod(filepath.Join(up.Work, "README.md"), 0o755); err != nil {
					t.Fatal(err)
				}
			},
			want: []string{"README.md"},
		},
		{
			name: "file replaced by a folder",
			change: func() {
				up.Remove("README.md")
				up.WriteFile("README.md/index.md", "x\n")
			},
			want: []string{"README.md", "README.md/index.md"},
		},
		{
			name:   "nothing",
			change: func() {},
			want:   nil,
		},
	}
	p := newPoller(t, up.FileURL(), Auth{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up.Git("reset", "--quiet", "--hard", base)
			tt.change()
			to := up.Commit(tt.name)
			if _, err := p.Poll(t.Context()); err != nil {
				t.Fatal(err)
			}
			got, err := p.Changed(base, to)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Changed (-want +got):\n%s", diff)
			}
			// The other way round lists the same paths.
			back, err := p.Changed(to, base)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, back); diff != "" {
				t.Errorf("Changed backwards (-want +got):\n%s", diff)
			}
		})
	}

	t.Run("from nothing", func(t *testing.T) {
		got, err := p.Changed("", base)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(all, got); diff != "" {
			t.Errorf("Changed from nothing (-want +got):\n%s", diff)
		}
	})
	t.Run("unknown commit", func(t *testing.T) {
		if _, err := p.Changed(base, "0123456789012345678901234567890123456789"); !errors.Is(err, ErrUnknownRevision) {
			t.Errorf("Changed to an unknown commit: %v, want ErrUnknownRevision", err)
		}
		if _, err := p.Changed("0123456789012345678901234567890123456789", base); !errors.Is(err, ErrUnknownRevision) {
			t.Errorf("Changed from an unknown commit: %v, want ErrUnknownRevision", err)
		}
	})
}
