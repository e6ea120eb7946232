package kube

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

const (
	// Version is the Kubernetes release the binaries are built from by
	// default (K8S_VERSION in hack/k8s/k8s.mk) and the version the started
	// apiservers report.
	Version = "v1.37.2"

	// BinDirEnv names the environment variable holding the directory of
	// kube-apiserver, kube-controller-manager and etcd. make exports it.
	BinDirEnv = "KUBE_BIN_DIR"

	// modulePath identifies k3sync's root go.mod when looking for the
	// repository root.
	modulePath = "github.com/k3sync/k3sync"
)

// binaries are the absolute paths of the programs a control plane runs.
type binaries struct {
	apiserver         string
	etcd              string
	controllerManager string // empty unless Options.ControllerManager
}

// findBinaries locates the binaries (see the package documentation) and
// checks that they exist.
func findBinaries(opts Options) (binaries, error) {
	dir, err := binDir(opts.BinDir)
	if err != nil {
		return binaries{}, err
	}
	names := []string{"kube-apiserver", "etcd"}
	if opts.ControllerManager {
		names = append(names, "kube-controller-manager")
	}
	paths := make(map[string]string, len(names))
	for _, name := range names {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err != nil || fi.IsDir() {
			return binaries{}, fmt.Errorf("%s not found in %s: run 'make kube-bins'", name, dir)
		}
		paths[name] = p
	}
	return binaries{
		apiserver:         paths["kube-apiserver"],
		etcd:              paths["etcd"],
		controllerManager: paths["kube-controller-manager"],
	}, nil
}

// binDir returns the directory to find the binaries in: explicit, else
// $KUBE_BIN_DIR, else <repo root>/bin/k8s-<Version>.
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
		dir = filepath.Join(repoRoot(wd), "bin", "k8s-"+Version)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("kube binaries directory %s: %w", dir, err)
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
