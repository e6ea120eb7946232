package reconcile

import (
	"context"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/k3sync/k3sync/internal/notify"
	"github.com/k3sync/k3sync/internal/source"
	"github.com/k3sync/k3sync/internal/state"
	"github.com/k3sync/k3sync/internal/testenv/gitserver"
	"github.com/k3sync/k3sync/internal/view"
)

// failingDisk is the daemon's source, a real Git poller, on a disk that
// fails once: the first tree the reconciler asks for is read from a
// clone whose packs were corrupted after the fetch checked them, as a
// disk failing between the fetch and the load would do.
type failingDisk struct {
	p      *source.Poller
	dir    string
	t      *testing.T
	failed bool
}

func (d *failingDisk) Fetch(ctx context.Context) (view.Commit, error) {
	rev, err := d.p.Poll(ctx)
	return view.Commit{Hash: rev.Hash}, err
}

func (d *failingDisk) FS(hash string) (fs.FS, error) {
	if !d.failed {
		d.failed = true
		packs, err := filepath.Glob(filepath.Join(d.dir, "objects", "pack", "*.pack"))
		if err != nil || len(packs) == 0 {
			d.t.Fatalf("no pack in %s: %v", d.dir, err)
		}
		for _, pack := range packs {
			b, err := os.ReadFile(pack)
			if err != nil {
				d.t.Fatal(err)
			}
			for i := 200; i < len(b)-40; i += 7 {
				b[i] ^= 0xff
			}
			if err := os.WriteFile(pack, b, 0o644); err != nil {
				d.t.Fatal(err)
			}
		}
	}
	return d.p.FS(hash) //nolint:wrapcheck // a test double
}

func (d *failingDisk) Changed(from, to string) ([]string, error) { return d.p.Changed(from, to) } //nolint:wrapcheck // a test double

func (d *failingDisk) Damaged() error { return d.p.Damaged() } //nolint:wrapcheck // a test double

// TestCorruptCloneMidLoadIsNotAnInvalidRevision: a revision whose load
// fails because the clone went bad after the fetch is not invalid: nobody
// is told it is, it shows as a source error, and the next poll clones
// again and loads and plans the same revision.
func TestCorruptCloneMidLoadIsNotAnInvalidRevision(t *testing.T) {
	up := gitserver.NewRepo(t, t.TempDir(), "platform.git")
	up.CopyDir("../../examples/platform-repo")
	head := up.Commit("Add the platform repo")
	dir := filepath.Join(t.TempDir(), "clone")
	p, err := source.New(source.Config{URL: up.FileURL(), Dir: dir, Interval: time.Hour},
		source.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		t.Fatal(err)
	}
	src := &failingDisk{p: p, dir: dir, t: t}
	rec := &notes{}
	eng := &drifting{}
	r := New(src, eng, state.NewMemory(), Options{Notifier: rec, Interval: time.Hour})

	r.PollOnce(t.Context())
	r.mu.Lock()
	sourceErr, invalid, current := r.snap.sourceError, r.snap.validationErrors, r.snap.current
	r.mu.Unlock()
	if p.Damaged() == nil {
		t.Fatal("the load read the corrupted clone without noticing: the test corrupts nothing")
	}
	if len(invalid) != 0 || len(rec.of(notify.RevisionInvalid)) != 0 {
		t.Errorf("a revision the disk failed to read was judged invalid: %q, %d notifications", invalid, len(rec.of(notify.RevisionInvalid)))
	}
	if !strings.Contains(sourceErr, "the Git clone is corrupt") || current != nil {
		t.Errorf("after the failed read: source error %q, current %v; want the corruption shown and nothing loaded", sourceErr, current)
	}

	r.PollOnce(t.Context())
	r.mu.Lock()
	sourceErr, invalid, current = r.snap.sourceError, r.snap.validationErrors, r.snap.current
	r.mu.Unlock()
	if current == nil || current.commit.Hash != head || len(invalid) != 0 || sourceErr != "" {
		t.Fatalf("the poll after the re-clone: current %v, validation %q, source error %q; want %s loaded", current, invalid, sourceErr, head[:12])
	}
	if p.Damaged() != nil {
		t.Errorf("still damaged after the re-clone: %v", p.Damaged())
	}
}
