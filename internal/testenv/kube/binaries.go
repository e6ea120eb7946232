package kube

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/k3sync/k3sync/internal/testenv/proc"
)

const (
	// Version is the Kubernetes release the binaries are built from by
	// default (K8S_VERSION in hack/k8s/k8s.mk) and the version the started
	// apiservers report.
	Version = "v1.37.2"

	// BinDirEnv names the environment variable holding the directory of
	// kube-apiserver, kube-controller-manager and etcd. make exports it.
	BinDirEnv = "KUBE_BIN_DIR"
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
	dir, err := proc.BinDir(opts.BinDir, BinDirEnv, "k8s-"+Version, "kube binaries")
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
