#!/usr/bin/env node
// stdio-client.mjs drives taskman-mcp over stdio with the official
// TypeScript SDK client (Client + StdioClientTransport), the way desktop MCP
// hosts start it.
//
// Usage: node stdio-client.mjs <binary> [KEY=VALUE...]
//
// The server gets the SDK's default inherited environment (PATH, HOME, ...)
// plus the KEY=VALUE pairs given. The script checks the tool catalog, then a
// task workflow, the resources, a subscription, the prompts and a
// completion (contextWorkflow), and a project, an action-list and a sprint
// workflow, asserting on
// structuredContent and on content[0].text being the same JSON. On success
// it prints {"ok":true,"tools":T,"steps":N} and exits 0; on failure it
// prints the reason and the server's stderr to stderr and exits 1.

import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport, getDefaultEnvironment } from "@modelcontextprotocol/sdk/client/stdio.js";
import { actionListWorkflow, connectAndCheck, projectWorkflow, runMain, sprintWorkflow } from "./workflows.mjs";

const SCRIPT = "stdio-client.mjs";

// STDERR_KEEP_BYTES bounds how much of the server's stderr is kept for the
// failure report: enough for the last few dozen log lines.
const STDERR_KEEP_BYTES = 16 * 1024;

const [binary, ...pairs] = process.argv.slice(2);
if (!binary) {
  process.stderr.write(`usage: node ${SCRIPT} <binary> [KEY=VALUE...]\n`);
  process.exit(2);
}
const env = getDefaultEnvironment();
for (const pair of pairs) {
  const eq = pair.indexOf("=");
  if (eq <= 0) {
    process.stderr.write(`${SCRIPT}: bad environment pair ${JSON.stringify(pair)}, want KEY=VALUE\n`);
    process.exit(2);
  }
  env[pair.slice(0, eq)] = pair.slice(eq + 1);
}

const transport = new StdioClientTransport({ command: binary, args: [], env, stderr: "pipe" });
let serverStderr = "";
transport.stderr?.on("data", (chunk) => {
  serverStderr = (serverStderr + chunk.toString()).slice(-STDERR_KEEP_BYTES);
});
const client = new Client({ name: "taskman-e2e-stdio", version: "1.0.0" });
const tag = `stdio-${process.pid}`;

await runMain(
  SCRIPT,
  async () => {
    const { c, tools } = await connectAndCheck(client, transport, tag);
    await projectWorkflow(c, tag);
    await actionListWorkflow(c, tag);
    await sprintWorkflow(c, tag);
    return { tools, steps: c.steps };
  },
  () => client.close(),
);
if (process.exitCode === 1 && serverStderr !== "") {
  process.stderr.write(`--- server stderr (last ${STDERR_KEEP_BYTES} bytes) ---\n${serverStderr}`);
}
