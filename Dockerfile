# syntax=docker/dockerfile:1
#
# Container image of taskman-mcp: a static binary on an empty ("scratch")
# base, so the image holds the binary, the CA bundle and nothing else: no
# shell, no package manager, no libc. It serves MCP over Streamable HTTP on
# port 3000 (/mcp, /health/*, /metrics).
#
#   docker build -t taskman-mcp --build-arg VERSION=$(git describe --tags --always --dirty) .
#   docker run --rm -p 3000:3000 taskman-mcp
#
# Multi-platform: docker buildx build --platform linux/amd64,linux/arm64 .
# The builder runs on the build machine's platform and cross-compiles
# (pure Go, CGO_ENABLED=0), so no emulation is needed.
#
# Needs BuildKit (the default builder since Docker 23) for the cache mount
# and the platform arguments.

# The build image, pinned by digest so that a rebuild of the same commit
# uses the same compiler and base layers (a tag such as golang:1.26 moves
# with every point release). It must satisfy the go directive of go.mod.
# The digest is the multi-platform index of golang:1.26 (Go 1.26.5), as
# recorded by Docker's official-images record,
# https://github.com/docker-library/repo-info/blob/master/repos/golang/remote/1.26.md;
# it could not be checked against the registry where this file was written.
# To move to a newer Go, take the current digest of the tag and review it:
#   docker buildx imagetools inspect golang:1.26 --format '{{json .Manifest.Digest}}'
ARG GO_IMAGE=golang:1.26.5@sha256:3aff6657219a4d9c14e27fb1d8976c49c29fddb70ba835014f477e1c70636647

FROM --platform=$BUILDPLATFORM ${GO_IMAGE} AS build
WORKDIR /src

# Modules first, in their own layer: it is rebuilt only when go.mod or
# go.sum change, not on every source edit. go.sum lists the OpenTelemetry
# modules and what they bring (deps.txt); go mod verify checks the
# downloaded modules against it.
COPY go.mod go.sum ./
RUN go mod download && go mod verify

COPY . .

ARG TARGETOS
ARG TARGETARCH
ARG VERSION=dev
# Static, reproducible release build (same flags as scripts/release.sh):
# CGO_ENABLED=0 links no libc (the runtime image has none), -trimpath drops
# the builder's paths, -s -w drop the symbol table and DWARF (about 30 % of
# the size; panics still print file:line, from the pclntab), -X sets
# main.version.
RUN --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} \
    go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/taskman-mcp .

FROM scratch

ARG VERSION=dev
ARG REVISION=unknown
ARG CREATED=
ARG SOURCE=
# OCI image annotations
# (https://github.com/opencontainers/image-spec/blob/main/annotations.md).
# CREATED is an RFC 3339 date, SOURCE the repository URL; both are left to
# the build command (docker build --build-arg CREATED=$(date -u +%FT%TZ)).
LABEL org.opencontainers.image.title="taskman-mcp" \
      org.opencontainers.image.description="Model Context Protocol server for the Task Manager API (Streamable HTTP on port 3000)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.base.name="scratch"

# Go reads /etc/ssl/certs/ca-certificates.crt first on Linux; it is needed
# for an https TASK_MANAGER_API_ENDPOINT or OTLP endpoint.
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/taskman-mcp /taskman-mcp

# 65532 is the "nonroot" user of the distroless images, a numeric id so
# that Kubernetes' runAsNonRoot can verify it without an /etc/passwd.
USER 65532:65532

# A container must listen on all interfaces to be reachable (the default,
# 127.0.0.1, is for a desktop), and the stdio transport has no client in a
# container.
ENV HOST=0.0.0.0 TASKMAN_MCP_TRANSPORT=http
EXPOSE 3000

# No HEALTHCHECK: there is no shell or HTTP client in the image to run one;
# orchestrators probe /health/live, /health/ready and /health/startup.
ENTRYPOINT ["/taskman-mcp"]
