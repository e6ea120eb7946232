# k3sync — GitOps for the k3 stack (Kubernetes, Kafka, Kong).
# `make help` lists the targets. Heavy tool builds are cached under bin/,
# keyed by version, and never downloaded as prebuilt binaries.

SHELL := /usr/bin/env bash
.DEFAULT_GOAL := help

GO ?= go
BIN_DIR := $(CURDIR)/bin
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
LDFLAGS := -X github.com/k3sync/k3sync/internal/version.Version=$(VERSION)

GOLANGCI_LINT_VERSION ?= v2.15.0
GOLANGCI_LINT := $(BIN_DIR)/golangci-lint-$(GOLANGCI_LINT_VERSION)/golangci-lint

# Where `make demo` serves the API and dashboard.
DEMO_LISTEN ?= 127.0.0.1:8080

# Fuzzing time per fuzz target in `make test` (longer in `make fuzz`).
FUZZTIME ?= 15s

include hack/k8s/k8s.mk
include hack/gitea/gitea.mk
include hack/kafka/kafka.mk

.PHONY: help
## help: list the targets
help:
	@echo "k3sync make targets:"
	@grep -hE '^## ' $(MAKEFILE_LIST) | sed -e 's/^## /  /' | column -t -s ':' | sed -e 's/^/ /'

.PHONY: build
## build: build bin/k3sync
build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN_DIR)/k3sync ./cmd/k3sync

.PHONY: test
## test: the whole test suite against real peers (race detector on), vet, and a short fuzz run
test: kube-bins gitea-bin kafka-bin
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 45m ./...
	$(GO) test -run '^$$' -fuzz '^FuzzLoad$$' -fuzztime $(FUZZTIME) ./internal/loader
	$(GO) test -run '^$$' -fuzz '^FuzzLoadLimits$$' -fuzztime $(FUZZTIME) ./internal/loader
	$(GO) test -run '^$$' -fuzz '^FuzzComment$$' -fuzztime $(FUZZTIME) ./internal/review
	$(GO) test -run '^$$' -fuzz '^FuzzPages$$' -fuzztime $(FUZZTIME) ./internal/dashboard

.PHONY: fuzz
## fuzz: fuzz the loader for 5 minutes
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzLoad$$' -fuzztime 5m ./internal/loader

.PHONY: bench
## bench: run the benchmarks once each (numbers for closing notes and ADRs)
bench: kube-bins
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 1x -timeout 90m ./...

# make bench-compare: generated tenants, iterations of each benchmark, and
# where the raw output, the CPU profiles and the table go.
BENCH_COMPARE_TENANTS ?= 1000
BENCH_COMPARE_TIME ?= 3x
BENCH_COMPARE_DIR := $(BIN_DIR)/bench-compare
BENCH_COMPARE_RUN := $(GO) test -p 1 -count=1 -run '^$$' -benchtime $(BENCH_COMPARE_TIME) -timeout 60m

.PHONY: bench-compare
## bench-compare: k3sync's plans vs kubectl diff --server-side and decK diff on the same state (1,000 tenants), as a table (docs/performance.md)
bench-compare: kube-bins kafka-bin
	@mkdir -p $(BENCH_COMPARE_DIR)
	$(BENCH_COMPARE_RUN) -bench '^BenchmarkKubernetesNoopPlan$$' -o $(BENCH_COMPARE_DIR)/benchcompare.test -cpuprofile $(BENCH_COMPARE_DIR)/kubernetes.pprof ./internal/benchcompare -args -benchcompare.tenants=$(BENCH_COMPARE_TENANTS) | tee $(BENCH_COMPARE_DIR)/kubernetes.txt; exit $${PIPESTATUS[0]}
	$(BENCH_COMPARE_RUN) -bench '^BenchmarkKongNoopPlan$$' -o $(BENCH_COMPARE_DIR)/benchcompare.test -cpuprofile $(BENCH_COMPARE_DIR)/kong.pprof ./internal/benchcompare -args -benchcompare.tenants=$(BENCH_COMPARE_TENANTS) | tee $(BENCH_COMPARE_DIR)/kong.txt; exit $${PIPESTATUS[0]}
	$(BENCH_COMPARE_RUN) -bench '^BenchmarkPlanNoop1000Tenants$$' ./internal/target/kafka | tee $(BENCH_COMPARE_DIR)/kafka.txt; exit $${PIPESTATUS[0]}
	@$(GO) run ./hack/benchcompare $(BENCH_COMPARE_DIR)/kubernetes.txt $(BENCH_COMPARE_DIR)/kong.txt $(BENCH_COMPARE_DIR)/kafka.txt | tee $(BENCH_COMPARE_DIR)/table.md; exit $${PIPESTATUS[0]}
	@echo ">> table in $(BENCH_COMPARE_DIR)/table.md; CPU profiles: go tool pprof -top $(BENCH_COMPARE_DIR)/benchcompare.test $(BENCH_COMPARE_DIR)/kong.pprof (or kubernetes.pprof)"

IMAGE ?= ghcr.io/k3sync/k3sync:$(VERSION)

.PHONY: image
## image: build the container image IMAGE from the Dockerfile (needs a Docker engine)
image:
	@docker info >/dev/null 2>&1 || { echo "make image: no Docker engine answers (docker info failed): run it where Docker or BuildKit runs, e.g. in CI"; exit 1; }
	docker build --build-arg VERSION=$(VERSION) --build-arg COMMIT=$$(git rev-parse HEAD 2>/dev/null) -t $(IMAGE) .

.PHONY: lint
## lint: gofmt check and golangci-lint (built from source, cached in bin/)
lint: $(GOLANGCI_LINT)
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GOLANGCI_LINT) run ./...

$(GOLANGCI_LINT):
	GOBIN=$(dir $@) $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)

.PHONY: fmt
## fmt: gofmt the tree
fmt:
	gofmt -w $$(git ls-files '*.go')

.PHONY: demo
## demo: the whole stack locally (two clusters, Kafka, Kong emulator, a Git repo, k3sync serve)
demo: demo-banner kube-bins build
	$(BIN_DIR)/k3sync dev --repo examples/platform-repo --listen $(DEMO_LISTEN)

# demo-banner says up front what the first `make demo` builds, so the
# minutes of module downloads and compiling are not silent.
.PHONY: demo-banner
demo-banner:
	@test -x $(KUBE_BIN_DIR)/kube-apiserver || echo ">> first run: downloading modules and building kube-apiserver and etcd (about 6 minutes on 2 cores), then k3sync; later runs start in seconds"

.PHONY: clean
## clean: remove bin/ (cached tool builds included)
clean:
	rm -rf $(BIN_DIR)
