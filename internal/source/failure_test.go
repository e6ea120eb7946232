package source

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/k3sync/k3sync/internal/testenv/gitserver"
)

// TestFetchFailureKeepsLastRevision: a failed fetch is reported in Status
// and by Poll, keeps the last good revision, tells no subscriber, and the
// next successful fetch clears it.
func TestFetchFailureKeepsLastRevision(t *testing.T) {
	tests := []struct {
		name string
		// fail breaks the server; heal repairs it, or is nil when it
		// cannot be repaired.
		fail, heal func(*gitserver.HTTP)
		wantErr    string
	}{
		{
			name:    "server answers 500",
			fail:    func(s *gitserver.HTTP) { s.FailWith(http.StatusInternalServerError) },
			heal:    func(s *gitserver.HTTP) { s.FailWith(0) },
			wantErr: "500",
		},
		{
			name:    "server answers 503",
			fail:    func(s *gitserver.HTTP) { s.FailWith(http.StatusServiceUnavailable) },
			heal:    func(s *gitserver.HTTP) { s.FailWith(0) },
			wantErr: "503",
		},
		{
			name:    "server unreachable",
			fail:    func(s *gitserver.HTTP) { s.Close() },
			wantErr: "connection refused",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up, root := upstream(t)
			up.CopyDir(exampleRepo)
			h1 := up.Commit("Add the platform repo")
			srv := gitserver.NewHTTP(t, root)
			revs := newRecorder()
			p := newPoller(t, srv.RepoURL(up.Name), Auth{}, revs.option())
			good, err := p.Poll(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			revs.next(t)
			lastFetch := p.Status().LastFetch

			up.WriteFile("tenants/search/notes.md", "new\n")
			h2 := up.Commit("Notes")
			tt.fail(srv)
			for i := 1; i <= 2; i++ {
				rev, err := p.Poll(t.Context())
				if err == nil {
					t.Fatalf("poll %d: got %s, want an error", i, rev.Hash)
				}
				if !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), srv.RepoURL(up.Name)) {
					t.Errorf("poll %d: error %q, want the URL and %q", i, err, tt.wantErr)
				}
				want := Status{Last: good, LastError: err.Error(), ConsecutiveFailures: i}
				st := p.Status()
				if diff := cmp.Diff(want, st, cmpStatus); diff != "" {
					t.Errorf("status after failure %d (-want +got):\n%s", i, diff)
				}
				if !st.LastFetch.Equal(lastFetch) || !st.LastAttempt.After(lastFetch) {
					t.Errorf("status times: last fetch %v (want %v), last attempt %v (want later)", st.LastFetch, lastFetch, st.LastAttempt)
				}
			}
			revs.none(t)
			// The clone still serves the last good revision.
			if _, err := p.FS(h1); err != nil {
				t.Errorf("FS of the last good revision: %v", err)
			}
			if tt.heal == nil {
				return
			}
			tt.heal(srv)
			rev, err := p.Poll(t.Context())
			if err != nil {
				t.Fatalf("poll after recovery: %v", err)
			}
			if diff := cmp.Diff(Status{Last: rev}, p.Status(), cmpStatus); diff != "" || rev.Hash != h2 {
				t.Errorf("status after recovery, want %s (-want +got):\n%s", h2, diff)
			}
			if got := revs.next(t).Hash; got != h2 {
				t.Errorf("revision reported: %s, want %s", got, h2)
			}
		})
	}
}

// TestBranchNotFound: a missing branch is ErrRefNotFound.
func TestBranchNotFound(t *testing.T) {
	up, _ := upstream(t)
	up.CopyDir(exampleRepo)
	up.Commit("Add the platform repo")
	p, err := New(Config{URL: up.FileURL(), Branch: "production", Dir: t.TempDir()}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Poll(t.Context())
	if !errors.Is(err, ErrRefNotFound) {
		t.Fatalf("poll of a missing branch: %v, want ErrRefNotFound", err)
	}
	if !strings.Contains(err.Error(), "branch production") {
		t.Errorf("error %q does not name the branch", err)
	}
}

// TestPollCanceled: a poll the caller gave up is not a failure of the
// remote.
func TestPollCanceled(t *testing.T) {
	up, _ := upstream(t)
	up.CopyDir(exampleRepo)
	up.Commit("Add the platform repo")
	p := newPoller(t, up.FileURL(), Auth{})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := p.Poll(ctx); err == nil {
		t.Fatal("poll with a canceled context succeeded")
	}
	if diff := cmp.Diff(Status{}, p.Status()); diff != "" {
		t.Errorf("status (-want +got):\n%s", diff)
	}
}

// TestFetchTimeout: a server that never answers fails the fetch after the
// timeout, not never.
func TestFetchTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)
	p := newPoller(t, srv.URL+"/platform.git", Auth{}, WithTimeout(200*time.Millisecond))
	done := make(chan error, 1)
	go func() {
		_, err := p.Poll(t.Context())
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "timed out after 200ms") {
			t.Fatalf("poll: %v, want a timeout", err)
		}
	case <-time.After(waitTimeout):
		t.Fatalf("poll still running after %s", waitTimeout)
	}
	if st := p.Status(); st.ConsecutiveFailures != 1 {
		t.Errorf("status: %+v, want one failure", st)
	}
}
