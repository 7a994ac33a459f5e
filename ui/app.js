// Coda MCP dashboard: a snapshot from /api/state, then live events from /api/events (SSE,
// resumed with Last-Event-ID after a drop; every event carries an increasing id and one seen
// before is ignored, so rows are neither lost nor duplicated). Everything shown after the
// first paint comes from those events: the Status numbers arrive as `status` events, and the
// uptime ticks from the start time they carry. Nothing polls.
const $ = (id) => document.getElementById(id);
const state = {
  sessions: new Map(), calls: [], callIds: new Set(), log: [], paused: false, setup: {}, status: {},
  lastId: 0, query: "", startedAt: null, settings: null, oauth: { grants: [], pending: [] },
  // The charts: per minute (keyed by its start in ms) the calls, errors and durations, and the
  // lowest headroom per class; `seen` holds the call ids already counted.
  metrics: { minutes: new Map(), headroom: new Map(), seen: new Set(), loaded: false },
};
// Long-running windows keep only this much in memory (the audit history keeps the rest).
const MAX_LOG = 1000, MAX_CALLS = 1000, MAX_SESSIONS = 500;
// Every state-changing request says it comes from this page (the server refuses others).
const JSON_HEADERS = { "content-type": "application/json", "x-coda-mcp-dashboard": "1" };

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
  clearTimeout(toast.timer); toast.timer = setTimeout(() => t.classList.remove("show"), 2500);
}
async function copy(text, what) {
  try { await navigator.clipboard.writeText(text); toast(`${what} copied`); return true; }
  catch { toast(`Could not copy ${what.toLowerCase()}`); return false; }
}
function argSummary(args) {
  if (!args || typeof args !== "object") return "";
  return Object.entries(args).map(([k, v]) => {
    let s = typeof v === "string" ? v : JSON.stringify(v);
    if (s.length > 40) s = s.slice(0, 39) + "…";
    return `${k}=${s}`;
  }).join(" ");
}
function duration(seconds) {
  const d = Math.floor(seconds / 86400), h = Math.floor(seconds / 3600) % 24, m = Math.floor(seconds / 60) % 60, s = Math.floor(seconds) % 60;
  if (d) return `${d} d ${h} h ${m} min`;
  if (h) return `${h} h ${m} min`;
  return `${m} min ${s} s`;
}

// ---- tabs (keyboard: arrows move between tabs)
const tabs = [...document.querySelectorAll('[role="tab"]')];
function select(tab, focus = true) {
  for (const t of tabs) {
    const on = t === tab;
    t.setAttribute("aria-selected", on); t.tabIndex = on ? 0 : -1;
    $(t.getAttribute("aria-controls")).hidden = !on;
  }
  if (focus) tab.focus();
  const hash = `#${tab.getAttribute("aria-controls")}`;
  if (location.hash !== hash) history.replaceState(null, "", hash);
}
tabs.forEach((t, i) => {
  t.addEventListener("click", () => select(t));
  t.addEventListener("keydown", (e) => {
    if (e.key === "ArrowRight") select(tabs[(i + 1) % tabs.length]);
    if (e.key === "ArrowLeft") select(tabs[(i - 1 + tabs.length) % tabs.length]);
  });
});
// The desktop app opens the window on a view by setting the hash.
window.addEventListener("hashchange", () => {
  const tab = tabs.find((t) => `#${t.getAttribute("aria-controls")}` === location.hash);
  if (tab) select(tab, false);
});

// ---- rendering
function card(label, value, cls = "", id = "") {
  const attrs = { class: "card" };
  if (id) attrs["data-card"] = id;
  return el("div", attrs, el("div", { class: "label" }, label), el("div", { class: `value ${cls}` }, value));
}
function uptimeText() {
  const s = state.startedAt ? (Date.now() - state.startedAt) / 1000 : (state.status.uptime_s || 0);
  return duration(Math.max(0, s));
}
function renderStatus() {
  const s = state.status; if (!s.version) return;
  const coda = s.coda || {};
  const tunnel = state.setup.tunnel;
  $("status-cards").replaceChildren(
    card("Server", s.mcp_url),
    card("Public URL", s.public_url || "none (local only)"),
    card("Tunnel", tunnelText(tunnel), tunnel?.state === "up" ? "ok" : (["failed", "retrying"].includes(tunnel?.state) ? "bad" : ""), "tunnel"),
    card("Coda account", coda.authenticated ? `${coda.account || "connected"} (${coda.token_hint || "token"})${state.setup.demo ? " — the built-in demo workspace" : ""}` : (coda.error || "not checked yet"), coda.authenticated ? "ok" : "bad", "account"),
    card("Version", s.version),
    card("Uptime", uptimeText(), "", "uptime"),
    card("Calls per minute", Number(s.calls_per_minute || 0).toFixed(0), "", "calls-per-minute"),
    card("Error rate (5 min)", `${((s.error_rate || 0) * 100).toFixed(0)} %`, s.error_rate > 0.2 ? "bad" : "", "error-rate"),
    card("Sessions", String(s.sessions ?? state.sessions.size), "", "sessions"),
  );
  $("headroom").replaceChildren(...Object.entries(s.headroom || {}).map(([k, h]) => {
    const c = card(classWords(k), `${h.free} of ${h.limit} left per ${h.window_s} s`, h.free === 0 ? "bad" : "", `headroom-${k}`);
    c.title = `Coda's "${k}" rate limit`;
    return c;
  }));
}
// ---- the Status view's charts (plain SVG): the last hour, a minute a column
const MINUTE = 60000, HOUR_MINUTES = 60;
const minuteOf = (t) => Math.floor(t / MINUTE) * MINUTE;
function pct(sorted, p) { return sorted.length ? sorted[Math.min(sorted.length, Math.max(1, Math.ceil(p / 100 * sorted.length))) - 1] : null; }
function minuteBucket(t) {
  const m = state.metrics.minutes;
  if (!m.has(t)) m.set(t, { calls: 0, errors: 0, durations: [], p50: null, p99: null });
  return m.get(t);
}
function countCall(id, at, ok, ms) {
  const seen = state.metrics.seen;
  if (id && seen.has(id)) return;
  if (id) { seen.add(id); if (seen.size > 20000) seen.delete(seen.values().next().value); }
  const b = minuteBucket(minuteOf(new Date(at).getTime()));
  b.calls += 1; b.errors += ok ? 0 : 1;
  if (b.durations) { b.durations.push(ms); b.durations.sort((x, y) => x - y); b.p50 = pct(b.durations, 50); b.p99 = pct(b.durations, 99); }
}
// Coda's rate classes in plain words; the API's own names stay as the detail (a tooltip).
const CLASS_WORDS = { read: "Reading", write: "Changing", docContentWrite: "Writing page content", listDocs: "Listing docs", analytics: "Analytics" };
function classWords(k) { return CLASS_WORDS[k] || k; }
function noteHeadroom(headroom) {
  const t = minuteOf(Date.now()), kept = state.metrics.headroom.get(t) || {};
  for (const [k, h] of Object.entries(headroom || {})) {
    const free = kept[k] ? Math.min(kept[k].free, h.free) : h.free;
    kept[k] = { free, limit: h.limit };
  }
  state.metrics.headroom.set(t, kept);
}
async function loadMetrics() {
  try {
    const r = await fetch("/api/metrics", { credentials: "same-origin" });
    if (!r.ok) return;
    const m = await r.json();
    const now = minuteOf(Date.now());
    for (const x of m.minutes) {
      const t = new Date(x.t).getTime();
      if (t === now) continue; // the current minute is rebuilt from its calls below
      state.metrics.minutes.set(t, { calls: x.calls, errors: x.errors, durations: null, p50: x.p50_ms, p99: x.p99_ms });
    }
    for (const c of m.current) countCall(c.id, c.at, c.ok, c.ms);
    for (const h of m.headroom) {
      const t = new Date(h.t).getTime(), kept = state.metrics.headroom.get(t);
      state.metrics.headroom.set(t, kept ? Object.fromEntries(Object.entries(h.classes).map(([k, v]) => [k, kept[k] && kept[k].free < v.free ? kept[k] : v])) : h.classes);
    }
    state.metrics.loaded = true;
    renderCharts();
  } catch { /* the charts stay empty; the rest of the page works */ }
}
function svgEl(tag, attrs = {}, text) {
  const e = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}
const W = 600, H = 140, TOP = 4, BOTTOM = 4;
function niceMax(v) { if (v <= 0) return 1; const p = 10 ** Math.floor(Math.log10(v)); return Math.ceil(v / p) * p; }
// The plot stretches with its box; its labels are HTML around it, so text never stretches.
function frame(svg, max, unit) {
  const y = (v) => TOP + (H - TOP - BOTTOM) * (1 - v / max);
  const fig = svg.closest("figure");
  if (!fig.querySelector(".ticks")) {
    svg.before(el("div", { class: "scale" }));
    svg.after(el("div", { class: "ticks" }, el("span", {}, "60 min ago"), el("span", {}, "now")));
  }
  fig.querySelector(".scale").textContent = `${max}${unit}`;
  svg.replaceChildren(
    svgEl("line", { class: "grid", x1: 0, x2: W, y1: y(0), y2: y(0) }),
    svgEl("line", { class: "grid", x1: 0, x2: W, y1: y(max), y2: y(max) }));
  return y;
}
function bars(name, values, cls) {
  const fig = document.querySelector(`[data-chart="${name}"]`), svg = fig.querySelector("svg");
  const max = niceMax(Math.max(0, ...values)), y = frame(svg, max, ""), w = W / values.length;
  values.forEach((v, i) => { if (v > 0) svg.append(svgEl("rect", { class: `bar ${cls}`, x: i * w + 1, width: Math.max(1, w - 2), y: y(v), height: y(0) - y(v), "data-minute": i }, undefined)); });
  const last = values[values.length - 1];
  fig.querySelector(".now").textContent = `${last} this minute`;
  svg.setAttribute("aria-label", `${fig.querySelector("figcaption").firstChild.textContent.trim()}: ${values.reduce((a, b) => a + b, 0)} in the last hour, ${last} this minute`);
}
function lines(name, series, unit, max, nowText) {
  const fig = document.querySelector(`[data-chart="${name}"]`), svg = fig.querySelector("svg");
  const all = series.flatMap((s) => s.values.filter((v) => v !== null));
  const top = max ?? niceMax(Math.max(0, ...all)), y = frame(svg, top, unit), step = W / (HOUR_MINUTES - 1);
  series.forEach((s, i) => {
    let d = "", pen = "M";
    // A line through the minutes with values, and a short mark at each, so a lone minute shows.
    s.values.forEach((v, x) => {
      if (v === null) { pen = "M"; return; }
      const px = x * step, py = y(v).toFixed(1);
      d += `${pen}${px.toFixed(1)},${py} M${(px - 3).toFixed(1)},${py} L${Math.min(W, px + 3).toFixed(1)},${py} M${px.toFixed(1)},${py} `; pen = "L";
    });
    if (d) svg.append(svgEl("path", { class: `line s${i}`, d, "data-series": s.name }));
  });
  let legend = fig.querySelector(".legend");
  if (!legend) { legend = el("div", { class: "legend" }); fig.append(legend); }
  legend.replaceChildren(...series.map((s, i) => el("span", {}, el("i", { class: `s${i}` }), s.name)));
  fig.querySelector(".now").textContent = nowText;
  svg.setAttribute("aria-label", `${fig.querySelector("figcaption").firstChild.textContent.trim()}: ${nowText}`);
}
let chartsPending = false;
function renderCharts() {
  if (chartsPending) return;
  chartsPending = true;
  requestAnimationFrame(() => {
    chartsPending = false;
    if (!document.getElementById("charts")) return;
    const now = minuteOf(Date.now()), ts = Array.from({ length: HOUR_MINUTES }, (_, i) => now - (HOUR_MINUTES - 1 - i) * MINUTE);
    for (const t of state.metrics.minutes.keys()) if (t < ts[0]) state.metrics.minutes.delete(t);
    for (const t of state.metrics.headroom.keys()) if (t < ts[0]) state.metrics.headroom.delete(t);
    const at = (t) => state.metrics.minutes.get(t);
    bars("calls", ts.map((t) => at(t)?.calls || 0), "");
    bars("errors", ts.map((t) => at(t)?.errors || 0), "err");
    const p50 = ts.map((t) => at(t)?.p50 ?? null), p99 = ts.map((t) => at(t)?.p99 ?? null);
    const lastP = [...p99].reverse().find((v) => v !== null), lastM = [...p50].reverse().find((v) => v !== null);
    lines("latency", [{ name: "typical", values: p50.map((v) => v === null ? null : Math.round(v)) }, { name: "slowest 1 %", values: p99.map((v) => v === null ? null : Math.round(v)) }],
      "", undefined, lastM === undefined ? "no calls yet" : `typical ${Math.round(lastM)} ms, slowest 1 % ${Math.round(lastP)} ms`);
    const classes = ["read", "write", "docContentWrite", "listDocs", "analytics"];
    const free = (t, k) => { const h = state.metrics.headroom.get(t)?.[k]; return h ? Math.round(100 * h.free / Math.max(1, h.limit)) : null; };
    const lowest = classes.map((k) => [k, [...ts].reverse().map((t) => free(t, k)).find((v) => v !== null)]).filter(([, v]) => v !== undefined);
    const worst = lowest.sort((a, b) => a[1] - b[1])[0];
    lines("headroom", classes.map((k) => ({ name: classWords(k), values: ts.map((t) => free(t, k)) })), "%", 100,
      worst ? `lowest now: ${classWords(worst[0])} ${worst[1]} % free` : "no samples yet");
  });
}
// A new minute moves the charts along even when nothing happens.
setInterval(() => { if (!document.hidden && state.metrics.loaded) renderCharts(); }, 10000);

function tickUptime() {
  const v = document.querySelector('[data-card="uptime"] .value');
  if (v) v.textContent = uptimeText();
}
function tunnelText(t) {
  if (!t || t.state === "off") return "off";
  if (t.state === "up") return `up at ${t.url}${t.latency_ms ? ` (${t.latency_ms} ms)` : ""}`;
  if (t.state === "connecting") return `connecting (attempt ${t.attempt})…`;
  if (t.state === "retrying") return `down: ${t.error} — retrying in ${Math.round(t.retry_in_ms / 1000)} s`;
  return `failed: ${t.error}`;
}
function renderNotice() {
  const n = state.setup.url_changed;
  const dismissed = n && localStorage.getItem("coda-mcp-url-notice") === `${n.previous} ${n.url}`;
  $("url-notice").hidden = !n || dismissed;
  if (n) $("url-notice-text").textContent = `The public URL changed from ${n.previous} to ${n.url}. ChatGPT plugins and Claude connectors made with the old URL stop working (and ChatGPT shows this server's views from a new origin): create them again with ${n.url.replace(/\/$/, "")}/mcp (GPT Actions: copy the schema again). A reserved ngrok domain keeps one address.`;
}
function renderSessions() {
  const rows = [...state.sessions.values()].sort((a, b) => b.last_activity.localeCompare(a.last_activity));
  $("session-rows").replaceChildren(...rows.map((s) => el("tr", { "data-session": s.session },
    el("td", {}, `${s.client} ${s.client_version || ""}`.trim()), el("td", {}, s.kind), el("td", {}, rel(s.started)),
    el("td", {}, rel(s.last_activity)), el("td", {}, String(s.calls)), el("td", { class: "streams" }, String(s.open_streams || 0)),
    el("td", {}, el("code", {}, s.session.slice(0, 12))))));
  $("sessions-empty").hidden = rows.length > 0;
}
// ---- the preview of a view (MCP Apps): this page plays the host, by hand. The view runs in a
// sandbox without this page's origin and talks to it only through postMessage; its reads run
// through /api/preview, and nothing it asks can change Coda.
const preview = { frame: null, call: null, result: null };
async function previewCall(tool, args) {
  try { return await act("POST", "/api/preview", { tool, arguments: args || {} }); }
  catch (err) { return { content: [{ type: "text", text: err.message }], isError: true }; }
}
window.addEventListener("message", async (ev) => {
  const frame = $("view-frame");
  if (!frame || ev.source !== frame.contentWindow) return;
  const m = ev.data, reply = (body) => frame.contentWindow.postMessage({ jsonrpc: "2.0", id: m.id, ...body }, "*");
  if (!m || m.jsonrpc !== "2.0" || !m.method) return;
  if (m.method === "ui/initialize") {
    reply({ result: { protocolVersion: "2026-01-26", hostInfo: { name: "coda-mcp dashboard", version: "1" },
      hostCapabilities: { serverTools: {}, openLinks: {}, updateModelContext: { text: {} } },
      hostContext: { theme: matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light", displayMode: "inline", platform: "web" } } });
  } else if (m.method === "ui/notifications/initialized") {
    const send = (method, params) => frame.contentWindow.postMessage({ jsonrpc: "2.0", method, params }, "*");
    send("ui/notifications/tool-input", { arguments: preview.call.args || {} });
    send("ui/notifications/tool-result", await previewCall(preview.call.tool, preview.call.args));
  } else if (m.method === "ui/notifications/size-changed") {
    if (m.params && m.params.height) frame.style.height = `${Math.min(m.params.height + 8, 900)}px`;
  } else if (m.method === "tools/call") {
    reply({ result: await previewCall(m.params.name, m.params.arguments) });
  } else if (m.method === "ui/open-link") {
    const url = String(m.params && m.params.url || "");
    if (/^https:\/\//.test(url)) window.open(url, "_blank", "noopener");
    reply({ result: {} });
  } else if (m.id !== undefined) {
    reply({ result: {} });
  }
});
function openPreview(c) {
  preview.call = c;
  $("detail-view").hidden = false; $("detail-preview").hidden = true;
  $("view-frame").src = `/ui/views/${encodeURIComponent(state.setup.views[c.tool])}`;
}
function callRow(c) {
  const open = () => { $("detail-title").textContent = `${c.tool} — ${c.ok ? "ok" : "failed"}`;
    $("detail-body").textContent = JSON.stringify(c, null, 2);
    const view = state.setup.views && state.setup.views[c.tool];
    $("detail-preview").hidden = !view; $("detail-view").hidden = true; $("view-frame").removeAttribute("src");
    $("detail-preview").onclick = () => openPreview(c);
    $("call-detail").showModal(); };
  return el("tr", { tabindex: "0", "data-call": c.id, onclick: open, onkeydown: (e) => { if (e.key === "Enter") open(); } },
    el("td", { title: c.at }, rel(c.at)), el("td", {}, el("code", {}, (c.session || "").slice(0, 8))), el("td", {}, c.tool),
    el("td", { class: "args" }, argSummary(c.args)),
    el("td", { class: c.ok ? "ok" : "bad" }, c.ok ? (c.changed ? "changed Coda" : "ok") : "failed"),
    el("td", {}, `${Math.round(c.duration_ms)} ms`), el("td", {}, `${c.coda_requests}${c.retries ? ` (+${c.retries} retries)` : ""}${c.rate_limited ? `, ${c.rate_limited}× 429` : ""}`));
}
function renderCalls() {
  $("call-rows").replaceChildren(...state.calls.slice(0, 500).map(callRow));
  $("calls-empty").hidden = state.calls.length > 0;
  $("calls-empty").textContent = state.query
    ? `No tool calls match “${state.query}”.`
    : `No tool calls yet. They appear here within a second of happening, and stay in the history for ${state.setup.audit_retention_days || 30} days.`;
}
function logLine(e) {
  if (e.type === "tool_call") return { level: e.ok ? "info" : "warn", session: e.session, tool: e.tool, at: e.at,
    text: `${e.tool} ${e.ok ? "ok" : "failed"} in ${Math.round(e.duration_ms)} ms — ${argSummary(e.args)}${e.error ? ` — ${e.error}` : ""}` };
  if (e.type === "session") return { level: "info", session: e.session, tool: "", at: e.at, text: `session opened by ${e.client} ${e.client_version || ""} (${e.kind})` };
  if (e.type === "oauth_request") return { level: "info", session: "", tool: "", at: e.at, text: `${e.client} asks to connect through OAuth (answers go to ${e.redirect_host})` };
  if (e.type === "oauth_decided") return { level: "info", session: "", tool: "", at: e.at, text: `connection request ${e.allowed ? "allowed" : "denied"}` };
  if (e.type === "oauth_grants_changed") return { level: "info", session: "", tool: "", at: e.at, text: "connected apps changed" };
  return { level: e.level || "info", session: e.session || "", tool: e.tool || "", at: e.at, text: e.message };
}
function renderLog() {
  if (state.paused) return;
  const level = $("log-level").value, session = $("log-session").value.trim(), tool = $("log-tool").value.trim();
  const lines = state.log.filter((l) => (!level || l.level === level) && (!session || (l.session || "").includes(session)) && (!tool || (l.tool || "").includes(tool)));
  $("log-lines").replaceChildren(...lines.slice(-300).map((l) => el("li", { "data-level": l.level },
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
  // Only the button that applies: Start while off, Stop while on (or trying).
  const tunnelOff = !s.tunnel || s.tunnel.state === "off";
  $("tunnel-start").hidden = !tunnelOff; $("tunnel-stop").hidden = tunnelOff;
  $("tunnel-controls").hidden = !s.can_tunnel; $("tunnel-unavailable").hidden = !!s.can_tunnel;
  $("claude-config").textContent = JSON.stringify({ mcpServers: { coda: { command: "npx",
    args: ["mcp-remote", s.mcp_url, "--header", "Authorization:Bearer ${CODA_MCP_KEY}"], env: { CODA_MCP_KEY: "<your connection key>" } } } }, null, 2);
  $("settings-card").hidden = !s.has_settings;
  $("retention").textContent = `${s.audit_retention_days || 30} days`;
  // A headless `coda-mcp serve` has no Settings: its history length is a flag.
  $("retention-where").textContent = s.has_settings ? "change it in Settings" : "change it with --audit-days";
  renderConnect();
}

// ---- Connect ChatGPT and Claude: the public /mcp URL to paste, the steps, and which address
// the connectors you already have were made with.
function renderConnect() {
  const s = state.setup; if (!s.mcp_url) return;
  const publicMcp = s.public_url ? `${s.public_url.replace(/\/$/, "")}/mcp` : null;
  for (const id of ["public-mcp-url", "chatgpt-url", "claude-url"]) {
    $(id).textContent = publicMcp || (id === "public-mcp-url" ? "none: start the tunnel" : "start the tunnel first");
    $(`copy-${id}`).hidden = !publicMcp;
  }
  // A list item is in one list only: each list gets its own.
  const reach = () => publicMcp ? [] : [el("li", {}, "ChatGPT and Claude reach this machine only through a public HTTPS URL: start the tunnel above (or run behind a proxy with --public-url https://…).")];
  $("chatgpt-steps").replaceChildren(...reach(),
    el("li", {}, "Turn on Developer mode: ChatGPT → Settings → Security and login → Developer mode (Plus, Pro, Business, Enterprise and Edu, on the web)."),
    el("li", {}, `chatgpt.com/plugins → + → Add custom MCP server → Server URL: ${publicMcp || "<public URL>/mcp"} → Authentication: OAuth → Create.`),
    el("li", {}, "This server's approval page opens: type your connection key and click Allow (or allow it at the top of this dashboard with the code that page shows)."),
    el("li", {}, 'In a chat, on the Work tab, type @ and pick the plugin: "What documents do I have in Coda?"'),
    el("li", {}, "No public URL at all? Choose OpenAI Secure MCP Tunnel in the Tunnel card, start it, and in ChatGPT pick Add custom MCP server → Tunnel instead of Server URL (for your own use; ChatGPT only)."));
  $("claude-steps").replaceChildren(...reach(),
    el("li", {}, `Customize → Connectors → Add custom connector → Remote MCP server URL: ${publicMcp || "<public URL>/mcp"} → Add (Claude's Free plan allows one custom connector).`),
    el("li", {}, "Connect: this server's approval page opens — type your connection key and click Allow."),
    el("li", {}, "Claude's connectors reach you from Anthropic's cloud, so they need the public URL; Claude Desktop can also run this server on your machine (the Claude Desktop card)."));
  const base = s.public_url || "https://<your public URL>";
  $("actions-steps").replaceChildren(
    el("li", {}, "Open chatgpt.com/gpts/editor → Configure → Create new action"),
    el("li", {}, `Schema → Import from URL: ${base}/openapi.json (or paste it with the button below)`),
    el("li", {}, "Authentication → API key → Bearer → your connection key"));
  $("schema-note").hidden = !!s.public_url;
  // Connectors are made with one URL: say so when the ones you have were made with another.
  const made = [...new Set((state.oauth.grants || []).map((g) => g.resource).filter((r) => r && r.startsWith("https://")))];
  const stale = made.filter((r) => !publicMcp || r.replace(/\/$/, "") !== publicMcp);
  $("connectors-made-with").hidden = stale.length === 0;
  $("connectors-made-with").textContent = stale.length
    ? `Connected apps were made with ${stale.join(", ")}${publicMcp ? `, not ${publicMcp}` : ""}: they work only while the public URL is that one. ${publicMcp ? "Create them again with the URL above, or keep one address with a reserved ngrok domain." : "Start the tunnel on that address (a reserved ngrok domain)."}`
    : "";
}

function renderAll() { renderStatus(); renderNotice(); renderSessions(); renderCalls(); renderLog(); renderSetup(); if (state.metrics.loaded) renderCharts(); }

// ---- OAuth: connection requests waiting for the owner, and the apps connected. Drawn only
// when they change (a checkbox the person is about to tick must not be drawn anew under them).
function renderOAuth() {
  const box = $("oauth-requests");
  box.replaceChildren();
  for (const p of state.oauth.pending) {
    const card = el("div", { class: "banner oauth-request", "data-request": p.request });
    const text = el("p", {});
    text.append(el("strong", {}, p.client), ` asks to ${p.scopes.includes("coda:write") ? "read and change" : "read"} your Coda docs; its answers go to `, el("strong", {}, p.redirect_host), ".");
    card.append(text);
    // What tells two requests apart: when, from where, which browser, how the app is known.
    const facts = el("ul", { class: "facts" });
    facts.append(el("li", {}, `Asked ${new Date(p.came).toLocaleTimeString()} from network ${p.network}`),
      el("li", {}, p.provenance), el("li", {}, `Browser: ${p.user_agent || "not said"}`));
    const likeness = el("li", { class: `likeness ${p.likeness.verdict}` }, p.likeness_text);
    facts.append(likeness);
    card.append(facts);
    let write = null;
    if (p.scopes.includes("coda:write")) {
      const label = el("label", { class: "check" }); write = el("input", { type: "checkbox" }); write.checked = false;
      label.append(write, " also allow changes"); card.append(label);
    }
    const code = el("input", { type: "text", class: "pairing-code", placeholder: "ABC-DEF", "aria-label": `the code on ${p.client}'s approval page`, autocomplete: "off", maxlength: "9", size: "9" });
    const codeLabel = el("label", { class: "code" }, "Code on the approval page in your browser: ");
    codeLabel.append(code);
    const allow = el("button", {}, "Allow"), deny = el("button", {}, "Deny");
    const row = el("div", { class: "answer" });
    const answer = async (yes) => {
      try { await act("POST", `/api/oauth/pending/${encodeURIComponent(p.request)}`, { allow: yes, write: write ? write.checked : false, code: code.value }); toast(yes ? `${p.client} allowed` : `${p.client} denied`); }
      catch (err) { toast(err.message); }
      loadOAuth();
    };
    allow.addEventListener("click", () => answer(true)); deny.addEventListener("click", () => answer(false));
    row.append(codeLabel, allow, deny);
    card.append(row);
    box.append(card);
  }
  box.hidden = state.oauth.pending.length === 0;
  const rows = $("app-rows");
  rows.replaceChildren();
  for (const g of state.oauth.grants) {
    const tr = el("tr", {});
    const revoke = el("button", {}, "Revoke");
    revoke.addEventListener("click", async () => {
      try { await act("POST", `/api/oauth/grants/${encodeURIComponent(g.id)}/revoke`, {}); toast(`${g.client_name} revoked`); } catch (err) { toast(err.message); }
      loadOAuth();
    });
    const may = g.scope.includes("coda:write") ? "read and change" : "read";
    for (const v of [g.client_name, g.redirect_host, may, new Date(g.created).toLocaleString(), g.last_used ? new Date(g.last_used).toLocaleString() : "never", String(g.calls)]) tr.append(el("td", {}, v));
    const cell = el("td", {}, revoke); tr.append(cell);
    rows.append(tr);
  }
  $("apps-empty").hidden = state.oauth.grants.length > 0;
}
// Grant events come in bursts (a refresh, a revocation, several apps at once): one reload
// at a time, and at most one more after it, however many arrive.
let oauthLoading = null, oauthAgain = false;
async function loadOAuth() {
  if (oauthLoading) { oauthAgain = true; return oauthLoading; }
  oauthLoading = (async () => {
    try { const r = await fetch("/api/oauth"); if (r.ok) { state.oauth = await r.json(); renderOAuth(); renderConnect(); } } catch { /* the next event tries again */ }
    await new Promise((done) => setTimeout(done, 500));
  })();
  await oauthLoading;
  oauthLoading = null;
  if (oauthAgain) { oauthAgain = false; return loadOAuth(); }
}

// ---- data
// What the server's history search matches (tool, client, session, arguments, error), so a
// live call joins the list only when it would have been found.
function matches(c, q) {
  if (!q) return true;
  const needle = q.toLowerCase();
  return [c.tool, c.client, c.session, JSON.stringify(c.args ?? {}), c.error || ""].some((f) => String(f).toLowerCase().includes(needle));
}
function keepCalls() {
  if (state.calls.length > MAX_CALLS) {
    state.calls.length = MAX_CALLS;
    state.callIds = new Set(state.calls.map((c) => c.id));
  }
}
function keepSessions() {
  if (state.sessions.size <= MAX_SESSIONS) return;
  const oldest = [...state.sessions.values()].sort((a, b) => a.last_activity.localeCompare(b.last_activity));
  for (const s of oldest.slice(0, state.sessions.size - MAX_SESSIONS)) state.sessions.delete(s.session);
}
function applySettings(s) {
  state.settings = s;
  const f = $("settings-form");
  for (const [k, v] of Object.entries(s)) { const i = f.elements[k]; if (!i) continue; if (i.type === "checkbox") i.checked = !!v; else i.value = v ?? ""; }
  $("ngrok-domain").value = s.ngrok_domain || "";
}
// `seq` is the event's number (the SSE `id:`; a tool call's own `id` is its call ID).
function apply(e, seq) {
  if (e.type === "resync") { resync(); return; }
  // Each event once: numbers only grow, so one at or below the last seen was seen already.
  if (seq) {
    if (seq <= state.lastId) return;
    state.lastId = seq;
  }
  if (e.type === "status") {
    state.status = { ...state.status, ...e.status };
    if (e.status.started_at) state.startedAt = new Date(e.status.started_at).getTime();
    noteHeadroom(e.status.headroom);
    return;
  }
  if (e.type === "session") {
    if (!state.sessions.has(e.session)) state.sessions.set(e.session, { session: e.session, client: e.client, client_version: e.client_version,
      kind: e.kind, started: e.at, last_activity: e.at, calls: 0, errors: 0, open_streams: 0 });
    keepSessions();
  } else if (e.type === "streams") {
    const s = state.sessions.get(e.session);
    if (s) { s.open_streams = e.open; s.last_activity = e.at; }
    return;
  } else if (e.type === "tunnel") {
    state.setup.tunnel = e.state;
    // OpenAI's tunnel has a name (openai-tunnel:…), no address to give clients.
    state.setup.public_url = state.status.public_url = e.state.state === "up" && e.state.url.startsWith("https://") ? e.state.url : null;
    return;
  } else if (e.type === "public_url_changed") {
    state.setup.url_changed = { id: e.id, at: e.at, previous: e.previous, url: e.url };
    toast("The public URL changed: create your ChatGPT and Claude connectors again with the new URL");
  } else if (e.type === "settings") {
    applySettings(e.settings);
    return;
  } else if (e.type === "oauth_request" || e.type === "oauth_decided" || e.type === "oauth_grants_changed") {
    if (e.type === "oauth_request") toast(`${e.client} asks to connect: allow it at the top of the page with the code its approval page shows, or deny it`);
    loadOAuth();
  } else if (e.type === "tool_call") {
    countCall(e.id, e.at, e.ok, e.duration_ms);
    const s = state.sessions.get(e.session) || { session: e.session, client: e.client, client_version: "", kind: "mcp", started: e.at, calls: 0, errors: 0, open_streams: 0 };
    s.calls += 1; s.errors += e.ok ? 0 : 1; s.last_activity = e.at; state.sessions.set(e.session, s);
    keepSessions();
    if (!state.callIds.has(e.id) && matches(e, state.query)) { state.callIds.add(e.id); state.calls.unshift(e); keepCalls(); }
  }
  state.log.push(logLine(e)); if (state.log.length > MAX_LOG) state.log.splice(0, state.log.length - MAX_LOG);
}
async function fetchState() {
  const r = await fetch("/api/state", { credentials: "same-origin" });
  if (!r.ok) throw new Error(`state: ${r.status}`);
  return r.json();
}
function takeState(data) {
  state.status = data.status; state.setup = data.setup;
  state.startedAt = data.status.started_at ? new Date(data.status.started_at).getTime() : Date.now() - data.status.uptime_s * 1000;
}
async function loadState() {
  const data = await fetchState();
  takeState(data);
  for (const s of data.sessions) state.sessions.set(s.session, s);
  keepSessions();
  if (!state.query) for (const c of data.calls) if (!state.callIds.has(c.id)) { state.callIds.add(c.id); state.calls.push(c); }
  keepCalls();
  state.lastId = Math.max(state.lastId, data.lastEventId);
  return data.lastEventId;
}
// The stream said events were lost (this page fell too far behind): take a new snapshot.
async function resync() {
  try {
    const data = await fetchState();
    takeState(data);
    state.sessions = new Map(data.sessions.map((s) => [s.session, s]));
    if (!state.query) { state.calls = data.calls.slice(0, MAX_CALLS); state.callIds = new Set(state.calls.map((c) => c.id)); }
    scheduleRender();
  } catch { /* the next event or reconnect tries again */ }
}
function listen(since) {
  // The browser reconnects by itself after a drop, sending the last id it saw.
  const es = new EventSource(`/api/events?since=${since}`);
  es.onopen = () => { $("conn").textContent = "live"; $("conn").className = "pill live"; };
  es.onerror = () => { $("conn").textContent = "reconnecting…"; $("conn").className = "pill down"; };
  es.onmessage = (m) => { apply(JSON.parse(m.data), Number(m.lastEventId) || 0); scheduleRender(); };
}
let pending = false;
function scheduleRender() { if (!pending) { pending = true; requestAnimationFrame(() => { pending = false; renderAll(); }); } }

// ---- controls
let searchSeq = 0;
$("call-search").addEventListener("input", async (e) => {
  const q = e.target.value.trim(), seq = ++searchSeq;
  state.query = q;
  const r = await fetch(`/api/calls?q=${encodeURIComponent(q)}&limit=500`);
  if (r.ok && seq === searchSeq) { state.calls = (await r.json()).items; state.callIds = new Set(state.calls.map((c) => c.id)); renderCalls(); }
});
for (const id of ["log-level", "log-session", "log-tool"]) $(id).addEventListener("input", renderLog);
$("log-pause").addEventListener("click", (e) => { state.paused = !state.paused; e.target.setAttribute("aria-pressed", state.paused);
  e.target.textContent = state.paused ? "Resume" : "Pause"; if (!state.paused) renderLog(); });
$("log-copy").addEventListener("click", () => copy([...$("log-lines").children].map((li) => li.textContent).join("\n"), "Log"));
document.querySelectorAll("[data-copy]").forEach((b) => b.addEventListener("click", () => copy($(b.dataset.copy).textContent, "Text")));
// ---- Setup actions: each answers JSON, and a refusal says why.
async function act(method, url, body) {
  const r = await fetch(url, { method, headers: JSON_HEADERS, body: body === undefined ? undefined : JSON.stringify(body) });
  const data = await r.json().catch(() => ({}));
  if (!r.ok) throw Object.assign(new Error(data.message || `${r.status}`), { code: data.error });
  return data;
}
async function revealKey() {
  const { key } = await act("POST", "/api/key/reveal");
  $("key").textContent = key; $("key").dataset.revealed = "1"; return key;
}
$("reveal").addEventListener("click", () => revealKey().catch((err) => toast(err.message)));
$("copy-key").addEventListener("click", async () => {
  try { copy($("key").dataset.revealed === "1" ? $("key").textContent : await revealKey(), "Key"); } catch (err) { toast(err.message); }
});
async function copySchema(url, what) {
  const r = await fetch(url);
  const copied = await copy(JSON.stringify(await r.json(), null, 2), what);
  if (!copied) return;
  if (!state.setup.public_url) {
    // The schema names this machine's loopback address, which ChatGPT cannot reach.
    $("schema-note").textContent = "Copied, but ChatGPT needs the public HTTPS URL: this schema points at 127.0.0.1, which ChatGPT cannot reach. Start the tunnel, then copy it again.";
    $("schema-note").hidden = false;
    toast(`${what} copied — start the tunnel first: ChatGPT needs the public HTTPS URL`);
  } else if (state.setup.url_changed) {
    localStorage.setItem("coda-mcp-url-notice", `${state.setup.url_changed.previous} ${state.setup.url_changed.url}`);
    renderNotice();
  }
}
async function refreshState() { try { takeState(await fetchState()); renderAll(); } catch { /* the stream keeps it current */ } }
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
// Which tunnel opens: ngrok (a public URL) or OpenAI's Secure MCP Tunnel (no public URL).
function showTunnelChoice(choice) {
  $("tunnel-provider").value = choice.provider;
  const openai = choice.provider === "openai";
  $("openai-tunnel-form").hidden = !openai;
  $("ngrok-form").hidden = openai;
  if (choice.tunnel_id && !$("openai-tunnel-id").value) $("openai-tunnel-id").value = choice.tunnel_id;
  $("openai-tunnel-status").textContent = openai
    ? (choice.has_api_key ? "An API key is saved." : "No API key yet.") + (choice.tunnel_id ? "" : " No tunnel id yet.")
    : "";
}
async function loadTunnelChoice() {
  try { showTunnelChoice(await act("GET", "/api/setup/tunnel-choice")); } catch (_) { /* a server without setup */ }
}
$("tunnel-provider").addEventListener("change", async () => {
  try { showTunnelChoice(await act("POST", "/api/setup/tunnel-choice", { provider: $("tunnel-provider").value })); }
  catch (err) { toast(err.message); }
});
$("openai-tunnel-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const body = { provider: "openai", tunnel_id: $("openai-tunnel-id").value };
  if ($("openai-tunnel-key").value) body.api_key = $("openai-tunnel-key").value;
  try { showTunnelChoice(await act("POST", "/api/setup/tunnel-choice", body)); $("openai-tunnel-key").value = ""; toast("Tunnel settings saved"); }
  catch (err) { toast(err.message); }
});
loadTunnelChoice();
// The tunnel's own events keep its state current; the answer may already be older than they are.
$("tunnel-start").addEventListener("click", async () => { try { await act("POST", "/api/setup/tunnel", { on: true }); } catch (err) { toast(err.message); } });
$("tunnel-stop").addEventListener("click", async () => { try { await act("POST", "/api/setup/tunnel", { on: false }); } catch (err) { toast(err.message); } });
// Without a keychain a client's entry cannot get the key: the refusal says why, and one more
// click writes the key into the client's config, in clear, when the person chooses so.
function refusedConnect(err, result, url, name) {
  result.replaceChildren(err.message);
  if (err.code !== "no_keychain") return;
  result.append(" ", el("button", { class: "key-in-config", onclick: async () => {
    try { const r = await act("POST", url, { key_in_config: true }); result.textContent = r.message; toast(`${name} connected`); }
    catch (again) { result.textContent = again.message; }
    loadClients();
  } }, "Write the key into its config (in clear)"));
}
$("connect-claude").addEventListener("click", async () => {
  try { const r = await act("POST", "/api/setup/claude", { demo: !!state.setup.demo }); $("claude-result").textContent = r.message; toast("Claude Desktop connected"); loadClients(); }
  catch (err) { refusedConnect(err, $("claude-result"), "/api/setup/claude", "Claude Desktop"); toast("Could not connect Claude Desktop"); }
});
// Check setup: the doctor's findings, problems first.
$("check-setup").addEventListener("click", async () => {
  $("check-results").replaceChildren(el("li", {}, "Checking…"));
  try {
    const { findings, problems } = await act("GET", "/api/setup/doctor");
    const order = { problem: 0, note: 1, ok: 2 };
    const mark = { problem: "Fix", note: "Note", ok: "OK" };
    $("check-results").replaceChildren(...[...findings].sort((a, b) => order[a.verdict] - order[b.verdict]).map((f) =>
      el("li", { class: `finding ${f.verdict}` }, el("strong", {}, `${mark[f.verdict]} · ${f.check}: `), f.detail,
        ...(f.fix ? [el("span", { class: "fix" }, ` → ${f.fix}`)] : []))));
    toast(problems ? `${problems} thing${problems === 1 ? "" : "s"} to fix` : "All is well");
  } catch (err) { $("check-results").replaceChildren(el("li", { class: "finding problem" }, err.message)); }
});
// One row per client: its state, Connect or Disconnect, the entry to copy, its install link.
async function loadClients() {
  try { renderClients((await act("GET", "/api/setup/clients")).clients); } catch { /* no Setup on this face */ }
}
function renderClients(rows) {
  $("client-rows").replaceChildren(...rows.map((c) => {
    const label = c.problem ? "config unreadable" : c.connected ? "connected" : c.installed ? "installed" : "not found";
    const change = el("button", { class: "client-action", onclick: async () => {
      const url = `/api/setup/clients/${encodeURIComponent(c.client)}`;
      try {
        const r = await act(c.connected ? "DELETE" : "POST", url, c.connected ? undefined : { demo: !!state.setup.demo });
        $("client-result").textContent = r.message; toast(r.message);
      } catch (err) { refusedConnect(err, $("client-result"), url, c.name); toast(`Could not change ${c.name}`); }
      loadClients();
    } }, c.connected ? "Disconnect" : "Connect");
    const actions = el("td", {}, change, " ", el("button", { class: "client-copy", onclick: () => copy(c.snippet || "", `${c.name} entry`) }, "Copy entry"));
    if (c.install_link) actions.append(" ", el("a", { href: c.install_link, class: "client-install" }, `Install in ${c.name}`));
    return el("tr", { "data-client": c.client, title: c.problem || c.path || "" },
      el("td", {}, c.name), el("td", { class: `client-state ${c.problem ? "bad" : c.connected ? "ok" : ""}` }, label), actions);
  }));
}
// The toolsets: one box per group with what it holds and what listing it costs.
async function loadToolsets() {
  try { renderToolsets(await act("GET", "/api/setup/toolsets")); } catch { /* no Setup on this face */ }
}
function plural(n, word) { return `${n} ${word}${n === 1 ? "" : "s"}`; }
function kChars(n) { return `${(n / 1000).toFixed(1)}k characters`; }
function renderToolsets(v) {
  $("toolset-rows").replaceChildren(...v.sets.map((t) => {
    const box = el("input", { type: "checkbox", name: t.name, onchange: saveToolsets });
    box.checked = t.offered;
    return el("label", { class: "check", "data-toolset": t.name }, box, ` ${t.name} — ${t.about} (${plural(t.tools, "tool")}, ${kChars(t.listBytes)})`);
  }));
  $("toolsets-result").textContent = `Offered: ${v.toolsets} — ${plural(v.tools, "tool")}, ${kChars(v.listBytes)} in every conversation${v.listBytes > v.budget ? " (more than the default's budget)" : ""}.`;
}
async function saveToolsets() {
  const chosen = [...$("toolset-rows").querySelectorAll("input:checked")].map((i) => i.name);
  if (!chosen.length) { toast("Offer at least one group of tools"); loadToolsets(); return; }
  try {
    const v = await act("PUT", "/api/setup/toolsets", { toolsets: chosen.join(",") });
    if (state.settings) state.settings.toolsets = v.toolsets;
    renderToolsets(v); toast(`Tools offered: ${v.toolsets}`);
  } catch (err) { $("toolsets-result").textContent = err.message; toast("Tools not changed"); loadToolsets(); }
}
async function loadSettings() {
  if (!state.setup.has_settings) return;
  try { applySettings(await act("GET", "/api/setup/settings")); } catch { /* shown on save */ }
}
$("settings-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const f = e.target, next = { ...(state.settings || {}) };
  for (const i of f.elements) {
    if (!i.name) continue;
    next[i.name] = i.type === "checkbox" ? i.checked : i.type === "url" ? (i.value.trim() || null) : Number(i.value);
  }
  try { const r = await act("PUT", "/api/setup/settings", next); state.settings = r.settings; $("settings-result").textContent = r.message; toast("Settings saved"); }
  catch (err) { $("settings-result").textContent = err.message; toast("Settings not saved"); }
});
$("use-demo").addEventListener("click", async () => {
  try { const s = await act("GET", "/api/setup/settings"); s.demo = true; s.first_run_done = true; await act("PUT", "/api/setup/settings", s);
    await act("POST", "/api/setup/restart"); toast("Restarting on the demo workspace…"); setTimeout(() => location.reload(), 1500); }
  catch (err) { toast(err.message); }
});
$("copy-schema").addEventListener("click", () => copySchema("/openapi.json", "Schema"));
$("copy-direct-call-schema").addEventListener("click", () => copySchema("/openapi/mcp.json", "Direct-call schema"));
// Copying the new URL (what plugins and connectors are made with) settles the notice.
$("url-notice-copy").addEventListener("click", async () => {
  const n = state.setup.url_changed; if (!n) return;
  if (await copy(`${n.url.replace(/\/$/, "")}/mcp`, "The new MCP URL")) {
    localStorage.setItem("coda-mcp-url-notice", `${n.previous} ${n.url}`);
    renderNotice();
  }
});
$("url-notice-schema").addEventListener("click", () => copySchema("/openapi.json", "Schema"));
$("url-notice-dismiss").addEventListener("click", () => {
  const n = state.setup.url_changed;
  if (n) localStorage.setItem("coda-mcp-url-notice", `${n.previous} ${n.url}`);
  renderNotice();
});
// Relative times and the uptime move on by themselves; the numbers come from the stream.
setInterval(() => { if (!document.hidden) tickUptime(); }, 1000);
setInterval(() => { if (!document.hidden) { renderSessions(); renderCalls(); } }, 15000);

// ---- in the desktop app's window: links open in the browser, and the header says where we are.
const tauri = window.__TAURI_INTERNALS__;
if (tauri) {
  document.addEventListener("click", (e) => {
    const a = e.target.closest('a[target="_blank"]');
    if (!a) return;
    e.preventDefault();
    tauri.invoke("open_link", { url: a.href }).catch((err) => toast(String(err)));
  });
  tauri.invoke("desktop_status").then((s) => { $("conn").title = `Coda MCP Desktop — server ${s.running ? "running" : "stopped"}`; renderUpdate(s.update); }).catch(() => {});
  // Updates (the app's own, not the engine's): where they stand, and the buttons.
  $("check-update").hidden = false;
  $("check-update").addEventListener("click", async () => {
    try { renderUpdate((await tauri.invoke("check_update")).update); } catch (err) { toast(String(err)); }
  });
  $("install-update").addEventListener("click", async () => {
    try { await tauri.invoke("install_update"); } catch (err) { toast(String(err)); }
  });
  setInterval(() => { if (!document.hidden) tauri.invoke("desktop_status").then((s) => renderUpdate(s.update)).catch(() => {}); }, 2000);
}
function renderUpdate(u) {
  if (!u) return;
  const text = {
    off: "Updates are off: set an update manifest URL to look for new versions.",
    checking: "Looking for updates…",
    up_to_date: `Coda MCP Desktop ${u.version} is the newest version.`,
    available: `Coda MCP Desktop ${u.version} is available.${u.notes ? ` ${u.notes}` : ""}`,
    downloading: `Downloading ${u.version}… ${u.total ? Math.floor((u.received * 100) / u.total) + "%" : `${u.received} bytes`}`,
    installing: `Installing ${u.version}; the app restarts next.`,
    failed: `Not updated: ${u.error}`,
  }[u.state] || "";
  $("update-state").hidden = !text; $("update-state").textContent = text;
  $("update-state").className = `hint ${u.state === "failed" ? "bad" : ""}`;
  $("install-update").hidden = u.state !== "available";
  $("install-update").textContent = u.state === "available" ? `Update to ${u.version}` : "";
}
window.addEventListener("coda-mcp-desktop", (e) => toast(e.detail));

// ---- start
const start = tabs.find((t) => `#${t.getAttribute("aria-controls")}` === location.hash) || tabs[0];
select(start, false);
loadState().then((since) => { renderAll(); listen(since); loadSettings(); loadOAuth(); loadClients(); loadToolsets(); loadMetrics(); }).catch((e) => { $("conn").textContent = `error: ${e.message}`; $("conn").className = "pill down"; });
