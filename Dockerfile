# syntax=docker/dockerfile:1
#
# The k3sync image: `make image`, or
#   docker build --build-arg VERSION=$(git describe --tags --always) -t k3sync .
#
# A static binary (CGO_ENABLED=0) on distroless/static, running as the
# distroless nonroot user. The root filesystem can be mounted read-only:
# k3sync writes only to its Git clone and, with the bolt backend, its
# state file, both on volumes (see deploy/). internal/deploytest checks
# this file: multi-stage, distroless final stage, non-root, CGO off, and
# the builder's Go version equal to go.mod's go directive.

# The builder runs on the build machine's platform and cross-compiles.
FROM --platform=$BUILDPLATFORM golang:1.26.8-bookworm AS build
ARG TARGETOS=linux
ARG TARGETARCH=amd64
ARG VERSION=devel
ARG COMMIT=
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
# Only the sources the binary is built from: the context may hold bin/
# (cached tool builds) and test binaries.
COPY cmd/ cmd/
COPY internal/ internal/
COPY schema/ schema/
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath \
      -ldflags "-s -w -X github.com/k3sync/k3sync/internal/version.Version=${VERSION} -X github.com/k3sync/k3sync/internal/version.Commit=${COMMIT}" \
      -o /out/k3sync ./cmd/k3sync

FROM gcr.io/distroless/static-debian12:nonroot
LABEL org.opencontainers.image.source="https://github.com/k3sync/k3sync" \
      org.opencontainers.image.description="GitOps reconciler for Kubernetes, Kafka and Kong"
COPY --from=build /out/k3sync /k3sync
# 65532 is distroless' nonroot; numeric so that runAsNonRoot can verify it.
USER 65532:65532
ENTRYPOINT ["/k3sync"]
CMD ["serve", "--config", "/etc/k3sync/k3sync.yaml"]
