package source

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/k3sync/k3sync/internal/testenv/gitserver"
)

// TestStartTrigger: against a real server, with an interval of an hour,
// Start fetches at once, then Trigger (a push webhook) brings the next
// commit, which Updates delivers.
func TestStartTrigger(t *testing.T) {
	up, root := upstream(t)
	up.CopyDir(exampleRepo)
	h1 := up.Commit("Add the platform repo")
	srv := gitserver.NewHTTP(t, root)
	p, err := New(Config{URL: srv.RepoURL(up.Name), Dir: t.TempDir(), Interval: time.Hour}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- p.Start(ctx) }()
	next := func() Revision {
		t.Helper()
		select {
		case rev := <-p.Updates():
			return rev
		case err := <-done:
			t.Fatalf("Start returned: %v", err)
		case <-time.After(waitTimeout):
			t.Fatalf("no revision within %s", waitTimeout)
		}
		return Revision{}
	}
	if got := next().Hash; got != h1 {
		t.Fatalf("first revision: %s, want %s", got, h1)
	}
	up.WriteFile("tenants/search/notes.md", "x\n")
	h2 := up.Commit("Notes")
	p.Trigger()
	if got := next().Hash; got != h2 {
		t.Fatalf("revision after Trigger: %s, want %s", got, h2)
	}
	if err := p.Start(ctx); err == nil {
		t.Error("second Start while running: no error")
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Start: %v, want nil when ctx ends", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("Start did not return after ctx ended")
	}
}

// fakeRemote replaces the fetch of a poller, to test the loop's timing
// with testing/synctest. Each fetch returns the next result, the last one
// once they run out.
type fakeRemote struct {
	start   time.Time
	results []error
	heads   []string

	mu sync.Mutex
	// at are the times of the fetches since start.
	at []time.Duration
	// block, when set, makes the fetch wait for it.
	block chan struct{}
}

func (f *fakeRemote) install(p *Poller) {
	f.start = time.Now()
	p.fetchHead = func(ctx context.Context) (Revision, error) {
		f.mu.Lock()
		n := len(f.at)
		f.at = append(f.at, time.Since(f.start))
		block := f.block
		f.mu.Unlock()
		if block != nil {
			<-block
		}
		if err := f.results[min(n, len(f.results)-1)]; err != nil {
			return Revision{}, err
		}
		return Revision{Hash: f.heads[min(n, len(f.heads)-1)]}, nil
	}
}

// polls returns the times of the fetches so far.
func (f *fakeRemote) polls() []time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.at)
}

// blockNext makes the next fetches wait until the returned release.
func (f *fakeRemote) blockNext() (release func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	block := make(chan struct{})
	f.block = block
	return func() {
		f.mu.Lock()
		f.block = nil
		f.mu.Unlock()
		close(block)
	}
}

// run starts p until the returned stop is called.
func run(t *testing.T, p *Poller) (stop func()) {
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- p.Start(ctx) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Start: %v", err)
		}
	}
}

// TestStartInterval: polls come every interval, up to 10% early, never
// later.
func TestStartInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPoller(t, "https://example.com/p.git", Auth{})
		f := &fakeRemote{results: []error{nil}, heads: []string{"a"}}
		f.install(p)
		stop := run(t, p)
		time.Sleep(95 * time.Second)
		stop()
		at := f.polls()
		if len(at) != 4 || at[0] != 0 {
			t.Fatalf("polls at %v, want 4 from 0s", at)
		}
		for i := 1; i < len(at); i++ {
			if gap := at[i] - at[i-1]; gap < 27*time.Second || gap > 30*time.Second {
				t.Errorf("poll %d came %s after the previous, want 27s to 30s", i, gap)
			}
		}
	})
}

// TestStartTriggerCoalesces: a burst of triggers is one poll; triggers
// during a poll are one more poll; a trigger before Start is answered by
// the first poll.
func TestStartTriggerCoalesces(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, err := New(Config{URL: "https://example.com/p.git", Dir: t.TempDir(), Interval: time.Hour}, quiet)
		if err != nil {
			t.Fatal(err)
		}
		f := &fakeRemote{results: []error{nil}, heads: []string{"a"}}
		f.install(p)
		p.Trigger()
		stop := run(t, p)
		defer stop()
		synctest.Wait()
		if n := len(f.polls()); n != 1 {
			t.Fatalf("polls after start with a trigger pending: %d, want 1", n)
		}

		for range 100 {
			p.Trigger()
		}
		synctest.Wait()
		if n := len(f.polls()); n != 2 {
			t.Fatalf("polls after a burst of 100 triggers: %d, want 2", n)
		}

		release := f.blockNext()
		p.Trigger()
		synctest.Wait() // the third poll is running
		for range 10 {
			p.Trigger()
		}
		release()
		synctest.Wait()
		if n := len(f.polls()); n != 4 {
			t.Fatalf("polls after triggers during a poll: %d, want 4", n)
		}
		// The next regular poll is 54 to 60 minutes away.
		time.Sleep(50 * time.Minute)
		synctest.Wait()
		if at := f.polls(); len(at) != 4 || at[3] != 0 {
			t.Fatalf("polls at %v, want 4, all at once", at)
		}
	})
}

// TestStartBackoff: failed fetches are retried after 1s, 2s, 4s, ... up to
// the interval, with jitter; the last good revision stays; success goes
// back to the interval.
func TestStartBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		revs := newRecorder()
		p := newPoller(t, "https://example.com/p.git", Auth{}, revs.option())
		down := errors.New("connection refused")
		results := []error{nil}
		for range 9 {
			results = append(results, down)
		}
		f := &fakeRemote{results: append(results, nil), heads: []string{"a", "a", "a", "a", "a", "a", "a", "a", "a", "a", "b"}}
		f.install(p)
		stop := run(t, p)
		time.Sleep(time.Second) // first poll: success
		for i := 1; i <= 9; i++ {
			// Wait for the i-th failure.
			for synctest.Wait(); len(f.polls()) <= i; synctest.Wait() {
				time.Sleep(100 * time.Millisecond)
			}
			want := Status{Last: Revision{Hash: "a"}, LastError: "connection refused", ConsecutiveFailures: i}
			if diff := cmp.Diff(want, p.Status(), cmpStatus); diff != "" {
				t.Fatalf("status after failure %d (-want +got):\n%s", i, diff)
			}
		}
		time.Sleep(2 * time.Minute)
		stop()

		// at[1] is the first failure, 27s to 30s after the success.
		at := f.polls()
		for i := 2; i <= 10; i++ {
			d := min(time.Second<<(i-2), 30*time.Second)
			if gap := at[i] - at[i-1]; gap < d/2 || gap > d {
				t.Errorf("retry %d came %s after failure %d, want %s to %s", i-1, gap, i-1, d/2, d)
			}
		}
		if gap := at[11] - at[10]; gap < 27*time.Second || gap > 30*time.Second {
			t.Errorf("poll after recovery came %s after, want the interval", gap)
		}
		if diff := cmp.Diff(Status{Last: Revision{Hash: "b"}}, p.Status(), cmpStatus); diff != "" {
			t.Errorf("status after recovery (-want +got):\n%s", diff)
		}
		var got []string
		for len(revs) > 0 {
			got = append(got, (<-revs).Hash)
		}
		if diff := cmp.Diff([]string{"a", "b"}, got); diff != "" {
			t.Errorf("revisions reported (-want +got):\n%s", diff)
		}
	})
}

// TestWait: the bounds of the waits between polls.
func TestWait(t *testing.T) {
	tests := []struct {
		interval, minBackoff time.Duration
		failures             int
		lo, hi               time.Duration
	}{
		{30 * time.Second, time.Second, 0, 27 * time.Second, 30 * time.Second},
		{30 * time.Second, time.Second, 1, 500 * time.Millisecond, time.Second},
		{30 * time.Second, time.Second, 2, time.Second, 2 * time.Second},
		{30 * time.Second, time.Second, 5, 8 * time.Second, 16 * time.Second},
		{30 * time.Second, time.Second, 6, 15 * time.Second, 30 * time.Second},
		{30 * time.Second, time.Second, 64, 15 * time.Second, 30 * time.Second},
		{30 * time.Second, time.Second, 1 << 40, 15 * time.Second, 30 * time.Second},
		{500 * time.Millisecond, time.Second, 1, 250 * time.Millisecond, 500 * time.Millisecond},
		{time.Hour, 10 * time.Second, 3, 20 * time.Second, 40 * time.Second},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%s/%d", tt.interval, tt.minBackoff, tt.failures), func(t *testing.T) {
			p := &Poller{cfg: Config{Interval: tt.interval}, minBackoff: tt.minBackoff}
			seen := map[time.Duration]bool{}
			for range 1000 {
				d := p.wait(tt.failures)
				if d < tt.lo || d > tt.hi {
					t.Fatalf("wait %s, want %s to %s", d, tt.lo, tt.hi)
				}
				seen[d] = true
			}
			if len(seen) < 100 {
				t.Errorf("%d distinct waits in 1000, want jitter", len(seen))
			}
		})
	}
}

// TestUpdatesKeepsNewest: a reader that falls behind gets the newest
// revision, once.
func TestUpdatesKeepsNewest(t *testing.T) {
	p := newPoller(t, "https://example.com/p.git", Auth{})
	f := &fakeRemote{results: []error{nil}, heads: []string{"a", "b", "b", "c"}}
	f.install(p)
	for range 4 {
		if _, err := p.Poll(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if got := (<-p.Updates()).Hash; got != "c" {
		t.Errorf("update: %s, want c", got)
	}
	select {
	case rev := <-p.Updates():
		t.Errorf("second update %s, want none", rev.Hash)
	default:
	}
}
