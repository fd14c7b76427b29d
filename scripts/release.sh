#!/bin/sh
# release.sh builds the static release binary of taskman-mcp, the way the
# Dockerfile does: CGO_ENABLED=0 (no libc, runs on an empty image),
# -trimpath (no build-machine paths), -s -w (no symbol table or DWARF), and
# the version from git stamped into main.version.
#
#   scripts/release.sh              # -> ./taskman-mcp for this machine
#   GOOS=linux GOARCH=arm64 OUT=dist/taskman-mcp-linux-arm64 scripts/release.sh
#
# VERSION overrides the version; otherwise it is `git describe --tags
# --always --dirty` (e.g. v1.2.0-3-gabc1234-dirty), or "dev" outside a git
# checkout.
set -eu

cd "$(dirname "$0")/.."

if [ -z "${VERSION:-}" ]; then
	VERSION=$(git describe --tags --always --dirty 2>/dev/null || echo dev)
fi
OUT=${OUT:-taskman-mcp}

CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o "$OUT" .

size=$(wc -c <"$OUT" | tr -d ' ')
echo "built $OUT version $VERSION ($(go env GOOS)/$(go env GOARCH), $size bytes)"
