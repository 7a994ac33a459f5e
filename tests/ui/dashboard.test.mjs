// The dashboard in a real Chromium (Debian's), driven by playwright-core, against
// `coda-mcp serve --demo`: an MCP client opens a session and calls tools, and the page shows
// the session and each call live; the log filters; a call's detail opens; the schema copies;
// the history survives a reload and a restart. Screenshots (light and dark) go to artifacts/.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { createInterface } from "node:readline";
import { createServer } from "node:http";
import { chromium } from "playwright-core";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const BIN = process.env.CODA_MCP_BIN || join(ROOT, "target", "debug", "coda-mcp");
const KEY = "cmk_dashboard-test-key-000000000000000";
const ARTIFACTS = join(ROOT, "artifacts");
const BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync"];

function startServer(dataDir, extraEnv = {}, args = ["--demo"]) {
  return new Promise((resolve, reject) => {
    const env = { ...process.env, CODA_MCP_KEY: KEY, CODA_MCP_KEYCHAIN: "off", CODA_MCP_DATA_DIR: dataDir, RUST_LOG: "warn", CODA_MCP_TOOLSETS: "all", ...extraEnv };
    delete env.NGROK_AUTHTOKEN;
    for (const [k, v] of Object.entries(env)) if (v === undefined) delete env[k];
    const proc = spawn(BIN, ["serve", ...args, "--port", "0"], {
      env,
      stdio: ["ignore", "pipe", "ignore"],
    });
    const info = { proc };
    const lines = createInterface({ input: proc.stdout });
    const timer = setTimeout(() => reject(new Error("server did not start")), 15000);
    lines.on("line", (line) => {
      const mcp = line.match(/(http:\/\/\S+\/mcp)/);
      if (line.startsWith("coda-mcp ready") && mcp) info.mcp = mcp[1];
      if (line.startsWith("dashboard: ")) info.dashboard = line.slice("dashboard: ".length).trim();
      const key = line.match(/^connection key for this run .*: (cmk_\S+)$/);
      if (key) info.key = key[1];
      if (info.mcp && info.dashboard && (info.key || env.CODA_MCP_KEY)) { info.key ||= env.CODA_MCP_KEY; clearTimeout(timer); resolve(info); }
    });
    proc.on("exit", (code) => reject(new Error(`server exited ${code}`)));
  });
}

async function stopServer(info) {
  const done = new Promise((r) => info.proc.once("exit", r));
  info.proc.kill("SIGTERM");
  await done;
}

async function rpc(url, body, session, key = KEY) {
  const headers = { "content-type": "application/json", accept: "application/json", authorization: `Bearer ${key}` };
  if (session) { headers["mcp-session-id"] = session; headers["mcp-protocol-version"] = "2025-06-18"; }
  const r = await fetch(url, { method: "POST", headers, body: JSON.stringify(body) });
  return { status: r.status, session: r.headers.get("mcp-session-id"), json: r.status === 200 ? await r.json() : null };
}

test("the dashboard shows sessions and tool calls live and keeps the history", async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  const dataDir = mkdtempSync(join(tmpdir(), "coda-mcp-ui-"));
  let server = await startServer(dataDir);
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium", headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: new URL(server.dashboard).origin });
    const page = await context.newPage();
    const pageErrors = [];
    page.on("pageerror", (e) => pageErrors.push(e.message));
    // The page works under its Content-Security-Policy: nothing it does is refused.
    const cspViolations = [];
    page.on("console", (m) => { if (/Content Security Policy|Refused to/.test(m.text())) cspViolations.push(m.text()); });
    await page.addInitScript(() => document.addEventListener("securitypolicyviolation",
      (e) => console.error(`Refused to load: CSP ${e.violatedDirective} ${e.blockedURI}`)));

    // Without the token the page refuses.
    const refused = await page.goto(new URL("/ui/", server.dashboard).href);
    assert.equal(refused.status(), 401);

    await page.goto(server.dashboard);
    assert.ok(!page.url().includes("token="), "the token leaves the address bar");
    await page.waitForSelector("#conn.live", { timeout: 5000 });
    await page.screenshot({ path: join(ARTIFACTS, "dashboard-status-light.png") });
    const dashboardResponse = await page.request.get(new URL("/ui/", server.dashboard).href);
    assert.match(dashboardResponse.headers()["content-security-policy"], /script-src 'self'/);

    // The Status view is live: the uptime ticks, and the numbers follow the calls below.
    const cardText = (name) => page.locator(`[data-card="${name}"] .value`).textContent();
    assert.equal(await cardText("calls-per-minute"), "0");
    assert.equal(await cardText("error-rate"), "0 %");
    const uptime0 = await cardText("uptime");
    await page.waitForFunction((u) => document.querySelector('[data-card="uptime"] .value').textContent !== u, uptime0, { timeout: 3000 });

    // An MCP client opens a session and calls tools.
    const init = await rpc(server.mcp, { jsonrpc: "2.0", id: 0, method: "initialize",
      params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "ui-test-client", version: "9.9" } } });
    assert.equal(init.status, 200);
    const sid = init.session;
    await rpc(server.mcp, { jsonrpc: "2.0", method: "notifications/initialized" }, sid);
    await page.click("#tab-calls");
    const ok = await rpc(server.mcp, { jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "coda_list_documents", arguments: { limit: 2 } } }, sid);
    assert.equal(ok.json.result.isError, false);
    const t0 = Date.now();
    await page.locator("#call-rows tr", { hasText: "coda_list_documents" }).first().waitFor({ timeout: 1000 });
    assert.ok(Date.now() - t0 <= 1000, "the call appeared within 1 s");
    const bad = await rpc(server.mcp, { jsonrpc: "2.0", id: 2, method: "tools/call", params: { name: "coda_get_row", arguments: { docId: "AbCDeFGH01" } } }, sid);
    assert.equal(bad.json.result.isError, true);
    await page.locator("#call-rows tr", { hasText: "coda_get_row" }).first().waitFor({ timeout: 1000 });
    assert.match(await page.locator("#call-rows tr", { hasText: "coda_get_row" }).first().textContent(), /failed/);

    await page.click("#tab-sessions");
    await page.locator(`tr[data-session="${sid}"]`, { hasText: "ui-test-client" }).waitFor({ timeout: 2000 });

    // The Status numbers changed after those calls (they arrive as status events).
    await page.click("#tab-status");
    await page.waitForFunction(() => document.querySelector('[data-card="calls-per-minute"] .value')?.textContent === "2", null, { timeout: 5000 });
    assert.equal(await cardText("error-rate"), "50 %");
    assert.ok(Number(await cardText("sessions")) >= 1);
    assert.match(await cardText("account"), /the built-in demo workspace/, "the Status view says it is the demo");
    // The charts drew those calls live: two in the hour, one of them an error, with latencies,
    // and the headroom sampled.
    const chartLabel = (name) => page.getAttribute(`[data-chart="${name}"] svg`, "aria-label");
    await page.waitForFunction(() => /: 2 in the last hour/.test(document.querySelector('[data-chart="calls"] svg')?.getAttribute("aria-label") || ""), null, { timeout: 5000 });
    assert.match(await chartLabel("errors"), /: 1 in the last hour/);
    assert.match(await chartLabel("latency"), /typical \d+ ms, slowest 1 % \d+ ms/);
    assert.ok(await page.locator('[data-chart="calls"] rect.bar').count() >= 1);
    await page.waitForFunction(() => document.querySelectorAll('[data-chart="headroom"] path.line').length === 5, null, { timeout: 5000 });
    assert.match(await chartLabel("headroom"), /lowest now: (Reading|Changing|Writing page content|Listing docs|Analytics) \d+ % free/);
    // Rate classes in plain words, Coda's names as the detail.
    assert.equal(await page.textContent('[data-card="headroom-docContentWrite"] .label'), "Writing page content");
    assert.match(await page.getAttribute('[data-card="headroom-docContentWrite"]', "title"), /"docContentWrite"/);
    await page.screenshot({ path: join(ARTIFACTS, "dashboard-charts.png"), fullPage: true });

    // A second session, to filter the log by session.
    const init2 = await rpc(server.mcp, { jsonrpc: "2.0", id: 0, method: "initialize",
      params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "other-client", version: "1" } } });
    const sid2 = init2.session;
    await rpc(server.mcp, { jsonrpc: "2.0", method: "notifications/initialized" }, sid2);
    await rpc(server.mcp, { jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "coda_whoami", arguments: {} } }, sid2);

    // The live log filters by tool, by level and by session.
    await page.click("#tab-log");
    await page.locator("#log-lines li", { hasText: "coda_whoami" }).first().waitFor({ timeout: 2000 });
    const shown = () => page.locator("#log-lines li").allTextContents();
    await page.fill("#log-tool", "coda_get_row");
    let lines = await shown();
    assert.ok(lines.length >= 1 && lines.every((l) => l.includes("coda_get_row")), JSON.stringify(lines));
    await page.fill("#log-tool", "");
    await page.selectOption("#log-level", "warn");
    lines = await shown();
    assert.ok(lines.length >= 1, "the failed call is a warning");
    assert.ok(await page.locator("#log-lines li").evaluateAll((lis) => lis.every((li) => li.dataset.level === "warn")));
    assert.ok(lines.every((l) => l.includes("failed")), JSON.stringify(lines));
    await page.selectOption("#log-level", "");
    await page.fill("#log-session", sid2);
    lines = await shown();
    assert.ok(lines.length >= 1 && lines.every((l) => !l.includes("coda_list_documents") && !l.includes("coda_get_row")), JSON.stringify(lines));
    assert.ok(lines.some((l) => l.includes("coda_whoami")), JSON.stringify(lines));
    await page.fill("#log-session", sid);
    lines = await shown();
    assert.ok(lines.some((l) => l.includes("coda_list_documents")) && !lines.some((l) => l.includes("other-client")), JSON.stringify(lines));
    await page.fill("#log-session", "");

    // Pause holds the list still while events keep coming; resume shows them.
    await page.click("#log-pause");
    assert.equal(await page.getAttribute("#log-pause", "aria-pressed"), "true");
    const frozen = await shown();
    await rpc(server.mcp, { jsonrpc: "2.0", id: 7, method: "tools/call", params: { name: "coda_list_tables", arguments: { docId: "AbCDeFGH01" } } }, sid);
    await page.waitForTimeout(800);
    assert.deepEqual(await shown(), frozen, "paused: nothing new is shown");
    await page.click("#log-pause");
    await page.locator("#log-lines li", { hasText: "coda_list_tables" }).first().waitFor({ timeout: 2000 });

    // Copy puts the shown lines on the clipboard.
    await page.fill("#log-tool", "coda_list");
    await page.click("#log-copy");
    await page.waitForFunction(() => /Log copied/.test(document.querySelector("#toast.show")?.textContent || ""));
    const copiedLog = await page.evaluate(() => navigator.clipboard.readText());
    assert.equal(copiedLog, (await shown()).join("\n"));
    assert.match(copiedLog, /coda_list_tables/);
    await page.fill("#log-tool", "");

    // A call's detail opens with the full record.
    await page.click("#tab-calls");
    await page.locator("#call-rows tr", { hasText: "coda_list_documents" }).first().click();
    await page.waitForSelector("dialog[open]");
    assert.match(await page.textContent("#detail-body"), /"tool": "coda_list_documents"/);
    await page.click("dialog[open] form button");

    // The schema copies; with the tunnel off, the page says ChatGPT needs the public URL.
    await page.click("#tab-setup");
    assert.ok(await page.isHidden("#first-run"), "the demo has a working token: no first-run banner");
    assert.ok(await page.isHidden("#url-notice"), "no URL change: no banner");
    assert.equal(await page.textContent("#retention"), "30 days");
    // A headless server has no Settings card: its history length is the --audit-days flag.
    assert.equal(await page.textContent("#retention-where"), "change it with --audit-days");
    // ChatGPT and Claude: today's steps; with no public URL, nothing to paste yet.
    assert.equal((await page.textContent("#chatgpt-url")).trim(), "start the tunnel first");
    assert.ok(await page.isHidden("#copy-chatgpt-url"));
    const steps = await page.textContent("#chatgpt-steps");
    assert.match(steps, /Security and login → Developer mode/);
    assert.match(steps, /chatgpt\.com\/plugins → \+ → Add custom MCP server/);
    assert.match(steps, /start the tunnel above/);
    assert.match(await page.textContent("#claude-steps"), /Customize → Connectors → Add custom connector/);
    // GPT Actions, marked as being retired, under their own fold.
    await page.click("#chatgpt-card details summary");
    assert.match(await page.textContent("#chatgpt-card details"), /being retired/);
    await page.click("#copy-schema");
    await page.waitForFunction(() => /Schema copied/.test(document.querySelector("#toast.show")?.textContent || ""));
    const clip = JSON.parse(await page.evaluate(() => navigator.clipboard.readText()));
    assert.equal(clip.openapi, "3.1.0");
    assert.ok(clip.paths["/actions/coda_list_rows"]);
    assert.ok(await page.isVisible("#schema-note"));
    assert.match(await page.textContent("#schema-note"), /ChatGPT needs the public HTTPS URL/);

    // Light and dark differ (prefers-color-scheme), and nothing overflows at 360 px.
    const colours = () => page.evaluate(() => {
      const c = (sel, prop) => getComputedStyle(document.querySelector(sel))[prop];
      return { bg: c("body", "backgroundColor"), fg: c("body", "color"), card: c("header", "backgroundColor") };
    });
    await page.emulateMedia({ colorScheme: "light" });
    const light = await colours();
    await page.emulateMedia({ colorScheme: "dark" });
    const dark = await colours();
    assert.notEqual(light.bg, dark.bg, "the background changes in dark mode");
    assert.notEqual(light.fg, dark.fg, "the text colour changes in dark mode");
    assert.notEqual(light.card, dark.card);
    await page.click("#tab-calls");
    await page.screenshot({ path: join(ARTIFACTS, "dashboard-calls-dark.png") });
    await page.setViewportSize({ width: 360, height: 740 });
    for (const tab of ["status", "sessions", "calls", "log", "setup"]) {
      await page.click(`#tab-${tab}`);
      const { scroll, client } = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth }));
      assert.ok(scroll <= client, `${tab} overflows at 360 px: ${scroll} > ${client}`);
    }
    await page.click("#tab-calls");
    await page.screenshot({ path: join(ARTIFACTS, "dashboard-calls-360.png") });
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.emulateMedia({ colorScheme: "light" });

    // The history survives a reload…
    await page.reload();
    await page.click("#tab-calls");
    await page.locator("#call-rows tr", { hasText: "coda_list_documents" }).first().waitFor({ timeout: 3000 });

    // …and a restart of the server.
    await stopServer(server);
    server = await startServer(dataDir);
    await page.goto(server.dashboard);
    // The charts come back from the history after the restart.
    await page.waitForFunction(() => {
      const m = /: (\d+) in the last hour/.exec(document.querySelector('[data-chart="calls"] svg')?.getAttribute("aria-label") || "");
      return m && Number(m[1]) >= 3;
    }, null, { timeout: 5000 });
    assert.match(await chartLabel("errors"), /: 1 in the last hour/);
    await page.click("#tab-calls");
    await page.locator("#call-rows tr", { hasText: "coda_get_row" }).first().waitFor({ timeout: 3000 });
    await page.fill("#call-search", "list_documents");
    await page.waitForFunction(() => [...document.querySelectorAll("#call-rows tr")].every((tr) => tr.textContent.includes("coda_list_documents")));
    // New live calls respect the search: a match joins the list, anything else stays out.
    const init3 = await rpc(server.mcp, { jsonrpc: "2.0", id: 0, method: "initialize",
      params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "after-search", version: "1" } } });
    await rpc(server.mcp, { jsonrpc: "2.0", method: "notifications/initialized" }, init3.session);
    const before = await page.locator("#call-rows tr").count();
    await rpc(server.mcp, { jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "coda_whoami", arguments: {} } }, init3.session);
    await rpc(server.mcp, { jsonrpc: "2.0", id: 2, method: "tools/call", params: { name: "coda_list_documents", arguments: { limit: 1 } } }, init3.session);
    await page.waitForFunction((n) => document.querySelectorAll("#call-rows tr").length === n + 1, before, { timeout: 2000 });
    const rows = await page.locator("#call-rows tr").allTextContents();
    assert.ok(rows.every((r) => r.includes("coda_list_documents")), JSON.stringify(rows));
    await page.fill("#call-search", "");
    await page.locator("#call-rows tr", { hasText: "coda_whoami" }).first().waitFor({ timeout: 3000 });

    // A call whose tool has a view: the detail previews what an MCP Apps host shows, with the
    // result read again now; the preview only reads, so an edit there is refused and reverts.
    await rpc(server.mcp, { jsonrpc: "2.0", id: 3, method: "tools/call", params: { name: "coda_list_rows", arguments: { docId: "AbCDeFGH01", tableIdOrName: "Tasks", limit: 5 } } }, init3.session);
    await page.locator("#call-rows tr", { hasText: "coda_list_rows" }).first().click();
    await page.click("#detail-preview");
    const view = page.frameLocator("#view-frame");
    await view.locator("#rows tr").nth(4).waitFor({ timeout: 10000 });
    assert.equal(await view.locator("#rows tr").count(), 5);
    const firstTask = (await view.locator('#rows tr:first-child td[data-column="Task"]').textContent()).trim();
    await view.locator('#rows tr:first-child td[data-column="Task"]').dblclick();
    await view.locator('#rows tr:first-child td[data-column="Task"] input').fill("Not from the dashboard");
    await view.locator('#rows tr:first-child td[data-column="Task"] input').press("Enter");
    await view.locator("#status.bad").waitFor({ timeout: 5000 });
    assert.match(await view.locator("#status").textContent(), /only reads/);
    assert.equal((await view.locator('#rows tr:first-child td[data-column="Task"]').textContent()).trim(), firstTask);
    await page.screenshot({ path: join(ARTIFACTS, "dashboard-view-preview.png"), fullPage: true });
    await page.keyboard.press("Escape");
    assert.deepEqual(pageErrors, [], "no script errors");
    assert.deepEqual(cspViolations, [], "nothing refused by the Content-Security-Policy");
  } finally {
    await browser.close();
    await stopServer(server).catch(() => {});
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test("Setup: change the token, rotate the key, the tunnel without an authtoken, connect Claude", async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  const dataDir = mkdtempSync(join(tmpdir(), "coda-mcp-ui-setup-"));
  const claudeConfig = join(dataDir, "Claude", "claude_desktop_config.json");
  // A server on a real (unreachable) Coda URL with no token: the first-run view.
  // A home folder of the test's own: the other clients' configs are looked for there.
  const home = join(dataDir, "home");
  mkdirSync(join(home, ".cursor"), { recursive: true });
  writeFileSync(join(home, ".cursor", "mcp.json"), JSON.stringify({ mcpServers: { other: { command: "x" } } }));
  const server = await startServer(dataDir, { CODA_MCP_CLAUDE_CONFIG: claudeConfig, CODA_API_TOKEN: undefined, CODA_MCP_KEY: undefined,
    HOME: home, XDG_CONFIG_HOME: undefined, CODEX_HOME: undefined, CLAUDE_CONFIG_DIR: undefined, GEMINI_CLI_HOME: undefined },
    ["--coda-base-url", "http://127.0.0.1:9/apis/v1"]);
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium", headless: true, args: BROWSER_ARGS });
  try {
    const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
    const pageErrors = [];
    page.on("pageerror", (e) => pageErrors.push(e.message));
    page.on("dialog", (d) => d.accept());
    await page.goto(server.dashboard);
    await page.click("#tab-setup");
    await page.waitForSelector("#first-run", { state: "visible", timeout: 5000 });
    assert.ok(await page.isHidden("#use-demo"), "the CLI keeps no settings: no demo switch");
    assert.match(await page.textContent("#account"), /No working Coda token/);

    // A token Coda does not accept is refused with Coda's reason, and nothing is kept.
    await page.fill("#token-input", "definitely-not-a-token");
    await page.click("#token-form button[type=submit]");
    await page.waitForFunction(() => /Coda did not accept the token/.test(document.querySelector("#account").textContent));

    // Rotating the key: the old key stops working at once.
    const init = { jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "k", version: "1" } } };

    // Tools offered: taking a group out takes its tools out of every client's tools/list.
    const toolNames = async () => {
      const s = await rpc(server.mcp, init, undefined, server.key);
      await rpc(server.mcp, { jsonrpc: "2.0", method: "notifications/initialized" }, s.session, server.key);
      const list = await rpc(server.mcp, { jsonrpc: "2.0", id: 2, method: "tools/list" }, s.session, server.key);
      return list.json.result.tools.map((t) => t.name);
    };
    const analytics = 'label[data-toolset="analytics"] input';
    await page.waitForSelector(analytics);
    assert.ok(await page.isChecked(analytics), "the server offers all");
    assert.ok((await toolNames()).includes("coda_list_doc_analytics"));
    await page.uncheck(analytics);
    await page.waitForFunction(() => /Tools offered: core,docs,pages,formulas,sharing,automations,admin$/.test(document.querySelector("#toast.show")?.textContent || ""));
    assert.match(await page.textContent("#toolsets-result"), /^Offered: core,docs,pages,formulas,sharing,automations,admin — \d+ tools, [\d.]+k characters/);
    assert.match(await page.textContent('[data-toolset="automations"]'), /\(1 tool, /, "one tool, not \"1 tools\"");
    const names = await toolNames();
    assert.ok(!names.includes("coda_list_doc_analytics") && names.includes("coda_list_rows"), names.join(" "));
    const before = await rpc(server.mcp, init, undefined, server.key);
    assert.equal(before.status, 200);
    await page.click("#rotate-key");
    await page.waitForSelector("#toast.show");
    let after;
    for (let i = 0; i < 20; i++) { after = await rpc(server.mcp, init, undefined, server.key); if (after.status === 401) break; await new Promise((r) => setTimeout(r, 100)); }
    assert.equal(after.status, 401, "the old key was retired");

    // The tunnel without an authtoken fails with a message that says what to do. While it is
    // off only Start shows, then only Stop.
    assert.ok(await page.isHidden("#tunnel-stop"), "no Stop while the tunnel is off");
    await page.click("#tunnel-start");
    await page.waitForSelector("#tunnel-start", { state: "hidden" });
    await page.waitForFunction(() => /no ngrok authtoken/.test(document.querySelector("#tunnel-state").textContent), null, { timeout: 5000 });
    await page.click("#tunnel-stop");
    await page.waitForFunction(() => document.querySelector("#tunnel-state").textContent === "off");

    // Connect Claude Desktop: this server has no keychain (and serves a Coda token now), so an
    // entry could not get its key. The refusal says so; one more click writes the key into the
    // entry, in clear, as the person chose.
    await page.click("#connect-claude");
    await page.waitForSelector("#claude-result button.key-in-config");
    assert.match(await page.textContent("#claude-result"), /no keychain here, so Claude Desktop would start/);
    assert.ok(!existsSync(claudeConfig), "nothing was written before the person chose");
    await page.click("#claude-result button.key-in-config");
    await page.waitForFunction(() => /Restart Claude Desktop/.test(document.querySelector("#claude-result").textContent));
    const written = JSON.parse(readFileSync(claudeConfig, "utf8"));
    assert.deepEqual(written.mcpServers.coda.args, ["stdio"]);
    assert.match(written.mcpServers.coda.env.CODA_MCP_KEY, /^cmk_/, "the server's (rotated) key");

    // The other clients: one row each; Cursor (its folder exists) is installed, and its row
    // connects and disconnects it, keeping the person's other server.
    const cursorRow = 'tr[data-client="cursor"]';
    await page.waitForSelector(`${cursorRow} .client-state`);
    assert.equal(await page.locator("#client-rows tr").count(), 7);
    assert.equal(await page.textContent(`${cursorRow} .client-state`), "installed");
    assert.equal(await page.textContent('tr[data-client="claude"] .client-state'), "connected");
    assert.match(await page.getAttribute(`${cursorRow} a.client-install`, "href"), /^cursor:\/\/anysphere\.cursor-deeplink\/mcp\/install\?name=coda&config=/);
    await page.click(`${cursorRow} .client-action`);
    await page.click("#client-result button.key-in-config");
    await page.waitForFunction((row) => document.querySelector(`${row} .client-state`).textContent === "connected", cursorRow);
    const cursor = JSON.parse(readFileSync(join(home, ".cursor", "mcp.json"), "utf8"));
    assert.deepEqual(cursor.mcpServers.coda.args, ["stdio"]);
    assert.equal(cursor.mcpServers.other.command, "x");
    assert.match(await page.textContent("#client-result"), /Added to .*mcp\.json/);
    await page.screenshot({ path: join(ARTIFACTS, "dashboard-setup-clients.png"), fullPage: true });
    await page.click(`${cursorRow} .client-action`);
    await page.waitForFunction((row) => document.querySelector(`${row} .client-state`).textContent === "installed", cursorRow);
    assert.equal(JSON.parse(readFileSync(join(home, ".cursor", "mcp.json"), "utf8")).mcpServers.coda, undefined);
    await page.screenshot({ path: join(ARTIFACTS, "dashboard-setup-light.png"), fullPage: true });
    assert.deepEqual(pageErrors, [], "no script errors");
  } finally {
    await browser.close();
    await stopServer(server).catch(() => {});
    rmSync(dataDir, { recursive: true, force: true });
  }
});

// With a public URL (here --public-url, as behind a proxy), the ChatGPT and Claude cards give
// the /mcp URL to paste, and its Copy button copies exactly that.
test("the ChatGPT and Claude cards give the public /mcp URL to copy", async () => {
  const dataDir = mkdtempSync(join(tmpdir(), "coda-mcp-ui-public-"));
  const server = await startServer(dataDir, {}, ["--demo", "--public-url", "https://coda-me.example.app"]);
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium", headless: true, args: BROWSER_ARGS });
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: new URL(server.dashboard).origin });
    const page = await context.newPage();
    const pageErrors = [];
    page.on("pageerror", (e) => pageErrors.push(e.message));
    await page.goto(server.dashboard);
    await page.click("#tab-setup");
    await page.waitForFunction(() => document.querySelector("#chatgpt-url").textContent.trim() === "https://coda-me.example.app/mcp");
    assert.equal((await page.textContent("#claude-url")).trim(), "https://coda-me.example.app/mcp");
    assert.equal((await page.textContent("#public-mcp-url")).trim(), "https://coda-me.example.app/mcp");
    const steps = await page.textContent("#chatgpt-steps");
    assert.match(steps, /Server URL: https:\/\/coda-me\.example\.app\/mcp → Authentication: OAuth/);
    assert.doesNotMatch(steps, /start the tunnel above/, "nothing to start: the URL is there");
    assert.match(steps, /Add custom MCP server → Tunnel/, "the no-public-URL way is named too");
    assert.match(await page.textContent("#claude-steps"), /Remote MCP server URL: https:\/\/coda-me\.example\.app\/mcp/);
    await page.click("#copy-chatgpt-url");
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), "https://coda-me.example.app/mcp");
    await page.click("#copy-claude-url");
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), "https://coda-me.example.app/mcp");
    await page.screenshot({ path: join(ARTIFACTS, "dashboard-setup-public-url.png"), fullPage: true });
    assert.deepEqual(pageErrors, [], "no script errors");
  } finally {
    await browser.close();
    await stopServer(server).catch(() => {});
    rmSync(dataDir, { recursive: true, force: true });
  }
});

// Check setup: the doctor's findings in the dashboard, problems first, each with what to do —
// here a file in the data folder that others can read, and no keychain.
test("Check setup lists what is broken first and what to do", async () => {
  const dataDir = mkdtempSync(join(tmpdir(), "coda-mcp-ui-doctor-"));
  const server = await startServer(dataDir);
  writeFileSync(join(dataDir, "notes.txt"), "x", { mode: 0o644 });
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium", headless: true, args: BROWSER_ARGS });
  try {
    for (const width of [1400, 390]) {
      const page = await (await browser.newContext({ viewport: { width, height: 900 } })).newPage();
      const pageErrors = [];
      page.on("pageerror", (e) => pageErrors.push(e.message));
      await page.goto(server.dashboard);
      await page.click("#tab-setup");
      await page.click("#check-setup");
      await page.waitForSelector("#check-results li.finding");
      const first = await page.textContent("#check-results li.finding:first-child");
      assert.match(first, /^Fix · data directory .*notes\.txt/, first);
      assert.match(first, /→ chmod -R go-rwx/, first);
      assert.match(await page.textContent("#check-results"), /Note · keychain: no OS keychain/);
      const box = await page.locator("#check-setup").boundingBox();
      assert.ok(box.width >= 16 && box.height >= 16, `the button is ${box.width}×${box.height}`);
      const sideways = await page.evaluate(() => document.documentElement.scrollWidth > document.documentElement.clientWidth);
      assert.ok(!sideways, `nothing scrolls sideways at ${width} px`);
      await page.locator("#check-setup").scrollIntoViewIfNeeded();
      await page.screenshot({ path: join(ARTIFACTS, `dashboard-check-setup-${width}.png`), fullPage: true });
      assert.deepEqual(pageErrors, [], "no script errors");
    }
  } finally {
    await browser.close();
    await stopServer(server).catch(() => {});
    rmSync(dataDir, { recursive: true, force: true });
  }
});

// Setup's tunnel choice: OpenAI's Secure MCP Tunnel, against a stand-in of its control plane
// (the protocol's metadata and poll endpoints; tests/it/openai_tunnel.rs covers commands).
test("Setup chooses OpenAI's Secure MCP Tunnel: id saved, key refused without a keychain, the tunnel comes up", async () => {
  const seen = [];
  const plane = createServer((req, res) => {
    seen.push({ url: req.url, auth: req.headers.authorization, name: req.headers["x-tunnel-client-name"] });
    if (req.headers.authorization !== "Bearer sk-ui-tunnel-key") { res.writeHead(401, { "content-type": "application/json" }); res.end('{"error":{"code":"invalid_api_key"}}'); return; }
    if (req.url === "/v1/tunnels/tunnel_ui") { res.writeHead(200, { "content-type": "application/json" }); res.end('{"id":"tunnel_ui","name":"ui"}'); return; }
    if (req.url.startsWith("/v1/tunnels/tunnel_ui/poll?")) { setTimeout(() => { res.writeHead(204); res.end(); }, 200); return; }
    res.writeHead(404); res.end();
  });
  await new Promise((r) => plane.listen(0, "127.0.0.1", r));
  const dataDir = mkdtempSync(join(tmpdir(), "coda-mcp-ui-openai-"));
  const server = await startServer(dataDir, { OPENAI_TUNNEL_API_KEY: "sk-ui-tunnel-key", CONTROL_PLANE_API_KEY: undefined,
    OPENAI_TUNNEL_ID: undefined, CONTROL_PLANE_TUNNEL_ID: undefined,
    CODA_MCP_OPENAI_TUNNEL_BASE: `http://127.0.0.1:${plane.address().port}` });
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium", headless: true, args: BROWSER_ARGS });
  try {
    const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
    const pageErrors = [];
    page.on("pageerror", (e) => pageErrors.push(e.message));
    await page.goto(server.dashboard);
    await page.click("#tab-setup");
    assert.equal(await page.inputValue("#tunnel-provider"), "ngrok", "ngrok unless chosen");
    assert.ok(await page.isHidden("#openai-tunnel-form"));
    await page.selectOption("#tunnel-provider", "openai");
    await page.waitForSelector("#openai-tunnel-form", { state: "visible" });
    assert.ok(await page.isHidden("#ngrok-form"), "the ngrok fields are not this tunnel's");
    // Without a keychain the key cannot be kept, and the page says what to do instead.
    await page.fill("#openai-tunnel-id", "tunnel_ui");
    await page.fill("#openai-tunnel-key", "sk-typed-in-the-page");
    await page.click("#openai-tunnel-form button[type=submit]");
    await page.waitForFunction(() => /OPENAI_TUNNEL_API_KEY/.test(document.querySelector("#toast")?.textContent || document.body.textContent));
    // The id alone is saved; the key comes from the server's environment.
    await page.fill("#openai-tunnel-key", "");
    await page.click("#openai-tunnel-form button[type=submit]");
    await page.waitForFunction(() => /An API key is saved\./.test(document.querySelector("#openai-tunnel-status").textContent));
    await page.click("#tunnel-start");
    await page.waitForFunction(() => /up at openai-tunnel:tunnel_ui/.test(document.querySelector("#tunnel-state").textContent), null, { timeout: 10000 });
    assert.ok(seen.some((r) => r.url.startsWith("/v1/tunnels/tunnel_ui/poll?limit=25") && r.name === "coda-mcp"), JSON.stringify(seen));
    assert.ok(!seen.some((r) => (r.auth || "").includes("sk-typed-in-the-page")), "a key that was not kept is not used");
    // No public URL: the ChatGPT card does not offer one.
    assert.equal((await page.textContent("#chatgpt-url")).trim(), "start the tunnel first");
    await page.screenshot({ path: join(ARTIFACTS, "dashboard-setup-openai-tunnel.png"), fullPage: true });
    await page.click("#tunnel-stop");
    await page.waitForFunction(() => document.querySelector("#tunnel-state").textContent === "off");
    assert.deepEqual(pageErrors, [], "no script errors");
  } finally {
    await browser.close();
    await stopServer(server).catch(() => {});
    plane.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
});

// The public URL changing is announced by the tunnel supervisor (tests/it/tunnel.rs drives it
// with a tunnel double; ngrok itself is never reached from tests). Here the page's side: the
// `public_url_changed` event, delivered in the dashboard's real event stream format, shows a
// banner that stays until the schema is copied or the banner dismissed — and a page opened
// later shows it from the snapshot.
test("a changed public URL shows a banner that asks to copy the schema again", async () => {
  const dataDir = mkdtempSync(join(tmpdir(), "coda-mcp-ui-url-"));
  const server = await startServer(dataDir);
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium", headless: true, args: BROWSER_ARGS });
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: new URL(server.dashboard).origin });
    const page = await context.newPage();
    const pageErrors = [];
    page.on("pageerror", (e) => pageErrors.push(e.message));
    const changed = { type: "public_url_changed", at: new Date().toISOString(), previous: "https://old-name.ngrok-free.app", url: "https://new-name.ngrok-free.app" };
    // One stream carrying the event (then the real stream again on reconnect).
    let served = false;
    await page.route("**/api/events*", async (route) => {
      if (served) return route.continue();
      served = true;
      const last = Number(new URL(route.request().url()).searchParams.get("since") || 0);
      await route.fulfill({ status: 200, headers: { "content-type": "text/event-stream", "cache-control": "no-cache" },
        body: `retry: 500\n\nid: ${last + 1}\ndata: ${JSON.stringify({ id: last + 1, ...changed })}\n\n` });
    });
    await page.goto(server.dashboard);
    await page.waitForSelector("#url-notice", { state: "visible", timeout: 5000 });
    const text = await page.textContent("#url-notice");
    assert.match(text, /old-name\.ngrok-free\.app/);
    assert.match(text, /new-name\.ngrok-free\.app/);
    assert.match(text, /GPT Actions: copy the schema again/);
    await page.screenshot({ path: join(ARTIFACTS, "dashboard-url-changed.png") });
    // The real stream comes back after that one ended.
    await page.waitForSelector("#conn.live", { timeout: 5000 });
    // Dismissed: gone, and it stays gone after a reload (the page's snapshot has none here).
    await page.click("#url-notice-dismiss");
    assert.ok(await page.isHidden("#url-notice"));

    // A page opened later gets the notice from /api/state's snapshot.
    const later = await context.newPage();
    await later.route("**/api/state", async (route) => {
      const response = await route.fetch();
      const state = await response.json();
      state.setup.url_changed = { id: 1, at: changed.at, previous: "https://a.ngrok.app", url: "https://b.ngrok.app" };
      state.setup.public_url = "https://b.ngrok.app";
      await route.fulfill({ response, json: state });
    });
    await later.goto(new URL("/ui/", server.dashboard).href);
    await later.waitForSelector("#url-notice", { state: "visible", timeout: 5000 });
    assert.match(await later.textContent("#url-notice"), /https:\/\/b\.ngrok\.app/);
    // Copying the schema from the banner settles it.
    await later.click("#url-notice-copy");
    await later.waitForFunction(() => document.querySelector("#url-notice").hidden, null, { timeout: 3000 });
    assert.deepEqual(pageErrors, [], "no script errors");
  } finally {
    await browser.close();
    await stopServer(server).catch(() => {});
    rmSync(dataDir, { recursive: true, force: true });
  }
});
