// Shared checks for the TypeScript SDK clients (stdio-client.mjs and
// http-client.mjs): the expected tool catalog, a checked tool call, and the
// task, project, action-list and sprint workflows. Every check throws an
// Error whose message says which step failed and what came back, so the
// script's stderr alone explains a failure.

import assert from "node:assert/strict";
import { ResourceUpdatedNotificationSchema } from "@modelcontextprotocol/sdk/types.js";

// EXPECTED_TOOLS is the catalog of docs/tools.md: the task, project,
// action-list, sprint and server tools. It is typed by hand on purpose so that a
// tool added to or dropped from the server without updating docs/tools.md
// fails here.
export const EXPECTED_TOOLS = [
  // Tasks
  "task_create",
  "task_read",
  "task_update",
  "task_set_status",
  "task_assign",
  "task_delete",
  "task_list",
  "task_bulk_update",
  "task_bulk_assign_sprint",
  "task_search",
  "task_complete",
  // Projects
  "project_create",
  "project_read",
  "project_update",
  "project_delete",
  "project_list",
  "project_add_sprint",
  "project_remove_sprint",
  "project_add_meta_task",
  "project_add_comment",
  "project_add_blocker",
  "project_get_comments",
  "project_get_metrics",
  // Action lists
  "action_list_create",
  "action_list_read",
  "action_list_list",
  "action_list_update",
  "action_list_delete",
  "action_list_add_item",
  "action_list_toggle_item",
  "action_list_remove_item",
  "action_list_reorder_items",
  "action_list_bulk_delete",
  "action_list_bulk_update",
  "action_list_search",
  "action_list_link_task",
  "action_list_unlink_task",
  "action_list_tasks",
  // Sprints
  "sprint_create",
  "sprint_read",
  "sprint_update",
  "sprint_delete",
  "sprint_list",
  "sprint_progress",
  "sprint_start",
  "sprint_complete",
  // Server and helpers
  "activate_taskman_server",
  "activate_task_tools",
  "activate_project_tools",
  "activate_action_list_tools",
  "ai_parse_task",
];

// MAX_TOOL_PAGES bounds the tools/list pagination loop: the whole catalog
// fits in one page, so a server that keeps returning a cursor is looping,
// not paging.
const MAX_TOOL_PAGES = 50;

// SCRIPT_TIMEOUT_MS stops a hung script on its own, well inside the 2-minute
// bound e2e_test.go puts on it, so the failure message is ours.
export const SCRIPT_TIMEOUT_MS = 100_000;

// Checker counts the tool calls (steps) one run makes.
export class Checker {
  constructor(client) {
    this.client = client;
    this.steps = 0;
  }

  // checkToolNames follows nextCursor until it is absent and asserts the
  // names equal EXPECTED_TOOLS exactly (order ignored, no duplicates).
  async checkToolNames() {
    const names = [];
    let cursor;
    for (let page = 0; ; page++) {
      if (page >= MAX_TOOL_PAGES) {
        throw new Error(`tools/list: still paging after ${MAX_TOOL_PAGES} pages`);
      }
      const res = await this.client.listTools(cursor === undefined ? {} : { cursor });
      this.steps++;
      for (const tool of res.tools) names.push(tool.name);
      cursor = res.nextCursor;
      if (cursor === undefined || cursor === null) break;
    }
    const got = [...names].sort();
    const want = [...EXPECTED_TOOLS].sort();
    const missing = want.filter((n) => !got.includes(n));
    const extra = got.filter((n) => !want.includes(n));
    const dups = got.filter((n, i) => i > 0 && got[i - 1] === n);
    if (missing.length || extra.length || dups.length) {
      throw new Error(
        `tools/list: got ${got.length} tools, want ${want.length}\n` +
          `  missing:    ${JSON.stringify(missing)}\n` +
          `  unexpected: ${JSON.stringify(extra)}\n` +
          `  duplicated: ${JSON.stringify(dups)}`,
      );
    }
    return got.length;
  }

  // call invokes a tool that must succeed and returns its structuredContent,
  // after checking that content[0].text is the same JSON.
  async call(name, args) {
    const res = await this.client.callTool({ name, arguments: args });
    this.steps++;
    const text = res.content?.[0]?.type === "text" ? res.content[0].text : undefined;
    if (res.isError) {
      throw new Error(`${name}(${JSON.stringify(args)}): isError true: ${text}`);
    }
    const sc = res.structuredContent;
    if (sc === null || typeof sc !== "object" || Array.isArray(sc)) {
      throw new Error(`${name}: structuredContent = ${JSON.stringify(sc)}, want an object`);
    }
    if (text === undefined) {
      throw new Error(`${name}: content[0] = ${JSON.stringify(res.content?.[0])}, want a text block`);
    }
    let parsed;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      throw new Error(`${name}: content[0].text is not JSON (${err.message}): ${text}`);
    }
    try {
      assert.deepStrictEqual(parsed, sc);
    } catch {
      throw new Error(
        `${name}: content[0].text and structuredContent differ\n  text:       ${text}\n  structured: ${JSON.stringify(sc)}`,
      );
    }
    return sc;
  }

  // callError invokes a tool that must fail with a tool result (isError
  // true) and returns that result's text.
  async callError(name, args) {
    const res = await this.client.callTool({ name, arguments: args });
    this.steps++;
    if (res.isError !== true) {
      throw new Error(`${name}(${JSON.stringify(args)}): isError = ${res.isError}, want true; result ${JSON.stringify(res)}`);
    }
    return res.content?.[0]?.text ?? "";
  }
}

// expect throws a step-labelled Error when cond is false.
export function expect(cond, step, what, got) {
  if (!cond) throw new Error(`${step}: ${what}; got ${JSON.stringify(got)}`);
}

// taskWorkflow creates, reads, updates, lists and deletes one task in a
// project it creates first, then checks that reading it again fails.
export async function taskWorkflow(c, tag) {
  const projectId = (await c.call("project_create", { project: { name: `e2e task project ${tag}` } })).project.id;
  const title = `e2e task ${tag}`;
  const created = await c.call("task_create", { task: { title, project_id: projectId } });
  const id = created.task?.id;
  expect(typeof id === "string" && id !== "", "task_create", "task.id must be a non-empty string", created);
  expect(created.task.title === title, "task_create", `task.title must be ${JSON.stringify(title)}`, created);

  const read = await c.call("task_read", { taskId: id });
  expect(read.task?.id === id && read.task.title === title, "task_read", `want task ${id} titled ${title}`, read);

  const updated = await c.call("task_update", { taskId: id, changes: { priority: "high" } });
  expect(updated.task?.priority === "high", "task_update", "task.priority must be high", updated);

  const listed = await c.call("task_list", { project_id: projectId });
  expect(Array.isArray(listed.tasks), "task_list", "tasks must be an array", listed);
  const found = listed.tasks.find((t) => t.id === id);
  expect(found !== undefined, "task_list", `project ${projectId} must list task ${id}`, listed);
  expect(found.priority === "high", "task_list", "the listed task must carry the update", found);

  const deleted = await c.call("task_delete", { taskId: id });
  expect(deleted.taskId === id && deleted.deleted === true, "task_delete", `want {taskId: ${id}, deleted: true}`, deleted);

  const text = await c.callError("task_read", { taskId: id });
  expect(text.includes(id), "task_read after delete", `the error text must name ${id}`, text);
}

// projectWorkflow creates a project, comments on it, reads the comments and
// metrics, and deletes it.
export async function projectWorkflow(c, tag) {
  const name = `e2e project ${tag}`;
  const created = await c.call("project_create", { project: { name } });
  const id = created.project?.id;
  expect(typeof id === "string" && id !== "", "project_create", "project.id must be a non-empty string", created);
  expect(created.project.name === name, "project_create", `project.name must be ${JSON.stringify(name)}`, created);

  const message = `e2e comment ${tag}`;
  const commented = await c.call("project_add_comment", {
    projectId: id,
    comment: { message, author: "e2e" },
  });
  expect(commented.projectId === id && commented.comment?.message === message, "project_add_comment",
    `want {projectId: ${id}, comment: {message: ${message}}}`, commented);

  const comments = await c.call("project_get_comments", { projectId: id });
  expect(comments.projectId === id && Array.isArray(comments.comments), "project_get_comments",
    "want {projectId, comments: [...]}", comments);
  expect(comments.comments.some((m) => m.message === message), "project_get_comments",
    `comments must include ${JSON.stringify(message)}`, comments);

  const metrics = await c.call("project_get_metrics", { projectId: id });
  const stats = metrics.metrics?.task_statistics;
  expect(metrics.projectId === id && stats !== undefined, "project_get_metrics",
    "want {projectId, metrics: {task_statistics}}", metrics);
  expect(typeof stats.total === "number" && typeof stats.completion_percentage === "number", "project_get_metrics",
    "task_statistics.total and completion_percentage must be numbers", stats);

  const deleted = await c.call("project_delete", { projectId: id });
  expect(deleted.projectId === id && deleted.deleted === true, "project_delete", `want {projectId: ${id}, deleted: true}`, deleted);
}

// actionListWorkflow creates a two-item list, adds and toggles an item,
// checks the counters, and deletes the list.
export async function actionListWorkflow(c, tag) {
  const title = `e2e list ${tag}`;
  const created = await c.call("action_list_create", {
    title,
    items: [{ text: "first" }, { text: "second" }],
  });
  const list = created.action_list;
  const id = list?.id;
  expect(typeof id === "string" && id !== "", "action_list_create", "action_list.id must be a non-empty string", created);
  expect(Array.isArray(list.items) && list.items.length === 2, "action_list_create", "want 2 items", list);

  const added = await c.call("action_list_add_item", { action_list_id: id, text: "third" });
  const items = added.action_list?.items;
  expect(Array.isArray(items) && items.length === 3, "action_list_add_item", "want 3 items", added);
  const third = items.find((it) => it.text === "third");
  expect(third !== undefined && typeof third.id === "string", "action_list_add_item", "want an item \"third\" with an id", items);

  const toggled = await c.call("action_list_toggle_item", { action_list_id: id, item_id: third.id });
  const after = toggled.action_list?.items?.find((it) => it.id === third.id);
  expect(after?.completed === true, "action_list_toggle_item", `item ${third.id} must be completed`, toggled);

  const read = await c.call("action_list_read", { action_list_id: id });
  const al = read.action_list;
  expect(al?.id === id, "action_list_read", `want action list ${id}`, read);
  expect(al.total_items === 3 && al.completed_items === 1, "action_list_read",
    "want total_items 3 and completed_items 1", { total_items: al.total_items, completed_items: al.completed_items });

  const deleted = await c.call("action_list_delete", { action_list_id: id });
  expect(deleted.success === true, "action_list_delete", "want {success: true}", deleted);
}

// sprintWorkflow plans a sprint from nothing on the embedded backend:
// project, sprint, two tasks in it, one completed, progress 2 and 1, a
// refused complete, start, complete, a task linked to an action list and
// unlinked, and delete, which keeps the tasks.
export async function sprintWorkflow(c, tag) {
  const project = (await c.call("project_create", { project: { name: `e2e sprint project ${tag}` } })).project;
  const created = await c.call("sprint_create", { sprint: { name: `e2e sprint ${tag}`, project_id: project.id } });
  const id = created.sprint?.id;
  expect(typeof id === "string" && created.sprint.status === "new", "sprint_create", "want an id and status new", created);
  const tasks = [];
  for (const title of ["one", "two"]) {
    const t = await c.call("task_create", { task: { title, project_id: project.id, sprint_id: id } });
    tasks.push(t.task.id);
  }
  const done = await c.call("task_complete", { taskId: tasks[0] });
  expect(done.task?.status === "completed", "task_complete", "task.status must be completed", done);
  const progress = await c.call("sprint_progress", { sprintId: id });
  expect(progress.progress?.task_count === 2 && progress.progress.completed_count === 1, "sprint_progress", "want 2 tasks, 1 completed", progress);
  const refused = await c.callError("sprint_complete", { sprintId: id });
  expect(refused.includes("is new") && refused.includes("start it first"), "sprint_complete before start", "the error must name the state", refused);
  const started = await c.call("sprint_start", { sprintId: id });
  expect(started.sprint?.status === "active", "sprint_start", "sprint.status must be active", started);
  const completed = await c.call("sprint_complete", { sprintId: id });
  expect(completed.sprint?.status === "completed", "sprint_complete", "sprint.status must be completed", completed);

  const list = (await c.call("action_list_create", { title: `e2e board ${tag}` })).action_list;
  await c.call("action_list_link_task", { action_list_id: list.id, task_id: tasks[1] });
  const linked = await c.call("action_list_tasks", { action_list_id: list.id });
  assert.deepStrictEqual(linked.task_ids, [tasks[1]], `action_list_tasks: ${JSON.stringify(linked)}`);
  const unlinked = await c.call("action_list_unlink_task", { action_list_id: list.id, task_id: tasks[1] });
  assert.deepStrictEqual(unlinked.action_list?.task_ids, [], `action_list_unlink_task: ${JSON.stringify(unlinked)}`);

  const deleted = await c.call("sprint_delete", { sprintId: id });
  assert.deepStrictEqual(deleted.cleared_task_ids, tasks, `sprint_delete: ${JSON.stringify(deleted)}`);
  const kept = await c.call("task_read", { taskId: tasks[0] });
  expect(kept.task?.sprint_id === undefined, "task_read after sprint_delete", "the task must be kept without a sprint", kept);
}

// connectAndCheck connects client over transport and runs the checks both
// scripts make: the tool catalog, the task workflow and the context
// workflow. It returns the checker, for the script's further workflows,
// and the tool names.
export async function connectAndCheck(client, transport, tag) {
  await client.connect(transport);
  const c = new Checker(client);
  const tools = await c.checkToolNames();
  await taskWorkflow(c, tag);
  await contextWorkflow(c, client, tag);
  return { c, tools };
}

// runMain runs body with a watchdog and the output convention of both
// scripts: one JSON line on stdout and exit 0 on success, a FAIL line on
// stderr and exit 1 otherwise. cleanup runs either way.
export async function runMain(script, body, cleanup) {
  const watchdog = setTimeout(() => {
    process.stderr.write(`${script}: FAIL: timed out after ${SCRIPT_TIMEOUT_MS} ms\n`);
    process.exit(1);
  }, SCRIPT_TIMEOUT_MS);
  watchdog.unref();
  try {
    const summary = await body();
    await cleanup();
    process.stdout.write(JSON.stringify({ ok: true, ...summary }) + "\n");
    process.exitCode = 0;
  } catch (err) {
    process.stderr.write(`${script}: FAIL: ${err instanceof Error ? err.message : String(err)}\n`);
    try {
      await cleanup();
    } catch (closeErr) {
      process.stderr.write(`${script}: close: ${closeErr?.message ?? closeErr}\n`);
    }
    process.exitCode = 1;
  } finally {
    clearTimeout(watchdog);
  }
}

// UPDATE_WAIT_MS bounds the wait for notifications/resources/updated.
const UPDATE_WAIT_MS = 5000;

// contextWorkflow uses what an assistant attaches as context: it lists the
// resource templates and resources, reads a task as a resource, subscribes
// to it and waits for the update task_update causes, lists the prompts and
// gets daily_standup with the task embedded, and completes the task's id.
export async function contextWorkflow(c, client, tag) {
  const project = await c.call("project_create", { project: { name: `e2e context ${tag}` } });
  const projectId = project.project.id;
  const task = await c.call("task_create", { task: { title: `e2e context task ${tag}`, project_id: projectId, status: "in_progress" } });
  const id = task.task.id;
  const uri = `taskman://tasks/${id}`;

  const templates = await client.listResourceTemplates();
  c.steps++;
  const uriTemplates = templates.resourceTemplates.map((t) => t.uriTemplate).sort();
  expect(uriTemplates.includes("taskman://tasks/{id}") && uriTemplates.length === 4, "resources/templates/list",
    "want the four taskman:// templates", uriTemplates);

  const listed = await client.listResources();
  c.steps++;
  expect(listed.resources.some((r) => r.uri === `taskman://projects/${projectId}`), "resources/list",
    `must list project ${projectId}`, listed.resources.map((r) => r.uri));

  const read = await client.readResource({ uri });
  c.steps++;
  const content = read.contents?.[0];
  expect(content?.mimeType === "application/json" && JSON.parse(content.text).id === id, "resources/read",
    `want task ${id} as application/json`, read);

  const updates = [];
  client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => updates.push(n.params.uri));
  await client.subscribeResource({ uri });
  c.steps++;
  await c.call("task_update", { taskId: id, changes: { priority: "high" } });
  const deadline = Date.now() + UPDATE_WAIT_MS;
  while (!updates.includes(uri) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  expect(updates.includes(uri), "resources/subscribe", `want notifications/resources/updated for ${uri} after task_update`, updates);

  const prompts = await client.listPrompts();
  c.steps++;
  const names = prompts.prompts.map((p) => p.name).sort();
  expect(JSON.stringify(names) === JSON.stringify(["daily_standup", "plan_sprint", "triage"]), "prompts/list",
    "want daily_standup, plan_sprint and triage", names);
  const standup = await client.getPrompt({ name: "daily_standup", arguments: { project_id: projectId } });
  c.steps++;
  const embedded = standup.messages.filter((m) => m.content.type === "resource").map((m) => m.content.resource.uri);
  expect(embedded.includes(uri), "prompts/get daily_standup", `must embed ${uri}`, embedded);

  const done = await client.complete({ ref: { type: "ref/resource", uri: "taskman://tasks/{id}" }, argument: { name: "id", value: id.slice(0, -2) } });
  c.steps++;
  expect(done.completion.values.includes(id), "completion/complete", `must complete ${id}`, done.completion);
}
