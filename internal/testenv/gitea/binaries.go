package gitea

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/k3sync/k3sync/internal/testenv/proc"
)

const (
	// Version is the Gitea release `make gitea-bin` builds by default
	// (GITEA_VERSION in hack/gitea/gitea.mk) and the one the tests expect.
	Version = "v1.26.0"

	// BinDirEnv names the environment variable holding the directory of the
	// gitea binary and its templates/, options/ and public/. make exports it.
	BinDirEnv = "GITEA_BIN_DIR"
)

// findBinary locates the gitea binary (see the package documentation) and
// checks that the directories it reads at run time are next to it. The
// directory is Gitea's STATIC_ROOT_PATH.
func findBinary(explicit string) (bin, staticRoot string, err error) {
	dir, err := proc.BinDir(explicit, BinDirEnv, "gitea-"+Version, "gitea binary")
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
