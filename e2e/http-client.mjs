#!/usr/bin/env node
// http-client.mjs drives a running taskman-mcp over Streamable HTTP with the
// official TypeScript SDK client (Client + StreamableHTTPClientTransport).
//
// Usage: node http-client.mjs <url>    e.g. http://127.0.0.1:3000/mcp
//
// The script checks the tool catalog, the resources, a subscription (its
// update on the GET stream), the prompts and a completion
// (contextWorkflow), and a task create, read, update,
// delete cycle, asserting on structuredContent and on content[0].text being
// the same JSON, then a bulk update with a progress token, answered as an
// event stream (which in a 2025-11-25 session opens with the SSE priming
// event), then ends its session. On success it prints
// {"ok":true,"tools":T,"steps":N} and exits 0; on failure it prints the
// reason to stderr and exits 1.

import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { connectAndCheck, expect, runMain } from "./workflows.mjs";

const SCRIPT = "http-client.mjs";

const [raw] = process.argv.slice(2);
let url;
try {
  url = new URL(raw ?? "");
} catch {
  process.stderr.write(`usage: node ${SCRIPT} <url>   (got ${JSON.stringify(raw)})\n`);
  process.exit(2);
}

const transport = new StreamableHTTPClientTransport(url);
const client = new Client({ name: "taskman-e2e-http", version: "1.0.0" });
const tag = `http-${process.pid}`;

await runMain(
  SCRIPT,
  async () => {
    const { c, tools } = await connectAndCheck(client, transport, tag);
    const project = (await c.call("project_create", { project: { name: `bulk ${tag}` } })).project;
    const made = await c.call("task_create", { task: { title: `bulk ${tag}`, project_id: project.id } });
    const progress = [];
    const bulk = await client.callTool(
      { name: "task_bulk_update", arguments: { taskIds: [made.task.id], changes: { priority: "low" } } },
      undefined,
      { onprogress: (p) => progress.push(p.progress) },
    );
    c.steps++;
    expect(bulk.structuredContent?.updated_count === 1, "task_bulk_update", "updated_count must be 1", bulk);
    expect(progress.length > 0, "task_bulk_update", "progress notifications must arrive on the stream", progress);
    // A well-behaved client ends its session with DELETE; the server must
    // answer it (or 405 when it keeps no sessions, which the SDK accepts).
    await transport.terminateSession();
    return { tools, steps: c.steps };
  },
  () => client.close(),
);
