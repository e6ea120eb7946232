# hack/k8s/k8s.mk: real Kubernetes control-plane binaries for the tests.
#
# k3sync's tests run against real kube-apiservers (see internal/testenv/kube),
# so they need kube-apiserver, kube-controller-manager and etcd (and kubectl,
# which make bench-compare compares with). They are not
# downloaded: `make kube-bins` compiles them from source with the local Go
# toolchain, from the separate tool module in hack/k8s (its go.mod requires
# k8s.io/kubernetes and go.etcd.io/etcd/server/v3, and repeats kubernetes'
# staging replace directives; hack/k8s/gen-replaces.sh regenerates them when
# K8S_VERSION changes). The root module never depends on Kubernetes itself.
#
# The binaries land in bin/k8s-$(K8S_VERSION)/ (git-ignored). The directory
# name is the cache key: when all four binaries exist the target does
# nothing, and bumping K8S_VERSION builds into a fresh directory. A cold build
# takes about 6.5 minutes on 2 cores; with a warm Go build cache about 15 s.
# To force a rebuild, delete the directory.
#
# KUBE_BIN_DIR is exported so that `go test` started by make finds the
# binaries; outside make, internal/testenv/kube falls back to
# <repo root>/bin/k8s-v1.37.2.
#
# Usage: include hack/k8s/k8s.mk from the main Makefile, or run it directly
# from the repository root: make -f hack/k8s/k8s.mk kube-bins

K8S_VERSION ?= v1.37.2
ETCD_VERSION ?= v3.7.0
KUBE_BIN_DIR := $(CURDIR)/bin/k8s-$(K8S_VERSION)
export KUBE_BIN_DIR

# Directory of this fragment, wherever it is included from: while make reads
# this file, it is the last entry of MAKEFILE_LIST.
K8S_HACK_DIR := $(patsubst %/,%,$(dir $(abspath $(lastword $(MAKEFILE_LIST)))))

# Without these the binaries report version v0.0.0.
K8S_LDFLAGS := -s -w \
	-X k8s.io/component-base/version.gitVersion=$(K8S_VERSION) \
	-X k8s.io/component-base/version.gitMajor=$(word 1,$(subst ., ,$(patsubst v%,%,$(K8S_VERSION)))) \
	-X k8s.io/component-base/version.gitMinor=$(word 2,$(subst ., ,$(K8S_VERSION))) \
	-X k8s.io/component-base/version.gitTreeState=clean

KUBE_BINS := $(addprefix $(KUBE_BIN_DIR)/,kube-apiserver kube-controller-manager etcd)

# kubectl of the same version, for the comparison with `kubectl diff
# --server-side` (make bench-compare and its smoke test in make test). It is
# built by its own rule, so that adding it to an existing bin/k8s-<version>/
# does not rebuild the control plane.
KUBECTL := $(KUBE_BIN_DIR)/kubectl

.PHONY: kube-bins
## kube-bins: build kube-apiserver, kube-controller-manager, etcd and kubectl for the tests into bin/k8s-<K8S_VERSION>/ (skipped when present)
kube-bins: $(KUBE_BINS) $(KUBECTL)

# One grouped rule with no prerequisites: it runs only when a binary is
# missing, and then builds all three in one `go build` (shared packages are
# compiled once). Output goes to a scratch directory first so an interrupted
# build never leaves a partial set behind.
$(KUBE_BINS) &:
	@echo ">> building Kubernetes $(K8S_VERSION) and etcd $(ETCD_VERSION) binaries into $(KUBE_BIN_DIR)"
	@echo ">> one-time build from the Go module proxy: about 6 minutes on 2 cores after the downloads (cached in bin/ afterwards)"
	@grep -Eq '^[[:space:]]*(require[[:space:]]+)?k8s\.io/kubernetes[[:space:]]+$(K8S_VERSION)([[:space:]]|$$)' $(K8S_HACK_DIR)/go.mod && \
	 grep -Eq '^[[:space:]]*(require[[:space:]]+)?go\.etcd\.io/etcd/server/v3[[:space:]]+$(ETCD_VERSION)([[:space:]]|$$)' $(K8S_HACK_DIR)/go.mod || { \
		echo "hack/k8s/go.mod does not pin k8s.io/kubernetes $(K8S_VERSION) and etcd $(ETCD_VERSION):" \
		     "run hack/k8s/gen-replaces.sh $(K8S_VERSION) $(ETCD_VERSION)" >&2; exit 1; }
	@rm -rf $(KUBE_BIN_DIR).tmp && mkdir -p $(KUBE_BIN_DIR).tmp
	cd $(K8S_HACK_DIR) && GOWORK=off GOFLAGS='-mod=readonly -buildvcs=false' CGO_ENABLED=0 go build -trimpath \
		-ldflags '$(K8S_LDFLAGS)' \
		-o $(KUBE_BIN_DIR).tmp/ \
		k8s.io/kubernetes/cmd/kube-apiserver \
		k8s.io/kubernetes/cmd/kube-controller-manager \
		go.etcd.io/etcd/server/v3
	@mv $(KUBE_BIN_DIR).tmp/server $(KUBE_BIN_DIR).tmp/etcd
	@mkdir -p $(KUBE_BIN_DIR)
	@mv $(KUBE_BIN_DIR).tmp/kube-apiserver $(KUBE_BIN_DIR).tmp/kube-controller-manager $(KUBE_BIN_DIR).tmp/etcd $(KUBE_BIN_DIR)/
	@rmdir $(KUBE_BIN_DIR).tmp
	@$(KUBE_BIN_DIR)/kube-apiserver --version && $(KUBE_BIN_DIR)/etcd --version | head -1

# kubectl alone: same module, flags and scratch-directory dance as above. A
# cold build takes about 3 minutes on 2 cores (most packages are shared with
# kube-apiserver, so after it the build cache makes it quicker).
$(KUBECTL):
	@echo ">> building kubectl $(K8S_VERSION) into $(KUBE_BIN_DIR)"
	@grep -Eq '^[[:space:]]*(require[[:space:]]+)?k8s\.io/kubernetes[[:space:]]+$(K8S_VERSION)([[:space:]]|$$)' $(K8S_HACK_DIR)/go.mod || { \
		echo "hack/k8s/go.mod does not pin k8s.io/kubernetes $(K8S_VERSION):" \
		     "run hack/k8s/gen-replaces.sh $(K8S_VERSION) $(ETCD_VERSION)" >&2; exit 1; }
	@rm -rf $(KUBE_BIN_DIR).kubectl.tmp && mkdir -p $(KUBE_BIN_DIR).kubectl.tmp
	cd $(K8S_HACK_DIR) && GOWORK=off GOFLAGS='-mod=readonly -buildvcs=false' CGO_ENABLED=0 go build -trimpath \
		-ldflags '$(K8S_LDFLAGS)' \
		-o $(KUBE_BIN_DIR).kubectl.tmp/ \
		k8s.io/kubernetes/cmd/kubectl
	@mkdir -p $(KUBE_BIN_DIR)
	@mv $(KUBE_BIN_DIR).kubectl.tmp/kubectl $(KUBE_BIN_DIR)/
	@rmdir $(KUBE_BIN_DIR).kubectl.tmp
	@$(KUBECTL) version --client | head -1
