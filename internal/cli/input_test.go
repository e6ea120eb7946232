package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/k3sync/k3sync/internal/diag"
)

// exampleCopy copies the example repo into a new folder inside a parent
// folder that also holds outside.cue, a valid tenant file.
func exampleCopy(t *testing.T) string {
	t.Helper()
	parent := t.TempDir()
	dir := filepath.Join(parent, "repo")
	if err := os.CopyFS(dir, os.DirFS(exampleRepo)); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(parent, "outside.cue"), []byte("package k3sync\n\npolicies: drift: \"revert\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func symlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

// TestValidateRepoFolderFailures: what validate says of repos it cannot
// read whole, as text and as JSON (always one document on stdout).
func TestValidateRepoFolderFailures(t *testing.T) {
	tests := []struct {
		name  string
		repo  func(t *testing.T) string
		wants diag.List
	}{{
		name:  "missing repo folder",
		repo:  func(t *testing.T) string { return filepath.Join(t.TempDir(), "nope") },
		wants: diag.List{{Message: "repo NOPE: stat NOPE: no such file or directory"}},
	}, {
		name: "link out of the repo",
		repo: func(t *testing.T) string {
			dir := exampleCopy(t)
			symlink(t, "../../../outside.cue", filepath.Join(dir, "tenants/search/more.cue"))
			return dir
		},
		wants: diag.List{{File: "tenants/search/more.cue", Line: 1, Column: 1, Message: `link to "../../../outside.cue" leaves the tenant's folder: a tenant's files may link only to files beside them in its own folder`}},
	}, {
		name: "absolute link",
		repo: func(t *testing.T) string {
			dir := exampleCopy(t)
			symlink(t, "/outside.cue", filepath.Join(dir, "tenants/search/more.cue"))
			return dir
		},
		wants: diag.List{{File: "tenants/search/more.cue", Line: 1, Column: 1, Message: `link to "/outside.cue" leaves the tenant's folder: a tenant's files may link only to files beside them in its own folder`}},
	}, {
		name: "unreadable file",
		repo: func(t *testing.T) string {
			dir := exampleCopy(t)
			symlink(t, "nowhere.cue", filepath.Join(dir, "tenants/search/dangling.cue"))
			return dir
		},
		wants: diag.List{{File: "tenants/search/dangling.cue", Line: 1, Column: 1, Message: "cannot read: file does not exist"}},
	}, {
		name: "file over the size limit",
		repo: func(t *testing.T) string {
			dir := exampleCopy(t)
			if err := os.WriteFile(filepath.Join(dir, "tenants/search/big.cue"), make([]byte, 300<<10), 0o644); err != nil {
				t.Fatal(err)
			}
			return dir
		},
		wants: diag.List{{File: "tenants/search/big.cue", Line: 1, Column: 1, Message: "file is 307200 bytes, the platform allows at most 262144 per tenant file (policy.input.maxFileBytes)"}},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			repo := tt.repo(t)
			want := tt.wants
			for i := range want {
				want[i].Message = replaceAll(want[i].Message, "NOPE", repo)
			}
			out, _, code := run(t, "validate", "--repo", repo, "--output", "json")
			if code != ExitError {
				t.Errorf("json: exit %d, want 1", code)
			}
			var got struct {
				Valid  *bool     `json:"valid"`
				Errors diag.List `json:"errors"`
			}
			if err := json.Unmarshal([]byte(out), &got); err != nil {
				t.Fatalf("stdout is not one JSON document: %v\n%s", err, out)
			}
			if got.Valid == nil || *got.Valid {
				t.Errorf("valid: %v, want false", got.Valid)
			}
			if diff := cmp.Diff(want, got.Errors); diff != "" {
				t.Errorf("json errors (-want +got):\n%s", diff)
			}
			out, errOut, code := run(t, "validate", "--repo", repo)
			if code != ExitError {
				t.Errorf("text: exit %d, want 1", code)
			}
			if text := out + errOut; !contains(text, want[0].Error()) {
				t.Errorf("text output %q does not say %q", text, want[0].Error())
			}
		})
	}
}

// TestRenderJSONFailure: render --output json of an invalid repo prints
// its errors as one JSON document on stdout.
func TestRenderJSONFailure(t *testing.T) {
	dir := exampleCopy(t)
	symlink(t, "../../../outside.cue", filepath.Join(dir, "tenants/search/more.cue"))
	out, errOut, code := run(t, "render", "--repo", dir, "--output", "json")
	if code != ExitError {
		t.Errorf("exit %d, want 1", code)
	}
	var got struct {
		Errors diag.List `json:"errors"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("stdout is not one JSON document: %v\n%s", err, out)
	}
	want := diag.List{{File: "tenants/search/more.cue", Line: 1, Column: 1, Message: `link to "../../../outside.cue" leaves the tenant's folder: a tenant's files may link only to files beside them in its own folder`}}
	if diff := cmp.Diff(want, got.Errors); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if errOut != "" {
		t.Errorf("stderr: %q", errOut)
	}
	// As text, the errors go to stderr as before.
	out, errOut, _ = run(t, "render", "--repo", dir)
	if out != "" || errOut != want[0].Error()+"\n" {
		t.Errorf("text: stdout %q, stderr %q", out, errOut)
	}
}

func replaceAll(s, old, new string) string { return strings.ReplaceAll(s, old, new) }

func contains(s, sub string) bool { return strings.Contains(s, sub) }
