# hack/gitea/gitea.mk: a real Gitea server for the tests.
#
# k3sync posts plans on pull requests (a sticky comment and a commit status),
# and its tests talk to a real Gitea (see internal/testenv/gitea), not to a
# fake of its REST API. Gitea is not downloaded: `make gitea-bin` compiles it
# from source with the local Go toolchain, from the separate tool module in
# hack/gitea (its go.mod requires code.gitea.io/gitea and repeats Gitea's own
# replace directives; hack/gitea/gen-replaces.sh regenerates them when
# GITEA_VERSION changes). The root module never depends on Gitea itself.
#
# Gitea is built as its release Makefile does for SQLite (cgo, tags sqlite
# and sqlite_unlock_notify, a C compiler is needed) but without the bindata
# tag: its templates, locales (options/) and static files (public/) are read
# at run time from STATIC_ROOT_PATH, so they are copied from the module cache
# next to the binary. The web UI's JavaScript and CSS, built by npm in a
# Gitea release, are absent: the REST API and Git over HTTP, which is all
# k3sync uses, do not need them.
#
# Everything lands in bin/gitea-$(GITEA_VERSION)/ (git-ignored): the binary
# gitea and the directories templates/, options/ and public/. The directory
# name is the cache key: when the binary exists the target does nothing, and
# bumping GITEA_VERSION builds into a fresh directory. A cold build (empty Go
# build cache, modules already downloaded) took 8 minutes on 2 cores shared
# with other builds (6 minutes of CPU); with a warm Go build cache about 7 s.
# To force a rebuild, delete the directory.
#
# GITEA_BIN_DIR is exported so that `go test` started by make finds the
# server; outside make, internal/testenv/gitea falls back to
# <repo root>/bin/gitea-v1.26.0.
#
# Usage: include hack/gitea/gitea.mk from the main Makefile, or run it
# directly from the repository root: make -f hack/gitea/gitea.mk gitea-bin

GITEA_VERSION ?= v1.26.0
GITEA_BIN_DIR := $(CURDIR)/bin/gitea-$(GITEA_VERSION)
export GITEA_BIN_DIR

# Directory of this fragment, wherever it is included from: while make reads
# this file, it is the last entry of MAKEFILE_LIST.
GITEA_HACK_DIR := $(patsubst %/,%,$(dir $(abspath $(lastword $(MAKEFILE_LIST)))))

# As Gitea's own Makefile: the SQLite driver (cgo) and the version reported
# by `gitea --version` and GET /api/v1/version (without the "v").
GITEA_TAGS := sqlite sqlite_unlock_notify
GITEA_LDFLAGS := -s -w \
	-X 'main.Version=$(patsubst v%,%,$(GITEA_VERSION))' \
	-X 'main.Tags=$(GITEA_TAGS)'
GITEA_CGO_CFLAGS := -O2 -g -DSQLITE_MAX_VARIABLE_NUMBER=32766

.PHONY: gitea-bin
## gitea-bin: build the Gitea server for the tests into bin/gitea-<GITEA_VERSION>/ (skipped when present)
gitea-bin: $(GITEA_BIN_DIR)/gitea

# No prerequisites: it runs only when the binary is missing. Everything is
# assembled in a scratch directory that is renamed at the end, so an
# interrupted build never leaves a binary without its templates behind.
$(GITEA_BIN_DIR)/gitea:
	@echo ">> building Gitea $(GITEA_VERSION) into $(GITEA_BIN_DIR)"
	@echo ">> one-time build from the Go module proxy: about 8 minutes on 2 cores (cached in bin/ afterwards)"
	@grep -Eq '^[[:space:]]*(require[[:space:]]+)?code\.gitea\.io/gitea[[:space:]]+$(GITEA_VERSION)([[:space:]]|$$)' $(GITEA_HACK_DIR)/go.mod || { \
		echo "hack/gitea/go.mod does not pin code.gitea.io/gitea $(GITEA_VERSION):" \
		     "run hack/gitea/gen-replaces.sh $(GITEA_VERSION)" >&2; exit 1; }
	@rm -rf $(GITEA_BIN_DIR).tmp && mkdir -p $(GITEA_BIN_DIR).tmp
	cd $(GITEA_HACK_DIR) && GOWORK=off GOFLAGS='-mod=readonly -buildvcs=false' \
		CGO_ENABLED=1 CGO_CFLAGS='$(GITEA_CGO_CFLAGS)' go build -trimpath \
		-tags '$(GITEA_TAGS)' -ldflags "$(GITEA_LDFLAGS)" \
		-o $(GITEA_BIN_DIR).tmp/gitea code.gitea.io/gitea
	@src=$$(cd $(GITEA_HACK_DIR) && GOWORK=off GOFLAGS=-mod=readonly go list -m -f '{{.Dir}}' code.gitea.io/gitea) && \
	 for d in templates options public; do cp -R "$$src/$$d" $(GITEA_BIN_DIR).tmp/; done && \
	 chmod -R u+w $(GITEA_BIN_DIR).tmp
	@rm -rf $(GITEA_BIN_DIR) && mv $(GITEA_BIN_DIR).tmp $(GITEA_BIN_DIR)
	@$(GITEA_BIN_DIR)/gitea --version
