// The MCP Apps views (io.modelcontextprotocol/ui) in Debian's Chromium, inside a test host page
// built on the official host side (@modelcontextprotocol/ext-apps's AppBridge, pinned), talking
// to `coda-mcp serve --demo` through the official MCP client SDK: the rows view renders, sorts,
// filters, pages, edits a cell (the demo row changes; a read-only server refuses and the cell
// reverts) and adds a row; the doc and page views render; every view runs under a CSP with no
// outside origin; and a client without the extension sees no change.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { createInterface } from "node:readline";
import { chromium } from "playwright-core";
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, "..", "..");
const BIN = process.env.CODA_MCP_BIN || join(ROOT, "target", "debug", "coda-mcp");
const ARTIFACTS = join(ROOT, "artifacts");
const KEY = "cmk_views-test-key-0000000000000000000000";
const PLAN = "AbCDeFGH01", BOOK = "HaNdBoOk02";
const UI = "io.modelcontextprotocol/ui", MIME = "text/html;profile=mcp-app";
const BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run", "--disable-background-networking"];

function startServer(dataDir, args = []) {
  return new Promise((resolve, reject) => {
    const env = { ...process.env, CODA_MCP_KEY: KEY, CODA_MCP_KEYCHAIN: "off", CODA_MCP_DATA_DIR: dataDir, RUST_LOG: "warn", CODA_MCP_TOOLSETS: "all" };
    delete env.CODA_API_TOKEN;
    const proc = spawn(BIN, ["serve", "--demo", "--port", "0", ...args], { env, stdio: ["ignore", "pipe", "inherit"] });
    const info = { proc };
    const timer = setTimeout(() => reject(new Error("server did not start")), 15000);
    createInterface({ input: proc.stdout }).on("line", (line) => {
      const mcp = line.match(/(http:\/\/\S+\/mcp)/);
      if (line.startsWith("coda-mcp ready") && mcp) info.mcp = mcp[1];
      if (line.startsWith("dashboard: ")) info.dashboard = line.slice("dashboard: ".length).trim();
      if (info.mcp && info.dashboard) { clearTimeout(timer); resolve(info); }
    });
    proc.on("exit", (code) => reject(new Error(`server exited ${code}`)));
  });
}
async function stopServer(info) {
  const done = new Promise((r) => info.proc.once("exit", r));
  info.proc.kill("SIGTERM");
  await done;
}
async function connect(url, views) {
  const capabilities = views ? { extensions: { [UI]: { mimeTypes: [MIME] } } } : {};
  const client = new Client({ name: views ? "views-test-host" : "plain-client", version: "1.0.0" }, { capabilities });
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { Authorization: `Bearer ${KEY}` } } }));
  return client;
}
const structured = (r) => { assert.ok(!r.isError, JSON.stringify(r.content)); return r.structuredContent; };

// The host page: an AppBridge per view, in a sandboxed iframe (opaque origin, scripts only)
// whose document carries the CSP built from the resource's `_meta.ui.csp`.
const HOST_PAGE = `<!doctype html><html><head><meta charset="utf-8"><title>test host</title>
<script src="/bridge.js"></script></head><body><p id="host">host</p><script>
window.opened = []; window.context = [];
window.host = { async show(html, csp, args, result) {
  const frame = document.createElement("iframe");
  frame.id = "view"; frame.setAttribute("sandbox", "allow-scripts");
  frame.style.cssText = "width: 900px; height: 500px; border: 1px solid #ccc";
  document.body.replaceChildren(frame);
  const bridge = new McpAppBridge.AppBridge(null, { name: "test-host", version: "1.0.0" },
    { serverTools: {}, openLinks: {}, updateModelContext: { text: {} } },
    { hostContext: { theme: "light", platform: "web", displayMode: "inline" } });
  bridge.oncalltool = async (params) => window.callServer(params);
  bridge.onopenlink = async ({ url }) => { window.opened.push(url); return {}; };
  bridge.onupdatemodelcontext = async (p) => { window.context.push(p); return {}; };
  bridge.onsizechange = async ({ height }) => { if (height) frame.style.height = Math.min(height + 24, 3000) + "px"; };
  const initialized = new Promise((r) => { bridge.oninitialized = r; });
  await bridge.connect(new McpAppBridge.PostMessageTransport(frame.contentWindow, frame.contentWindow));
  frame.srcdoc = html.replace("<head>", '<head><meta http-equiv="Content-Security-Policy" content="' + csp + '">');
  await initialized;
  await bridge.sendToolInput({ arguments: args });
  await bridge.sendToolResult(result);
} };
</script></body></html>`;

/** The CSP a host applies for a resource's declared domains (none: nothing from outside). */
function cspFor(meta) {
  const list = (k) => (meta.csp?.[k] || []).join(" ");
  const or = (v, d) => v || d;
  return [`default-src 'none'`, `script-src 'unsafe-inline' ${list("resourceDomains")}`.trim(), `style-src 'unsafe-inline' ${list("resourceDomains")}`.trim(),
    `img-src data: ${list("resourceDomains")}`.trim(), `connect-src ${or(list("connectDomains"), "'none'")}`,
    `frame-src ${or(list("frameDomains"), "'none'")}`, `base-uri ${or(list("baseUriDomains"), "'none'")}`].join("; ");
}

let dataDir, server, readOnly, hostServer, hostUrl, browser, page, client, roClient;
const cspViolations = [], pageErrors = [];
let target; // which server the view's calls go to

before(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  dataDir = mkdtempSync(join(tmpdir(), "coda-mcp-views-"));
  // The host side, bundled for the page as the package's docs describe (no CDN).
  execFileSync(join(HERE, "node_modules", ".bin", "esbuild"), [join(HERE, "host-entry.mjs"), "--bundle", "--format=iife",
    "--global-name=McpAppBridge", "--platform=browser", "--log-level=warning", `--outfile=${join(dataDir, "bridge.js")}`], { cwd: HERE });
  const bridgeJs = readFileSync(join(dataDir, "bridge.js"));
  hostServer = createServer((req, res) => {
    if (req.url === "/bridge.js") { res.writeHead(200, { "content-type": "text/javascript" }); res.end(bridgeJs); return; }
    res.writeHead(200, { "content-type": "text/html" }); res.end(HOST_PAGE);
  });
  await new Promise((r) => hostServer.listen(0, "127.0.0.1", r));
  hostUrl = `http://127.0.0.1:${hostServer.address().port}/`;
  server = await startServer(join(dataDir, "rw"));
  readOnly = await startServer(join(dataDir, "ro"), ["--read-only"]);
  client = await connect(server.mcp, true);
  roClient = await connect(readOnly.mcp, true);
  browser = await chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium", headless: true, args: BROWSER_ARGS });
  page = await (await browser.newContext({ viewport: { width: 1000, height: 900 } })).newPage();
  page.on("console", (m) => { if (/Content Security Policy|Refused to/.test(m.text())) cspViolations.push(m.text()); });
  page.on("pageerror", (e) => pageErrors.push(e.message));
  await page.exposeFunction("callServer", async (params) => {
    try { return await target.callTool(params); } catch (e) { throw new Error(e.message); }
  });
  await page.goto(hostUrl);
});

after(async () => {
  await browser?.close();
  await client?.close(); await roClient?.close();
  for (const s of [server, readOnly]) if (s) await stopServer(s).catch(() => {});
  hostServer?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

/** Runs `tool` as the model would, then shows its result in the tool's view. */
async function show(via, tool, args) {
  target = via;
  const { tools } = await via.listTools();
  const uri = tools.find((t) => t.name === tool)._meta.ui.resourceUri;
  const read = await via.readResource({ uri });
  const content = read.contents[0];
  assert.equal(content.mimeType, MIME);
  const result = await via.callTool({ name: tool, arguments: args });
  await page.evaluate(({ html, csp, args, result }) => window.host.show(html, csp, args, result),
    { html: content.text, csp: cspFor(content._meta.ui), args, result });
  return page.frameLocator("#view");
}

test("the extension is negotiated: views for the clients that declare it, no change for the others", async () => {
  assert.deepEqual(client.getServerCapabilities().extensions?.[UI], {});
  const { tools } = await client.listTools();
  const rows = tools.find((t) => t.name === "coda_list_rows");
  assert.equal(rows._meta.ui.resourceUri, "ui://coda/rows.html");
  assert.equal(tools.find((t) => t.name === "coda_get_page_content")._meta.ui.resourceUri, "ui://coda/page.html");
  const { resources } = await client.listResources();
  const views = resources.filter((r) => r.uri.startsWith("ui://"));
  assert.deepEqual(views.map((r) => r.uri).sort(), ["ui://coda/doc.html", "ui://coda/page.html", "ui://coda/rows.html"]);
  for (const v of views) {
    assert.equal(v.mimeType, MIME);
    const read = (await client.readResource({ uri: v.uri })).contents[0];
    const csp = read._meta.ui.csp;
    for (const k of ["connectDomains", "resourceDomains", "frameDomains", "baseUriDomains"]) assert.deepEqual(csp[k], [], `${v.uri} ${k}`);
    assert.doesNotMatch(read.text, /https?:\/\//, `${v.uri} loads nothing from anywhere`);
  }
  const plain = await connect(server.mcp, false);
  try {
    assert.equal(plain.getServerCapabilities().extensions?.[UI], undefined);
    const plainTools = (await plain.listTools()).tools;
    assert.ok(plainTools.every((t) => !t._meta?.ui && !t._meta?.["ui/resourceUri"]), "no view metadata without the extension");
    assert.ok((await plain.listResources()).resources.every((r) => !r.uri.startsWith("ui://")));
    // The same call gives the same result either way.
    const args = { docId: PLAN, tableIdOrName: "Tasks", limit: 3 };
    assert.deepEqual(structured(await plain.callTool({ name: "coda_list_rows", arguments: args })),
      structured(await client.callTool({ name: "coda_list_rows", arguments: args })));
  } finally { await plain.close(); }
});

test("rows: typed cells, sort, filter, pages, an edited cell and an added row, through the tools", async () => {
  const view = await show(client, "coda_list_rows", { docId: PLAN, tableIdOrName: "Tasks", limit: 10 });
  await view.locator("#rows tr").nth(9).waitFor({ timeout: 10000 });
  assert.equal(await view.locator("#rows tr").count(), 10);
  assert.match(await view.locator("#count").textContent(), /10 of 10 rows on this page \(more on the next\)/);
  const headers = await view.locator("th button").allTextContents();
  assert.ok(headers.includes("Task") && headers.includes("Estimate (h)"), headers.join(","));
  assert.match(await view.locator('td[data-column="Estimate (h)"]').first().getAttribute("class"), /number/);

  // Sort by a number column, both ways.
  const estimates = async () => (await view.locator('td[data-column="Estimate (h)"]').allTextContents()).map(Number);
  await view.locator('th button[data-sort="Estimate (h)"]').click();
  let e = await estimates();
  assert.deepEqual(e, [...e].sort((a, b) => a - b));
  await view.locator('th button[data-sort="Estimate (h)"]').click();
  e = await estimates();
  assert.deepEqual(e, [...e].sort((a, b) => b - a));

  // Filter the page shown.
  const first = (await view.locator('td[data-column="Task"]').first().textContent()).trim();
  await view.locator("#filter").fill(first);
  await view.locator("#rows tr").first().waitFor();
  assert.equal(await view.locator("#rows tr").count(), 1);
  await view.locator("#filter").fill("");

  // Page with the tool's own pageToken, and back.
  const firstId = await view.locator("#rows tr").first().getAttribute("data-row");
  await view.locator("#next").click();
  await view.locator(`#rows tr[data-row="${firstId}"]`).waitFor({ state: "detached", timeout: 10000 });
  assert.equal(await view.locator("#prev").isDisabled(), false);
  await view.locator("#prev").click();
  await view.locator(`#rows tr[data-row="${firstId}"]`).waitFor({ timeout: 10000 });

  // Edit a cell: shown at once, confirmed by the write, and the demo's row changed.
  await view.locator('th button[data-sort="Task"]').click(); // any order: find the row by id
  const cell = view.locator(`#rows tr[data-row="${firstId}"] td[data-column="Task"]`);
  await cell.dblclick();
  await view.locator(`#rows tr[data-row="${firstId}"] td[data-column="Task"] input`).fill("Edited in the view");
  await view.locator(`#rows tr[data-row="${firstId}"] td[data-column="Task"] input`).press("Enter");
  await view.locator(`#rows tr[data-row="${firstId}"] td.confirmed[data-column="Task"]`).waitFor({ timeout: 15000 });
  assert.match(await view.locator("#status").textContent(), /Saved: Task of .* is now Edited in the view/);
  const row = structured(await client.callTool({ name: "coda_get_row", arguments: { docId: PLAN, tableIdOrName: "Tasks", rowIdOrName: firstId } }));
  assert.equal(row.values.Task, "Edited in the view");
  assert.ok((await page.evaluate(() => window.context)).some((c) => /Edited in the view/.test(c.content[0].text)), "the model was told");

  // Add a row.
  await view.locator("#add").click();
  await view.locator('input[data-new="Task"]').fill("Added in the view");
  await view.locator("#save-new").click();
  await view.locator("#status", { hasText: "Row added." }).waitFor({ timeout: 15000 });
  const found = structured(await client.callTool({ name: "coda_list_rows", arguments: { docId: PLAN, tableIdOrName: "Tasks", query: '"Task":"Added in the view"' } }));
  assert.equal(found.items.length, 1);
  assert.equal(await view.locator(`#rows tr[data-row="${found.items[0].id}"]`).count(), 1);
  await page.screenshot({ path: join(ARTIFACTS, "view-rows.png"), fullPage: true });

  // The audit says those writes came from the view.
  const token = new URL(server.dashboard).searchParams.get("token");
  const calls = await (await fetch(new URL("/api/calls?q=coda_update_row", server.mcp), { headers: { Authorization: `Bearer ${token}` } })).json();
  const edit = calls.items.find((c) => c.tool === "coda_update_row");
  assert.match(edit.client, /\(from the rows view\)/, JSON.stringify(edit));
});

test("rows: a read-only server refuses the edit and the cell goes back", async () => {
  const view = await show(roClient, "coda_list_rows", { docId: PLAN, tableIdOrName: "Tasks", limit: 5 });
  await view.locator("#rows tr").nth(4).waitFor({ timeout: 10000 });
  const cell = view.locator('#rows tr:first-child td[data-column="Task"]');
  const before = (await cell.textContent()).trim();
  await cell.dblclick();
  await view.locator('#rows tr:first-child td[data-column="Task"] input').fill("Should not stick");
  await view.locator('#rows tr:first-child td[data-column="Task"] input').press("Enter");
  await view.locator("#status.bad").waitFor({ timeout: 10000 });
  assert.match(await view.locator("#status").textContent(), /Not saved: .*read-only/);
  assert.equal((await view.locator('#rows tr:first-child td[data-column="Task"]').textContent()).trim(), before);
  await page.screenshot({ path: join(ARTIFACTS, "view-rows-read-only.png"), fullPage: true });
});

test("doc and page views render, links open through the host", async () => {
  let view = await show(client, "coda_get_document", { docId: PLAN });
  await view.locator("#tables li[data-table]").first().waitFor({ timeout: 10000 });
  assert.ok(await view.locator("#tables li[data-table]").count() >= 2);
  assert.ok(await view.locator("#pages li[data-page]").count() >= 1);
  await view.locator("#title a").click();
  await page.waitForFunction(() => window.opened.length === 1);
  assert.match((await page.evaluate(() => window.opened))[0], /^https:\/\/coda\.io\/d\//);
  await page.screenshot({ path: join(ARTIFACTS, "view-doc.png"), fullPage: true });

  view = await show(client, "coda_get_page_content", { docId: BOOK, pageIdOrName: "canvas-Benefits" });
  await view.locator("#page h2").first().waitFor({ timeout: 10000 }).catch(async (e) => {
    const f = page.frames().find((x) => x.url() === "about:srcdoc");
    console.log("DEBUG", f && (await f.evaluate(() => document.body.innerHTML)).slice(0, 2000), pageErrors, cspViolations);
    throw e;
  });
  assert.equal((await view.locator("#page h2").first().textContent()).trim(), "Benefits");
  await page.screenshot({ path: join(ARTIFACTS, "view-page.png"), fullPage: true });
  assert.deepEqual(cspViolations, [], "nothing refused by the views' CSP");
  assert.deepEqual(pageErrors, [], "no script errors");
});

test("views render and open web links only: javascript:, file: and data: links stay text", async () => {
  // A doc whose browserLink is a script: the title is plain text, nothing reaches the host.
  target = client;
  const { tools } = await client.listTools();
  const uri = tools.find((t) => t.name === "coda_get_document")._meta.ui.resourceUri;
  const content = (await client.readResource({ uri })).contents[0];
  const real = await client.callTool({ name: "coda_get_document", arguments: { docId: PLAN } });
  const evil = "javascript:parent.postMessage('pwned','*')";
  const crafted = JSON.parse(JSON.stringify(real));
  crafted.structuredContent.browserLink = evil;
  crafted.content = [{ type: "text", text: JSON.stringify(crafted.structuredContent) }];
  const opened = (await page.evaluate(() => window.opened.length));
  await page.evaluate(({ html, csp, args, result }) => window.host.show(html, csp, args, result),
    { html: content.text, csp: cspFor(content._meta.ui), args: { docId: PLAN }, result: crafted });
  const view = page.frameLocator("#view");
  await view.locator("#tables li[data-table]").first().waitFor({ timeout: 10000 });
  assert.equal(await view.locator("#title a").count(), 0, "no link for a javascript: URL");
  assert.match(await view.locator("#title").textContent(), /\S/, "the title is still shown, as text");
  assert.equal(await view.locator('a[href^="javascript:"]').count(), 0);
  // The bridge itself refuses to ask the host to open anything but a web link.
  const frame = page.frames().find((f) => f.url() === "about:srcdoc");
  for (const url of [evil, "file:///etc/passwd", "data:text/html,<script>alert(1)</script>", "http://example.com/"]) {
    const outcome = await frame.evaluate((u) => Host.openLink(u).then(() => "opened", (e) => e.message), url);
    assert.equal(outcome, "only web links are opened", url);
    assert.equal(await frame.evaluate((u) => typeof linkTo("label", u), url), "string", `${url} is shown as text`);
  }
  assert.equal(await frame.evaluate(() => linkTo("x", "https://coda.io/d/_dAbc").tagName), "A");
  assert.equal(await page.evaluate(() => window.opened.length), opened, "nothing was opened");
});
