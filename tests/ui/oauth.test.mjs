// OAuth in a real Chromium against `coda-mcp serve --demo`: the owner approves an app on the
// consent page with the connection key (a wrong key is refused there), and — while the
// dashboard is open — from the dashboard's banner with the code the consent page shows, the
// consent page then going on by itself; Connected apps lists the apps and Revoke stops their
// tokens. And a stranger's look-alike request, approved by mistake from the dashboard, gets
// no code. Screenshots go to artifacts/.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { createInterface } from "node:readline";
import { launch, answerConsent, allowWithKey } from "./consent.mjs";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const BIN = process.env.CODA_MCP_BIN || join(ROOT, "target", "debug", "coda-mcp");
const KEY = "cmk_oauth-ui-test-key-00000000000000000000";
const ARTIFACTS = join(ROOT, "artifacts");
const REDIRECT = "http://127.0.0.1:9/callback";

function startServer() {
  return new Promise((resolve, reject) => {
    const env = { ...process.env, CODA_MCP_KEY: KEY, CODA_MCP_KEYCHAIN: "off", RUST_LOG: "warn",
      CODA_MCP_DATA_DIR: mkdtempSync(join(tmpdir(), "coda-mcp-oauth-ui-")) };
    const proc = spawn(BIN, ["serve", "--demo", "--port", "0"], { env, stdio: ["ignore", "pipe", "ignore"] });
    const info = { proc };
    const timer = setTimeout(() => reject(new Error("server did not start")), 15000);
    createInterface({ input: proc.stdout }).on("line", (line) => {
      const mcp = line.match(/(http:\/\/\S+\/mcp)/);
      if (line.startsWith("coda-mcp ready") && mcp) { info.mcp = mcp[1]; info.base = mcp[1].replace(/\/mcp$/, ""); }
      if (line.startsWith("dashboard: ")) info.dashboard = line.slice("dashboard: ".length).trim();
      if (info.mcp && info.dashboard) { clearTimeout(timer); resolve(info); }
    });
    proc.on("exit", (code) => reject(new Error(`server exited ${code}`)));
  });
}

const b64url = (buf) => buf.toString("base64").replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");

async function newRequest(base, name, redirect = REDIRECT) {
  const reg = await fetch(`${base}/oauth/register`, { method: "POST", headers: { "content-type": "application/json" },
    body: JSON.stringify({ client_name: name, redirect_uris: [redirect] }) });
  assert.equal(reg.status, 201);
  const { client_id } = await reg.json();
  const verifier = b64url(randomBytes(48));
  const challenge = b64url(createHash("sha256").update(verifier).digest());
  const url = new URL(`${base}/oauth/authorize`);
  for (const [k, v] of Object.entries({ response_type: "code", client_id, redirect_uri: redirect, state: `state-${name}`,
    code_challenge: challenge, code_challenge_method: "S256", resource: `${base}/mcp`, scope: "coda:read coda:write" })) url.searchParams.set(k, v);
  return { client_id, verifier, url: url.href };
}

async function exchange(base, req, redirected) {
  const q = new URL(redirected).searchParams;
  const r = await fetch(`${base}/oauth/token`, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ grant_type: "authorization_code", code: q.get("code"), redirect_uri: REDIRECT,
      client_id: req.client_id, code_verifier: req.verifier, resource: `${base}/mcp` }) });
  assert.equal(r.status, 200);
  return r.json();
}

async function initialize(mcp, token) {
  const r = await fetch(mcp, { method: "POST", headers: { "content-type": "application/json", accept: "application/json, text/event-stream",
    authorization: `Bearer ${token}` }, body: JSON.stringify({ jsonrpc: "2.0", id: 0, method: "initialize",
    params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "ui-oauth", version: "1" } } }) });
  return r.status;
}

test("the owner approves apps on the consent page and from the dashboard, and revokes them", async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  const server = await startServer();
  const browser = await launch();
  try {
    const context = await browser.newContext({ viewport: { width: 1100, height: 800 } });
    const violations = [];
    context.on("page", (p) => p.on("console", (m) => { if (/Content Security Policy|Refused to/.test(m.text())) violations.push(m.text()); }));

    // On the consent page, with the key (a wrong one first).
    const first = await newRequest(server.base, "Consent page app");
    const consent = await context.newPage();
    const redirected = await answerConsent(consent, first.url, REDIRECT, async (page) => {
      await page.waitForSelector("text=Allow Consent page app to use your Coda workspace?");
      assert.ok(await page.getByText("127.0.0.1", { exact: true }).isVisible(), "the redirect host in large type");
      await page.screenshot({ path: join(ARTIFACTS, "oauth-consent.png") });
      await page.getByLabel("Connection key").fill("cmk_not-the-key");
      await page.getByRole("button", { name: "Allow" }).click();
      await page.waitForSelector("text=That is not the connection key of this server");
      await allowWithKey(page, KEY);
    });
    assert.equal(new URL(redirected).searchParams.get("state"), "state-Consent page app");
    const tokens = await exchange(server.base, first, redirected);
    assert.equal(tokens.scope, "coda:read coda:write");
    assert.equal(await initialize(server.mcp, tokens.access_token), 200);

    // From the dashboard while it is open: the consent page goes on by itself.
    const dashboard = await context.newPage();
    await dashboard.goto(server.dashboard);
    await dashboard.waitForSelector("#conn.live");
    const second = await newRequest(server.base, "Dashboard app");
    const waiting = await context.newPage();
    let code = "";
    const redirectedToo = answerConsent(waiting, second.url, REDIRECT, async (page) => {
      await page.waitForSelector("text=Allow Dashboard app to use your Coda workspace?");
      code = (await page.locator("#pairing-code").textContent()).trim();
    });
    const banner = dashboard.locator(".oauth-request", { hasText: "Dashboard app" });
    await banner.waitFor({ timeout: 10000 });
    await dashboard.screenshot({ path: join(ARTIFACTS, "oauth-dashboard-request.png") });
    assert.match(code, /^[2-9A-Z]{3}-[2-9A-Z]{3}$/);
    await banner.getByLabel(/the code on Dashboard app's approval page/).fill(code);
    await banner.getByRole("button", { name: "Allow" }).click();
    const landed = await redirectedToo;
    const tokens2 = await exchange(server.base, second, landed);
    assert.equal(await initialize(server.mcp, tokens2.access_token), 200);
    await dashboard.locator(".oauth-request").waitFor({ state: "detached" });

    // Connected apps: both listed; Revoke stops one at once.
    await dashboard.getByRole("tab", { name: "Setup" }).click();
    const rows = dashboard.locator("#app-rows tr");
    await rows.filter({ hasText: "Dashboard app" }).waitFor();
    assert.equal(await rows.count(), 2);
    await dashboard.screenshot({ path: join(ARTIFACTS, "oauth-connected-apps.png"), fullPage: true });
    await rows.filter({ hasText: "Dashboard app" }).getByRole("button", { name: "Revoke" }).click();
    await rows.filter({ hasText: "Dashboard app" }).waitFor({ state: "detached" });
    assert.equal(await initialize(server.mcp, tokens2.access_token), 401);
    assert.equal(await initialize(server.mcp, tokens.access_token), 200, "the other app is untouched");
    assert.deepEqual(violations, []);
  } finally {
    await browser.close();
    server.proc.kill("SIGTERM");
  }
});

test("a stranger's look-alike request, allowed by mistake from the dashboard, gets no code", async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  const server = await startServer();
  const browser = await launch();
  try {
    const owner = await browser.newContext({ viewport: { width: 1100, height: 900 } });
    const strangerBrowser = await browser.newContext();
    // The owner's real request, and the stranger's, named and addressed like ChatGPT, each in
    // its own browser.
    const mine = await newRequest(server.base, "ChatGPT", "https://chatgpt.com/connector_platform_oauth_redirect");
    const theirs = await newRequest(server.base, "ChatGPT", "https://chatgpt.com/connector_platform_oauth_redirect");
    const ownerPage = await owner.newPage();
    await ownerPage.route("https://chatgpt.com/**", (route) => route.fulfill({ status: 200, body: "callback" }));
    let ownerLanded = null;
    ownerPage.on("request", (r) => { if (r.isNavigationRequest() && r.url().startsWith("https://chatgpt.com/")) ownerLanded = r.url(); });
    await ownerPage.goto(mine.url);
    const myCode = (await ownerPage.locator("#pairing-code").textContent()).trim();
    const strangerPage = await strangerBrowser.newPage();
    await strangerPage.route("https://chatgpt.com/**", (route) => route.fulfill({ status: 200, body: "callback" }));
    let strangerLanded = null;
    strangerPage.on("request", (r) => { if (r.isNavigationRequest() && r.url().startsWith("https://chatgpt.com/")) strangerLanded = r.url(); });
    await strangerPage.goto(theirs.url);
    const theirCode = (await strangerPage.locator("#pairing-code").textContent()).trim();
    assert.notEqual(myCode, theirCode);

    const dashboard = await owner.newPage();
    await dashboard.goto(server.dashboard);
    await dashboard.waitForSelector("#conn.live");
    const banners = dashboard.locator(".oauth-request");
    await banners.nth(1).waitFor({ timeout: 10000 });
    assert.equal(await banners.count(), 2);
    const text = await dashboard.locator("#oauth-requests").textContent();
    assert.match(text, /Anyone can register that/);
    assert.ok(!text.includes(myCode) && !text.includes(theirCode), "no code is shown in the dashboard");
    await dashboard.screenshot({ path: join(ARTIFACTS, "oauth-two-requests.png") });

    // The owner picks the wrong banner (the stranger's) and types their own code.
    const theirId = await strangerPage.locator("#consent").getAttribute("data-request");
    const myId = await ownerPage.locator("#consent").getAttribute("data-request");
    const wrong = dashboard.locator(`.oauth-request[data-request="${theirId}"]`);
    await wrong.locator("input.pairing-code").fill(myCode);
    await wrong.getByRole("button", { name: "Allow" }).click();
    await dashboard.waitForSelector("text=/belongs to another request/");
    await dashboard.screenshot({ path: join(ARTIFACTS, "oauth-wrong-code.png") });
    // And without a code at all.
    await wrong.locator("input.pairing-code").fill("");
    await wrong.getByRole("button", { name: "Allow" }).click();
    await dashboard.waitForSelector("text=/Type the code the app's approval page shows/");
    // The stranger's page keeps waiting, and its status poll says so.
    await strangerPage.waitForTimeout(2500);
    assert.equal(strangerLanded, null, "the stranger got no answer");
    const status = await strangerPage.evaluate(async (id) => (await fetch(`/oauth/authorize/status?request=${id}`)).json(), theirId);
    assert.equal(status.state, "pending");
    // Knowing the owner's request id gets the stranger nothing either.
    const stolen = await strangerPage.evaluate(async (id) => (await fetch(`/oauth/authorize/status?request=${id}`)).status, myId);
    assert.equal(stolen, 403);
    // The owner's own request, with the owner's code: the owner's page goes on.
    const ownerBanner = dashboard.locator(`.oauth-request[data-request="${myId}"]`);
    await ownerBanner.locator("input.pairing-code").fill(myCode);
    await ownerBanner.getByRole("button", { name: "Allow" }).click();
    for (let i = 0; i < 50 && !ownerLanded; i++) await ownerPage.waitForTimeout(200);
    assert.ok(ownerLanded && new URL(ownerLanded).searchParams.get("code"), `the owner's page went on: ${ownerLanded}`);
    assert.equal(strangerLanded, null, "the stranger still got nothing");
  } finally {
    await browser.close();
    server.proc.kill("SIGTERM");
  }
});
