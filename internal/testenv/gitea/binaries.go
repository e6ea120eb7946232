package gitea

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

const (
	// Version is the Gitea release `make gitea-bin` builds by default
	// (GITEA_VERSION in hack/gitea/gitea.mk) and the one the tests expect.
	Version = "v1.26.0"

	// BinDirEnv names the environment variable holding the directory of the
	// gitea binary and its templates/, options/ and public/. make exports it.
	BinDirEnv = "GITEA_BIN_DIR"

	// modulePath identifies k3sync's root go.mod when looking for the
	// repository root.
	modulePath = "github.com/k3sync/k3sync"
)

// findBinary locates the gitea binary (see the package documentation) and
// checks that the directories it reads at run time are next to it. The
// directory is Gitea's STATIC_ROOT_PATH.
func findBinary(explicit string) (bin, staticRoot string, err error) {
	dir, err := binDir(explicit)
	if err != nil {
		return "", "", err
	}
	bin = filepath.Join(dir, "gitea")
	if fi, err := os.Stat(bin); err != nil || fi.IsDir() {
		return "", "", fmt.Errorf("gitea not found in %s: run 'make gitea-bin'", dir)
	}
	for _, sub := range []string{"templates", "options", "public"} {
		if fi, err := os.Stat(filepath.Join(dir, sub)); err != nil || !fi.IsDir() {
			return "", "", fmt.Errorf("gitea %s/ not found in %s: delete the directory and run 'make gitea-bin'", sub, dir)
		}
	}
	return bin, dir, nil
}

// binDir returns the directory to find gitea in: explicit, else
// $GITEA_BIN_DIR, else <repo root>/bin/gitea-<Version>.
func binDir(explicit string) (string, error) {
	dir := explicit
	if dir == "" {
		dir = os.Getenv(BinDirEnv)
	}
	if dir == "" {
		wd, err := os.Getwd()
		if err != nil {
			return "", fmt.Errorf("working directory: %w", err)
		}
		dir = filepath.Join(repoRoot(wd), "bin", "gitea-"+Version)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("gitea binary directory %s: %w", dir, err)
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
