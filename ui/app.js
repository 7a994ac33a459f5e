// Coda MCP dashboard: a snapshot from /api/state, then live events from /api/events (SSE,
// resumed with Last-Event-ID after a drop, so rows are neither lost nor duplicated).
const $ = (id) => document.getElementById(id);
const state = { sessions: new Map(), calls: [], callIds: new Set(), log: [], paused: false, setup: {}, status: {} };
const MAX_LOG = 1000;

function rel(iso) {
  const s = Math.round((Date.now() - new Date(iso).getTime()) / 1000);
  if (s < 5) return "just now";
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return new Date(iso).toLocaleString();
}
function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v; else if (k.startsWith("on")) e.addEventListener(k.slice(2), v); else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(c ?? ""));
  return e;
}
function toast(text) {
  const t = $("toast"); t.textContent = text; t.classList.add("show");
  clearTimeout(toast.timer); toast.timer = setTimeout(() => t.classList.remove("show"), 1500);
}
async function copy(text, what) {
  try { await navigator.clipboard.writeText(text); toast(`${what} copied`); }
  catch { toast(`Could not copy ${what.toLowerCase()}`); }
}
function argSummary(args) {
  if (!args || typeof args !== "object") return "";
  return Object.entries(args).map(([k, v]) => {
    let s = typeof v === "string" ? v : JSON.stringify(v);
    if (s.length > 40) s = s.slice(0, 39) + "…";
    return `${k}=${s}`;
  }).join(" ");
}

// ---- tabs (keyboard: arrows move between tabs)
const tabs = [...document.querySelectorAll('[role="tab"]')];
function select(tab) {
  for (const t of tabs) {
    const on = t === tab;
    t.setAttribute("aria-selected", on); t.tabIndex = on ? 0 : -1;
    $(t.getAttribute("aria-controls")).hidden = !on;
  }
  tab.focus();
  location.hash = tab.getAttribute("aria-controls");
}
tabs.forEach((t, i) => {
  t.addEventListener("click", () => select(t));
  t.addEventListener("keydown", (e) => {
    if (e.key === "ArrowRight") select(tabs[(i + 1) % tabs.length]);
    if (e.key === "ArrowLeft") select(tabs[(i - 1 + tabs.length) % tabs.length]);
  });
});

// ---- rendering
function card(label, value, cls = "") {
  return el("div", { class: "card" }, el("div", { class: "label" }, label), el("div", { class: `value ${cls}` }, value));
}
function renderStatus() {
  const s = state.status; if (!s.version) return;
  const coda = s.coda || {};
  $("status-cards").replaceChildren(
    card("Server", s.mcp_url),
    card("Public URL", s.public_url || "none (local only)"),
    card("Tunnel", tunnelText(state.setup.tunnel), state.setup.tunnel?.state === "up" ? "ok" : (["failed", "retrying"].includes(state.setup.tunnel?.state) ? "bad" : "")),
    card("Coda account", coda.authenticated ? `${coda.account || "connected"} (${coda.token_hint || "token"})` : (coda.error || "not checked yet"), coda.authenticated ? "ok" : "bad"),
    card("Version", s.version),
    card("Uptime", `${Math.floor(s.uptime_s / 3600)} h ${Math.floor(s.uptime_s / 60) % 60} min`),
    card("Calls per minute", s.calls_per_minute.toFixed(1)),
    card("Error rate", `${(s.error_rate * 100).toFixed(0)} %`, s.error_rate > 0.2 ? "bad" : ""),
    card("Sessions", String(state.sessions.size)),
  );
  $("headroom").replaceChildren(...Object.entries(s.headroom || {}).map(([k, h]) => card(k, `${h.free} of ${h.limit} per ${h.window_s} s`)));
}
function tunnelText(t) {
  if (!t || t.state === "off") return "off";
  if (t.state === "up") return `up at ${t.url}${t.latency_ms ? ` (${t.latency_ms} ms)` : ""}`;
  if (t.state === "connecting") return `connecting (attempt ${t.attempt})…`;
  if (t.state === "retrying") return `down: ${t.error} — retrying in ${Math.round(t.retry_in_ms / 1000)} s`;
  return `failed: ${t.error}`;
}
function renderSessions() {
  const rows = [...state.sessions.values()].sort((a, b) => b.last_activity.localeCompare(a.last_activity));
  $("session-rows").replaceChildren(...rows.map((s) => el("tr", { "data-session": s.session },
    el("td", {}, `${s.client} ${s.client_version || ""}`.trim()), el("td", {}, s.kind), el("td", {}, rel(s.started)),
    el("td", {}, rel(s.last_activity)), el("td", {}, String(s.calls)), el("td", { class: "streams" }, String(s.open_streams || 0)),
    el("td", {}, el("code", {}, s.session.slice(0, 12))))));
  $("sessions-empty").hidden = rows.length > 0;
}
function callRow(c) {
  const open = () => { $("detail-title").textContent = `${c.tool} — ${c.ok ? "ok" : "failed"}`;
    $("detail-body").textContent = JSON.stringify(c, null, 2); $("call-detail").showModal(); };
  return el("tr", { tabindex: "0", "data-call": c.id, onclick: open, onkeydown: (e) => { if (e.key === "Enter") open(); } },
    el("td", { title: c.at }, rel(c.at)), el("td", {}, el("code", {}, (c.session || "").slice(0, 8))), el("td", {}, c.tool),
    el("td", { class: "args" }, argSummary(c.args)),
    el("td", { class: c.ok ? "ok" : "bad" }, c.ok ? (c.changed ? "changed Coda" : "ok") : "failed"),
    el("td", {}, `${Math.round(c.duration_ms)} ms`), el("td", {}, `${c.coda_requests}${c.retries ? ` (+${c.retries} retries)` : ""}${c.rate_limited ? `, ${c.rate_limited}× 429` : ""}`));
}
function renderCalls() {
  $("call-rows").replaceChildren(...state.calls.slice(0, 500).map(callRow));
  $("calls-empty").hidden = state.calls.length > 0;
}
function logLine(e) {
  if (e.type === "tool_call") return { level: e.ok ? "info" : "warn", session: e.session, tool: e.tool, at: e.at,
    text: `${e.tool} ${e.ok ? "ok" : "failed"} in ${Math.round(e.duration_ms)} ms — ${argSummary(e.args)}${e.error ? ` — ${e.error}` : ""}` };
  if (e.type === "session") return { level: "info", session: e.session, tool: "", at: e.at, text: `session opened by ${e.client} ${e.client_version || ""} (${e.kind})` };
  return { level: e.level || "info", session: e.session || "", tool: e.tool || "", at: e.at, text: e.message };
}
function renderLog() {
  if (state.paused) return;
  const level = $("log-level").value, session = $("log-session").value.trim(), tool = $("log-tool").value.trim();
  const lines = state.log.filter((l) => (!level || l.level === level) && (!session || (l.session || "").includes(session)) && (!tool || (l.tool || "").includes(tool)));
  $("log-lines").replaceChildren(...lines.slice(-300).map((l) => el("li", {},
    el("span", { class: `lvl ${l.level}` }, l.level), ` ${new Date(l.at).toLocaleTimeString()} `, l.text)));
  $("log-empty").hidden = lines.length > 0;
}
function renderSetup() {
  const s = state.setup; if (!s.mcp_url) return;
  $("mcp-url").textContent = s.mcp_url;
  const coda = state.status.coda || {};
  $("account").textContent = coda.authenticated
    ? `Connected as ${coda.account} (token ${coda.token_hint})${s.demo ? " — demo workspace" : ""}`
    : `No working Coda token${coda.error ? ` (${coda.error})` : ""}.`;
  $("account").className = coda.authenticated ? "ok" : "bad";
  $("token-form").hidden = !!s.demo;
  $("first-run").hidden = coda.authenticated || !!s.demo || !coda.checked_at;
  $("use-demo").hidden = !s.has_settings;
  if ($("key").dataset.revealed !== "1") $("key").textContent = s.key_hint;
  $("tunnel-state").textContent = tunnelText(s.tunnel);
  $("tunnel-controls").hidden = !s.can_tunnel; $("tunnel-unavailable").hidden = !!s.can_tunnel;
  $("claude-config").textContent = JSON.stringify({ mcpServers: { coda: { command: "npx",
    args: ["mcp-remote", s.mcp_url, "--header", "Authorization:Bearer ${CODA_MCP_KEY}"], env: { CODA_MCP_KEY: "<your connection key>" } } } }, null, 2);
  $("settings-card").hidden = !s.has_settings;
  const base = s.public_url || "https://<your public URL>";
  $("chatgpt-steps").replaceChildren(
    el("li", {}, s.public_url ? `Public URL: ${s.public_url}` : "Start the tunnel above (or run behind a proxy with --public-url https://…)"),
    el("li", {}, "Open chatgpt.com/gpts/editor → Configure → Create new action"),
    el("li", {}, `Schema → Import from URL: ${base}/openapi.json (or paste it with the button below)`),
    el("li", {}, "Authentication → API key → Bearer → your connection key"),
    el("li", {}, 'Test: "What documents do I have in Coda?"'));
}
function renderAll() { renderStatus(); renderSessions(); renderCalls(); renderLog(); renderSetup(); }

// ---- data
function apply(e) {
  if (e.type === "session") {
    if (!state.sessions.has(e.session)) state.sessions.set(e.session, { session: e.session, client: e.client, client_version: e.client_version,
      kind: e.kind, started: e.at, last_activity: e.at, calls: 0, errors: 0, open_streams: 0 });
  } else if (e.type === "streams") {
    const s = state.sessions.get(e.session);
    if (s) s.open_streams = e.open;
    return;
  } else if (e.type === "tunnel") {
    state.setup.tunnel = e.state;
    state.setup.public_url = state.status.public_url = e.state.state === "up" ? e.state.url : null;
    return;
  } else if (e.type === "tool_call") {
    if (state.callIds.has(e.id)) return;
    state.callIds.add(e.id); state.calls.unshift(e);
    const s = state.sessions.get(e.session) || { session: e.session, client: e.client, client_version: "", kind: "mcp", started: e.at, calls: 0, errors: 0 };
    s.calls += 1; s.last_activity = e.at; state.sessions.set(e.session, s);
  }
  state.log.push(logLine(e)); if (state.log.length > MAX_LOG) state.log.shift();
}
async function loadState() {
  const r = await fetch("/api/state", { credentials: "same-origin" });
  if (!r.ok) throw new Error(`state: ${r.status}`);
  const data = await r.json();
  state.status = data.status; state.setup = data.setup;
  for (const s of data.sessions) state.sessions.set(s.session, s);
  for (const c of data.calls) if (!state.callIds.has(c.id)) { state.callIds.add(c.id); state.calls.push(c); }
  return data.lastEventId;
}
function listen(since) {
  const es = new EventSource(`/api/events?since=${since}`);
  es.onopen = () => { $("conn").textContent = "live"; $("conn").className = "pill live"; };
  es.onerror = () => { $("conn").textContent = "reconnecting…"; $("conn").className = "pill down"; };
  es.onmessage = (m) => { apply(JSON.parse(m.data)); scheduleRender(); };
}
let pending = false;
function scheduleRender() { if (!pending) { pending = true; requestAnimationFrame(() => { pending = false; renderAll(); }); } }

// ---- controls
$("call-search").addEventListener("input", async (e) => {
  const q = e.target.value.trim();
  const r = await fetch(`/api/calls?q=${encodeURIComponent(q)}&limit=500`);
  if (r.ok) { state.calls = (await r.json()).items; state.callIds = new Set(state.calls.map((c) => c.id)); renderCalls(); }
});
for (const id of ["log-level", "log-session", "log-tool"]) $(id).addEventListener("input", renderLog);
$("log-pause").addEventListener("click", (e) => { state.paused = !state.paused; e.target.setAttribute("aria-pressed", state.paused);
  e.target.textContent = state.paused ? "Resume" : "Pause"; if (!state.paused) renderLog(); });
$("log-copy").addEventListener("click", () => copy([...$("log-lines").children].map((li) => li.textContent).join("\n"), "Log"));
document.querySelectorAll("[data-copy]").forEach((b) => b.addEventListener("click", () => copy($(b.dataset.copy).textContent, "Text")));
async function revealKey() {
  const r = await fetch("/api/key/reveal", { method: "POST" });
  const { key } = await r.json(); $("key").textContent = key; $("key").dataset.revealed = "1"; return key;
}
$("reveal").addEventListener("click", revealKey);
$("copy-key").addEventListener("click", async () => copy($("key").dataset.revealed === "1" ? $("key").textContent : await revealKey(), "Key"));
async function copySchema(url, what) { const r = await fetch(url); copy(JSON.stringify(await r.json(), null, 2), what); }
// ---- Setup actions: each answers JSON, and a refusal says why.
async function act(method, url, body) {
  const r = await fetch(url, { method, headers: { "content-type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) });
  const data = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(data.message || `${r.status}`);
  return data;
}
async function refreshState() { try { const d = await (await fetch("/api/state")).json(); state.status = d.status; state.setup = d.setup; renderAll(); } catch { /* next tick */ } }
$("token-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  try { const { account } = await act("POST", "/api/setup/coda-token", { token: $("token-input").value });
    $("token-input").value = ""; toast(`Token saved: ${account.name}`); await refreshState(); }
  catch (err) { toast(err.message); $("account").textContent = err.message; $("account").className = "bad"; }
});
$("rotate-key").addEventListener("click", async () => {
  if (!confirm("Make a new connection key? Clients using the old key stop working until you give them the new one.")) return;
  try { await act("POST", "/api/setup/key/rotate"); $("key").dataset.revealed = "0"; toast("New key in use"); await refreshState(); }
  catch (err) { toast(err.message); }
});
$("ngrok-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const body = { domain: $("ngrok-domain").value };
  if ($("ngrok-token").value) body.authtoken = $("ngrok-token").value;
  try { await act("POST", "/api/setup/ngrok", body); $("ngrok-token").value = ""; toast("Tunnel settings saved"); }
  catch (err) { toast(err.message); }
});
// The tunnel's own events keep its state current; the answer may already be older than they are.
$("tunnel-start").addEventListener("click", async () => { try { await act("POST", "/api/setup/tunnel", { on: true }); await refreshState(); } catch (err) { toast(err.message); } });
$("tunnel-stop").addEventListener("click", async () => { try { await act("POST", "/api/setup/tunnel", { on: false }); await refreshState(); } catch (err) { toast(err.message); } });
$("connect-claude").addEventListener("click", async () => {
  try { const r = await act("POST", "/api/setup/claude", { demo: !!state.setup.demo }); $("claude-result").textContent = r.message; toast("Claude Desktop connected"); }
  catch (err) { $("claude-result").textContent = err.message; toast("Could not connect Claude Desktop"); }
});
async function loadSettings() {
  if (!state.setup.has_settings) return;
  try { const s = await act("GET", "/api/setup/settings"); const f = $("settings-form");
    for (const [k, v] of Object.entries(s)) { const i = f.elements[k]; if (!i) continue; if (i.type === "checkbox") i.checked = !!v; else i.value = v ?? ""; }
    $("ngrok-domain").value = s.ngrok_domain || ""; state.settings = s; } catch { /* shown on save */ }
}
$("settings-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const f = e.target, next = { ...(state.settings || {}) };
  for (const i of f.elements) if (i.name) next[i.name] = i.type === "checkbox" ? i.checked : Number(i.value);
  try { const r = await act("PUT", "/api/setup/settings", next); state.settings = r.settings; $("settings-result").textContent = r.message; toast("Settings saved"); }
  catch (err) { $("settings-result").textContent = err.message; toast("Settings not saved"); }
});
$("use-demo").addEventListener("click", async () => {
  try { const s = await act("GET", "/api/setup/settings"); s.demo = true; s.first_run_done = true; await act("PUT", "/api/setup/settings", s);
    await act("POST", "/api/setup/restart"); toast("Restarting on the demo workspace…"); setTimeout(() => location.reload(), 1500); }
  catch (err) { toast(err.message); }
});
$("copy-schema").addEventListener("click", () => copySchema("/openapi.json", "Schema"));
$("copy-seed-schema").addEventListener("click", () => copySchema("/openapi/mcp.json", "Seed schema"));
setInterval(() => { if (!document.hidden) renderAll(); }, 10000);

// ---- in the desktop app's window: links open in the browser, and the header says where we are.
const tauri = window.__TAURI_INTERNALS__;
if (tauri) {
  document.addEventListener("click", (e) => {
    const a = e.target.closest('a[target="_blank"]');
    if (!a) return;
    e.preventDefault();
    tauri.invoke("open_link", { url: a.href }).catch((err) => toast(String(err)));
  });
  tauri.invoke("desktop_status").then((s) => { $("conn").title = `Coda MCP Desktop — server ${s.running ? "running" : "stopped"}`; }).catch(() => {});
}
window.addEventListener("coda-mcp-desktop", (e) => toast(e.detail));

// ---- start
const start = tabs.find((t) => `#${t.getAttribute("aria-controls")}` === location.hash) || tabs[0];
select(start);
loadState().then((since) => { renderAll(); listen(since); loadSettings(); }).catch((e) => { $("conn").textContent = `error: ${e.message}`; $("conn").className = "pill down"; });
