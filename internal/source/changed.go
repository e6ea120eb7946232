package source

import (
	"fmt"
	"path"
	"slices"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// Changed lists the paths of the files that differ between commits from
// and to, sorted: added, removed, modified (content or mode), and both
// paths of a renamed file. A from of "" compares with an empty tree,
// listing every file of to. Folders whose trees are equal are not read,
// so the cost follows the size of the change, not of the repo.
func (p *Poller) Changed(from, to string) ([]string, error) {
	p.readMu.Lock()
	defer p.readMu.Unlock()
	toTree, err := p.treeLocked(to)
	if err != nil {
		return nil, err
	}
	fromTree := plumbing.ZeroHash
	if from != "" {
		t, err := p.treeLocked(from)
		if err != nil {
			return nil, err
		}
		fromTree = t.Hash
	}
	var paths []string
	if err := p.diffTrees("", fromTree, toTree.Hash, &paths); err != nil {
		return nil, fmt.Errorf("git source: diff %s..%s: %w", from, to, err)
	}
	slices.Sort(paths)
	return paths, nil
}

// diffTrees adds to out the paths of the files that differ between trees
// a and b under dir; a zero hash is an absent tree. Callers hold readMu.
func (p *Poller) diffTrees(dir string, a, b plumbing.Hash, out *[]string) error {
	if a == b {
		return nil
	}
	ea, err := p.treeEntries(a)
	if err != nil {
		return err
	}
	eb, err := p.treeEntries(b)
	if err != nil {
		return err
	}
	for name := range union(ea, eb) {
		x, inA := ea[name]
		y, inB := eb[name]
		if inA && inB && x.Hash == y.Hash && x.Mode == y.Mode {
			continue
		}
		full := path.Join(dir, name)
		var subA, subB plumbing.Hash
		file := false
		if inA {
			if x.Mode == filemode.Dir {
				subA = x.Hash
			} else {
				file = true
			}
		}
		if inB {
			if y.Mode == filemode.Dir {
				subB = y.Hash
			} else {
				file = true
			}
		}
		if file {
			*out = append(*out, full)
		}
		if !subA.IsZero() || !subB.IsZero() {
			if err := p.diffTrees(full, subA, subB, out); err != nil {
				return err
			}
		}
	}
	return nil
}

// treeEntries reads a tree's entries by name; none for a zero hash.
// Callers hold readMu.
func (p *Poller) treeEntries(h plumbing.Hash) (map[string]object.TreeEntry, error) {
	if h.IsZero() {
		return nil, nil
	}
	t, err := object.GetTree(p.objects, h)
	if err != nil {
		p.noteRead(err)
		return nil, fmt.Errorf("read tree %s: %w", h, err)
	}
	m := make(map[string]object.TreeEntry, len(t.Entries))
	for _, e := range t.Entries {
		m[e.Name] = e
	}
	return m, nil
}

// union iterates over the names of both trees, once each.
func union(a, b map[string]object.TreeEntry) func(func(string) bool) {
	return func(yield func(string) bool) {
		for name := range a {
			if !yield(name) {
				return
			}
		}
		for name := range b {
			if _, ok := a[name]; !ok && !yield(name) {
				return
			}
		}
	}
}

// treeLocked reads the tree of a commit. Callers hold readMu.
func (p *Poller) treeLocked(hash string) (*object.Tree, error) {
	c, err := p.commitLocked(hash)
	if err != nil {
		return nil, err
	}
	t, err := c.Tree()
	if err != nil {
		p.noteRead(err)
		return nil, fmt.Errorf("git source: commit %s: tree: %w", hash, err)
	}
	return t, nil
}
