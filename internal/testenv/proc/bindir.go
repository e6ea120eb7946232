package proc

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// modulePath identifies k3sync's root go.mod when looking for the
// repository root.
const modulePath = "github.com/k3sync/k3sync"

// BinDir returns the directory to find a peer's binaries in, absolute:
// explicit, else $envName, else <repo root>/bin/<name> (where the make
// targets build them). what names them in the error.
func BinDir(explicit, envName, name, what string) (string, error) {
	dir := explicit
	if dir == "" {
		dir = os.Getenv(envName)
	}
	if dir == "" {
		wd, err := os.Getwd()
		if err != nil {
			return "", fmt.Errorf("working directory: %w", err)
		}
		dir = filepath.Join(repoRoot(wd), "bin", name)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("%s directory %s: %w", what, dir, err)
	}
	return abs, nil
}

// repoRoot walks up from dir to the directory holding k3sync's go.mod. If
// there is none it settles for the nearest go.mod, and failing that for dir.
func repoRoot(dir string) string {
	nearest := ""
	for d := dir; ; {
		if mod, ok := moduleOf(filepath.Join(d, "go.mod")); ok {
			if mod == modulePath {
				return d
			}
			if nearest == "" {
				nearest = d
			}
		}
		parent := filepath.Dir(d)
		if parent == d {
			break
		}
		d = parent
	}
	if nearest != "" {
		return nearest
	}
	return dir
}

// moduleOf returns the module path declared by the go.mod file at path.
func moduleOf(path string) (string, bool) {
	f, err := os.Open(path)
	if err != nil {
		return "", false
	}
	defer func() { _ = f.Close() }()
	s := bufio.NewScanner(f)
	for s.Scan() {
		line := strings.TrimSpace(s.Text())
		if rest, ok := strings.CutPrefix(line, "module"); ok && rest != "" && (rest[0] == ' ' || rest[0] == '\t') {
			if i := strings.Index(rest, "//"); i >= 0 {
				rest = rest[:i]
			}
			return strings.Trim(strings.TrimSpace(rest), `"`), true
		}
	}
	return "", true
}
