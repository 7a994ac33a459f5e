// The view side of MCP Apps (io.modelcontextprotocol/ui), by hand: JSON-RPC over postMessage
// with the host. The host hands over the tool's input and result; the view calls this server's
// tools through the host (every call goes through the same checks as any other call).
"use strict";
const Host = (() => {
  let nextId = 0;
  const pending = new Map(), handlers = {};
  const send = (m) => window.parent.postMessage(m, "*");
  function request(method, params) {
    const id = ++nextId;
    send({ jsonrpc: "2.0", id, method, params });
    return new Promise((resolve, reject) => pending.set(id, { resolve, reject }));
  }
  const notify = (method, params) => send({ jsonrpc: "2.0", method, params });
  window.addEventListener("message", (ev) => {
    if (ev.source !== window.parent) return;
    const m = ev.data;
    if (!m || m.jsonrpc !== "2.0") return;
    if (m.method === undefined && m.id !== undefined) {
      const p = pending.get(m.id);
      if (p) { pending.delete(m.id); if (m.error) p.reject(new Error(m.error.message || "the host refused")); else p.resolve(m.result); }
      return;
    }
    if (m.id !== undefined) {
      const known = m.method === "ping" || m.method === "ui/resource-teardown";
      send(known ? { jsonrpc: "2.0", id: m.id, result: {} } : { jsonrpc: "2.0", id: m.id, error: { code: -32601, message: "Method not found" } });
      return;
    }
    (handlers[m.method] || (() => {}))(m.params || {});
  });
  // Tell the host how tall the view is, so it is shown without a scrollbar.
  let lastHeight = 0;
  const resized = () => {
    const height = Math.ceil(document.documentElement.scrollHeight);
    if (height !== lastHeight) { lastHeight = height; notify("ui/notifications/size-changed", { height }); }
  };
  new ResizeObserver(resized).observe(document.documentElement);
  return {
    /** `ui/notifications/tool-input`, `…/tool-result`, `…/host-context-changed`, `…/tool-cancelled`. */
    on(method, fn) { handlers[`ui/notifications/${method}`] = fn; },
    async connect(name) {
      const init = await request("ui/initialize", { appInfo: { name, version: "1.0.0" }, appCapabilities: {}, protocolVersion: "2026-01-26" });
      notify("ui/notifications/initialized", {});
      const theme = init && init.hostContext && init.hostContext.theme;
      if (theme) document.documentElement.dataset.theme = theme;
      return init;
    },
    /** Calls one of this server's tools; resolves with the structured result, rejects with its error text. */
    async call(view, name, args) {
      const result = await request("tools/call", { name, arguments: args, _meta: { "coda-mcp/view": view } });
      const text = (result.content || []).map((c) => c.text || "").join("\n");
      if (result.isError) throw new Error(text || `${name} failed`);
      return result.structuredContent || (text ? JSON.parse(text) : {});
    },
    /** Asks the host to open a web link; any other scheme (javascript:, file:, data:, …) is refused here. */
    openLink(url) {
      const safe = webLink(url);
      return safe ? request("ui/open-link", { url: safe }) : Promise.reject(new Error("only web links are opened"));
    },
    tell(text) { return request("ui/update-model-context", { content: [{ type: "text", text }] }).catch(() => {}); },
  };
})();
/** `url` as a web link a view may show and open — https, or http on this machine — else null. */
function webLink(url) {
  try {
    const u = new URL(String(url));
    if (u.protocol === "https:") return u.href;
    if (u.protocol === "http:" && ["localhost", "127.0.0.1", "[::1]"].includes(u.hostname)) return u.href;
  } catch { /* not an absolute URL */ }
  return null;
}
/** A link to `url` opened through the host, or `label` as plain text when `url` is not a web link. */
function linkTo(label, url) {
  const safe = webLink(url);
  return safe ? h("a", { href: safe, rel: "noopener noreferrer", onclick: (e) => { e.preventDefault(); Host.openLink(safe); } }, label) : label;
}
/** The structured result of a tool-result notification (or its text parsed). */
function resultOf(params) {
  if (params.structuredContent) return params.structuredContent;
  const text = (params.content || []).map((c) => c.text || "").join("");
  try { return JSON.parse(text); } catch { return {}; }
}
function h(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v); else if (v !== false && v != null) e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(c == null ? "" : String(c)));
  return e;
}
