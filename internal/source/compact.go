package source

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/idxfile"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

// defaultMaxPacks is the number of packs at which the clone is compacted.
const defaultMaxPacks = 32

// packWindow is how many objects the encoder compares to find deltas, as
// git's pack.window.
const packWindow = 10

// compact packs every object of the clone into one pack once fetches have
// left maxPacks packs. Each fetch that brings commits writes a pack, and
// go-git looks an object up in the index of every pack, so reads slow
// down as packs pile up (git runs gc --auto for the same reason). Unlike
// git gc nothing is dropped: commits a force-push left behind stay
// readable. Callers hold fetchMu.
func (p *Poller) compact() error {
	st, ok := p.repo.Storer.(*filesystem.Storage)
	if !ok {
		return nil
	}
	packs, err := st.ObjectPacks()
	if err != nil {
		return fmt.Errorf("list packs: %w", err)
	}
	if len(packs) < p.maxPacks {
		return nil
	}
	hashes, err := p.packedHashes(packs)
	if err != nil {
		return err
	}
	w, err := st.PackfileWriter()
	if err != nil {
		return fmt.Errorf("write pack: %w", err)
	}
	// Reading objects while writing the pack is safe: the writer holds
	// fetchMu and readers use their own storage.
	merged, err := packfile.NewEncoder(w, st, false).Encode(hashes, packWindow)
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write pack of %d objects: %w", len(hashes), err)
	}
	// The old packs go while no reader reads: a reader's index names them.
	p.readMu.Lock()
	defer p.readMu.Unlock()
	var errs []error
	for _, h := range packs {
		if h != merged {
			// The pack goes before its index, so a listing never shows a
			// pack without one.
			errs = append(errs, st.DeleteOldObjectPackAndIndex(h, time.Time{}))
		}
	}
	st.Reindex()
	p.objects.Reindex()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("delete merged packs: %w", err)
	}
	p.log.Info("git clone compacted", "dir", p.cfg.Dir, "packs", len(packs), "objects", len(hashes))
	return nil
}

// packedHashes lists the objects of the packs, once each, from their
// indexes: nothing is decoded.
func (p *Poller) packedHashes(packs []plumbing.Hash) ([]plumbing.Hash, error) {
	seen := map[plumbing.Hash]bool{}
	var hashes []plumbing.Hash
	for _, pack := range packs {
		name := filepath.Join(p.cfg.Dir, "objects", "pack", "pack-"+pack.String()+".idx")
		f, err := os.Open(name)
		if err != nil {
			return nil, fmt.Errorf("read pack index: %w", err)
		}
		idx := idxfile.NewMemoryIndex()
		err = idxfile.NewDecoder(f).Decode(idx)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, fmt.Errorf("read pack index %s: %w", name, err)
		}
		entries, err := idx.Entries()
		if err != nil {
			return nil, fmt.Errorf("read pack index %s: %w", name, err)
		}
		for {
			e, err := entries.Next()
			if err != nil {
				if errors.Is(err, io.EOF) {
					break
				}
				return nil, fmt.Errorf("read pack index %s: %w", name, err)
			}
			if !seen[e.Hash] {
				seen[e.Hash] = true
				hashes = append(hashes, e.Hash)
			}
		}
		_ = entries.Close()
	}
	return hashes, nil
}
