package source

import (
	"compress/flate"
	"compress/zlib"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/format/idxfile"
	"github.com/go-git/go-git/v5/plumbing/format/objfile"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/storage/filesystem/dotgit"
)

// repair removes what a process killed in the middle of a fetch can leave
// in the clone: go-git rewrites a ref file in place (truncate, then
// write), and a ref file left empty or cut short fails every later fetch;
// a pack being received stays as a temporary file. A removed ref is
// fetched again by the next poll. It runs before the poller fetches, and
// returns the paths it removed.
func repair(dir string) ([]string, error) {
	var removed []string
	refs := filepath.Join(dir, "refs")
	err := filepath.WalkDir(refs, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return fmt.Errorf("read %s: %w", p, err)
		}
		line := strings.TrimSpace(string(b))
		if strings.HasPrefix(line, "ref: ") || (len(line) == 40 && plumbing.IsHash(line)) {
			return nil
		}
		removed = append(removed, p)
		return os.Remove(p)
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return removed, fmt.Errorf("repair refs: %w", err)
	}
	tmp, err := removeTempPacks(dir)
	removed = append(removed, tmp...)
	if err != nil {
		return removed, fmt.Errorf("repair packs: %w", err)
	}
	return removed, nil
}

// Re-clone bounds: after a re-clone the next waits at least the poll
// interval, doubling with each one up to recloneMaxGap, so a disk that
// keeps corrupting the clone costs a clone an hour, not one a poll.
const recloneMaxGap = time.Hour

// corruptSuffix names where a corrupt clone is kept, next to Dir, until
// the next re-clone replaces it: one copy, for a look at what broke.
const corruptSuffix = ".corrupt"

// errCorrupt marks a read of the clone that failed because the clone's
// storage is damaged, not because of the network or a bad revision.
var errCorrupt = errors.New("the clone is corrupt")

// corrupt reports whether err, from reading objects the clone must have
// (those of a commit it holds), says the storage is damaged: an object
// missing, a pack or index that does not parse, data that does not
// inflate.
func corrupt(err error) bool {
	var flateErr flate.CorruptInputError
	var packErr *packfile.Error
	switch {
	case err == nil:
		return false
	case errors.Is(err, errCorrupt),
		errors.Is(err, plumbing.ErrObjectNotFound),
		errors.As(err, &flateErr),
		errors.As(err, &packErr),
		errors.Is(err, zlib.ErrHeader), errors.Is(err, zlib.ErrChecksum), errors.Is(err, zlib.ErrDictionary),
		errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, objfile.ErrHeader), errors.Is(err, objfile.ErrNegativeSize),
		errors.Is(err, packfile.ErrMalformedPackFile), errors.Is(err, packfile.ErrInvalidDelta),
		errors.Is(err, packfile.ErrDeltaCmd), errors.Is(err, packfile.ErrReferenceDeltaNotFound),
		errors.Is(err, packfile.ErrInflatedSizeMismatch), errors.Is(err, packfile.ErrLengthOverflow),
		errors.Is(err, idxfile.ErrMalformedIdxFile),
		errors.Is(err, dotgit.ErrPackfileNotFound), errors.Is(err, dotgit.ErrIdxNotFound):
		return true
	}
	return false
}

// Damaged returns the first read that found the clone corrupt since it
// was last cloned, nil when none: the next poll clones again. A caller
// whose read of a revision failed tells by it a disk that failed from a
// revision that is wrong.
func (p *Poller) Damaged() error {
	if err := p.damaged.Load(); err != nil {
		return *err
	}
	return nil
}

// noteRead remembers that a read of the clone found it corrupt; the next
// poll clones again. It never blocks: readers hold readMu.
func (p *Poller) noteRead(err error) {
	if !corrupt(err) {
		return
	}
	if p.damaged.CompareAndSwap(nil, &err) {
		p.log.Warn("git clone corrupt: the next poll clones again", "dir", p.cfg.Dir, "error", err.Error())
	}
}

// verify reads the objects of commit hash's tree from the fetch side of
// the clone, so that a revision is handed out only when it can be read
// whole: all of them the first time, then those the last head verified
// does not share (equal subtrees are skipped, so a commit changing one
// tenant costs that tenant's files). Callers hold fetchMu.
func (p *Poller) verify(hash string) error {
	tree, err := p.commitTree(hash)
	if err != nil {
		return err
	}
	prev := plumbing.ZeroHash
	if p.verified != "" {
		if prev, err = p.commitTree(p.verified); err != nil {
			return err
		}
	}
	if err := p.verifyTree(prev, tree); err != nil {
		return err
	}
	p.verified = hash
	return nil
}

// commitTree is the tree hash of a commit, read from the fetch side.
func (p *Poller) commitTree(hash string) (plumbing.Hash, error) {
	c, err := object.GetCommit(p.repo.Storer, plumbing.NewHash(hash))
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("verify commit %s: %w", hash, err)
	}
	return c.TreeHash, nil
}

// verifyTree reads tree b's objects that tree a (zero: none) does not
// have at the same place.
func (p *Poller) verifyTree(a, b plumbing.Hash) error {
	if a == b {
		return nil
	}
	old := map[string]plumbing.Hash{}
	if !a.IsZero() {
		t, err := object.GetTree(p.repo.Storer, a)
		if err != nil {
			return fmt.Errorf("verify tree %s: %w", a, err)
		}
		for _, e := range t.Entries {
			old[e.Name] = e.Hash
		}
	}
	t, err := object.GetTree(p.repo.Storer, b)
	if err != nil {
		return fmt.Errorf("verify tree %s: %w", b, err)
	}
	for _, e := range t.Entries {
		was, ok := old[e.Name]
		switch {
		case ok && was == e.Hash, e.Mode == filemode.Submodule:
		case e.Mode == filemode.Dir:
			if !ok {
				was = plumbing.ZeroHash
			}
			if err := p.verifyTree(was, e.Hash); err != nil {
				return err
			}
		default:
			if err := p.readBlob(e.Hash); err != nil {
				return fmt.Errorf("verify blob %s: %w", e.Hash, err)
			}
		}
	}
	return nil
}

// readBlob reads a blob through, inflating it. Callers hold fetchMu.
func (p *Poller) readBlob(h plumbing.Hash) error {
	o, err := p.repo.Storer.EncodedObject(plumbing.BlobObject, h)
	if err != nil {
		return err //nolint:wrapcheck // the caller names the blob
	}
	r, err := o.Reader()
	if err != nil {
		return err //nolint:wrapcheck // the caller names the blob
	}
	_, err = io.Copy(io.Discard, r)
	if cerr := r.Close(); err == nil {
		err = cerr
	}
	return err //nolint:wrapcheck // the caller names the blob
}

// mayReclone says whether a re-clone is due now. Callers hold fetchMu.
func (p *Poller) mayReclone(now time.Time) bool {
	return !now.Before(p.recloneAt)
}

// reclone moves the clone aside (to Dir.corrupt, replacing an older one;
// where that is not possible it empties Dir) and starts an empty one that
// the caller fetches into. Refs fetched with FetchRef are gone: they are
// fetched again when asked for. Callers hold fetchMu.
func (p *Poller) reclone(cause error) error {
	p.readMu.Lock()
	defer p.readMu.Unlock()
	dir := p.cfg.Dir
	if p.recloneGap == 0 {
		p.recloneGap = p.cfg.Interval
	} else {
		p.recloneGap = min(2*p.recloneGap, recloneMaxGap)
	}
	p.recloneAt = time.Now().Add(p.recloneGap)
	aside := dir + corruptSuffix
	if err := os.RemoveAll(aside); err != nil {
		aside = ""
	} else if err := os.Rename(dir, aside); err != nil {
		aside = ""
	}
	if aside == "" {
		if err := emptyDir(dir); err != nil {
			return fmt.Errorf("git source %s: re-clone: %w", dir, err)
		}
	}
	repo, err := openBare(dir, plumbing.NewBranchReferenceName(p.cfg.Branch))
	if err != nil {
		return fmt.Errorf("git source %s: re-clone: %w", dir, err)
	}
	p.repo, p.verified = repo, ""
	p.objects = newStorage(dir)
	p.damaged.Store(nil)
	p.log.Warn("git clone corrupt: cloning again", "dir", dir, "kept", aside, "next_reclone_after", p.recloneAt.UTC().Format(time.RFC3339), "error", cause.Error())
	for _, fn := range p.onReclone {
		fn()
	}
	return nil
}

// emptyDir removes what dir holds, not dir itself (it may be a mount).
func emptyDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("read: %w", err)
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return fmt.Errorf("remove: %w", err)
		}
	}
	return nil
}
