package source

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
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
	tmp, err := filepath.Glob(filepath.Join(dir, "objects", "pack", "tmp_*"))
	if err != nil {
		return removed, fmt.Errorf("repair packs: %w", err)
	}
	for _, p := range tmp {
		if err := os.Remove(p); err != nil {
			return removed, fmt.Errorf("repair packs: %w", err)
		}
		removed = append(removed, p)
	}
	return removed, nil
}
