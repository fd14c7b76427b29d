#!/usr/bin/env bash
# inspector.sh drives taskman-mcp with the MCP Inspector CLI (v2), which
# needs Node >= 22.19; it runs with the Node 22 that install.sh puts in
# e2e/.node22 (or $TASKMAN_E2E_NODE22 when set).
#
# Usage:
#   e2e/inspector.sh stdio <binary>   spawn the binary per call (embedded
#                                     backend persisted to a temporary
#                                     TASKMAN_DATA_FILE so a read sees the
#                                     previous call's write)
#   e2e/inspector.sh http <url>       talk to a running server, e.g.
#                                     http://127.0.0.1:3000/mcp
#
# Each mode lists the tools (the 51 names of docs/tools.md, taken from
# workflows.mjs), creates a project and a task in it, reads the task back,
# and checks that reading a missing task fails. On success it prints {"ok":true,"tools":51,"steps":N}
# on stdout and exits 0; on any failure it says why on stderr and exits 1.
set -euo pipefail

script=inspector.sh
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

die() {
	echo "$script: FAIL: $*" >&2
	exit 1
}

[[ $# -eq 2 ]] || { echo "usage: $script stdio <binary> | $script http <url>" >&2; exit 2; }
mode=$1 target=$2

node22=${TASKMAN_E2E_NODE22:-$here/.node22/node_modules/node/bin/node}
inspector=$here/node_modules/@modelcontextprotocol/inspector/clients/launcher/build/index.js
[[ -x $node22 ]] || die "no Node 22 at $node22: run e2e/install.sh"
[[ -f $inspector ]] || die "no MCP Inspector at $inspector: run e2e/install.sh"
"$node22" -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>22||(a===22&&b>=19)?0:1)' ||
	die "$node22 is Node $("$node22" -v), the Inspector needs >= 22.19: run e2e/install.sh"

work=$(mktemp -d "${TMPDIR:-/tmp}/taskman-e2e-inspector.XXXXXX")
trap 'rm -rf "$work"' EXIT

# The Inspector keeps a catalog and client config under ~/.mcp-inspector;
# point both at the scratch directory so a run leaves nothing behind.
export MCP_CATALOG_PATH=$work/catalog.json
export MCP_CLIENT_CONFIG_PATH=$work/client.json

case $mode in
stdio)
	[[ -x $target ]] || die "binary $target is not executable"
	conn=("$target" -e "TASKMAN_DATA_FILE=$work/data.json")
	;;
http)
	conn=(--transport http --server-url "$target")
	;;
*)
	die "unknown mode $mode, want stdio or http"
	;;
esac

steps=0

# inspect runs one Inspector CLI call with --format json and leaves its
# stdout in $out and its exit status in $rc (stderr passes through).
inspect() {
	steps=$((steps + 1))
	rc=0
	out=$("$node22" "$inspector" --cli "${conn[@]}" --format json "$@") || rc=$?
}

# check runs a JavaScript check against $out (exposed as `res`, the parsed
# JSON) with extra arguments in `argv`; the check prints its output value, or
# throws to fail the run.
check() {
	local what=$1 js=$2
	shift 2
	printf '%s' "$out" | E2E_HERE=$here "$node22" --input-type=module -e "
		import { pathToFileURL } from 'node:url';
		import assert from 'node:assert/strict';
		const { EXPECTED_TOOLS } = await import(pathToFileURL(process.env.E2E_HERE + '/workflows.mjs').href);
		let s = '';
		for await (const d of process.stdin) s += d;
		const argv = process.argv.slice(1);
		try {
			let res;
			try { res = JSON.parse(s); } catch { throw new Error('output is not JSON'); }
			const r = await (async () => { $js })();
			if (r !== undefined) process.stdout.write(String(r));
		} catch (e) {
			process.stderr.write(e.message + '\\n');
			process.exit(1);
		}
	" "$@" || die "$what: check failed; output was: $out"
}

# 1. tools/list: exactly the 51 names; --strict makes an error-severity
# schema portability problem fail the call (exit 6), warnings only print.
inspect --method tools/list --strict
[[ $rc -eq 0 ]] || die "tools/list exited $rc: $out"
grep -q '"task_create"' <<<"$out" || die "tools/list: no task_create in $out"
tools=$(check "tools/list" '
	const got = res.result.tools.map((t) => t.name).sort();
	const want = [...EXPECTED_TOOLS].sort();
	assert.deepStrictEqual(got, want, "tool names differ from docs/tools.md");
	return got.length;
')

# 2. tools/call project_create, then task_create in that project: a T- id,
# structuredContent equal to the text.
inspect --method tools/call --tool-name project_create \
	--tool-arg "project={\"name\":\"inspector e2e $$\"}"
[[ $rc -eq 0 ]] || die "project_create exited $rc: $out"
project=$(check "project_create" 'return res.result.structuredContent.project.id;')
title="inspector e2e $$"
inspect --method tools/call --tool-name task_create \
	--tool-arg "task={\"title\":\"$title\",\"project_id\":\"$project\"}"
[[ $rc -eq 0 ]] || die "task_create exited $rc: $out"
grep -Eq '"id":"T-[^"]+"' <<<"$out" || die "task_create: no T- id in $out"
id=$(check "task_create" '
	const r = res.result;
	assert.notEqual(r.isError, true, "isError");
	assert.deepStrictEqual(JSON.parse(r.content[0].text), r.structuredContent, "content[0].text vs structuredContent");
	assert.equal(r.structuredContent.task.title, argv[0], "task.title");
	return r.structuredContent.task.id;
' "$title")

# 3. tools/call task_read of that id: the same task comes back.
inspect --method tools/call --tool-name task_read --tool-arg "taskId=$id"
[[ $rc -eq 0 ]] || die "task_read $id exited $rc: $out"
check "task_read" '
	const t = res.result.structuredContent.task;
	assert.equal(t.id, argv[0], "task.id");
	assert.equal(t.title, argv[1], "task.title");
' "$id" "$title"

# 4. tools/call task_read of a missing id: the tool fails (isError), and the
# Inspector must report that with a non-zero exit.
inspect --method tools/call --tool-name task_read --tool-arg "taskId=T-e2e-missing-$$"
[[ $rc -ne 0 ]] || die "task_read of a missing task exited 0, want non-zero: $out"

printf '{"ok":true,"tools":%s,"steps":%s}\n' "$tools" "$steps"
