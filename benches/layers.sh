#!/usr/bin/env bash
# Where a tool call's time goes, layer by layer, measured with wrk (a C load generator that
# costs the server almost nothing) against the release binary on loopback:
#   the upstream alone (the demo's getDoc), /health (HTTP stack), MCP ping (guard + rmcp
#   session), a tool call that makes no Coda request (tool machinery, events, audit), and
#   coda_get_document (all of it) — one connection; then one session driven by 16 and 64
#   connections (calls/s). Requests carry the Accept header every real MCP client sends
#   (`application/json, text/event-stream`: answers come as SSE); one row repeats the call
#   with a JSON-only Accept (GPT Actions-style scripts).
# Usage: benches/layers.sh [path/to/coda-mcp]   (build it with `cargo build --release` first)
set -euo pipefail
. "$(dirname "$0")/../scripts/lib.sh"
ensure_debs wrk curl
BIN="${1:-$ROOT/target/release/coda-mcp}"
SECS="${SECS:-5}"
KEY="cmk_layers-bench-key-not-a-secret-0123456789"
WORK="$(mktemp -d)"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT
export CODA_MCP_KEYCHAIN=off CODA_MCP_KEY="$KEY" RUST_LOG=warn CODA_MCP_DATA_DIR="$WORK/data"

"$BIN" demo --port 0 --unlimited > "$WORK/demo.out" 2>/dev/null & PIDS+=($!)
until grep -q http "$WORK/demo.out" 2>/dev/null; do sleep 0.1; done
DEMO=$(grep -o 'http://[^ ]*' "$WORK/demo.out" | head -1)
CODA_API_TOKEN=demo-token-not-a-secret "$BIN" serve --port 0 --coda-base-url "$DEMO" \
  --no-pacing --client-rate 0 > "$WORK/serve.out" 2>/dev/null & PIDS+=($!)
until grep -q http "$WORK/serve.out" 2>/dev/null; do sleep 0.1; done
MCP=$(grep -o 'http://[^ ]*/mcp' "$WORK/serve.out" | head -1)
BASE=${MCP%/mcp}
SID=$(curl -si -X POST "$MCP" -H "authorization: Bearer $KEY" -H 'content-type: application/json' \
  -H 'accept: application/json' \
  -d '{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"wrk","version":"1"}}}' \
  | grep -i '^mcp-session-id' | awk '{print $2}' | tr -d '\r')

# Each request gets its own JSON-RPC id (ids must be unique among a session's calls in flight).
cat > "$WORK/call.lua" <<EOF
local n = 0
request = function()
  n = n + 1
  return wrk.format("POST", nil, {["authorization"]="Bearer $KEY", ["content-type"]="application/json",
    ["accept"]=os.getenv("ACCEPT"), ["mcp-session-id"]="$SID", ["mcp-protocol-version"]="2025-06-18"},
    string.format(os.getenv("BODY"), n))
end
EOF

# row LABEL CONNECTIONS wrk-args...: p50, p99 and requests/s as a table row.
row() {
  local label="$1" conns="$2"; shift 2
  local out
  out=$(wrk -t1 -c"$conns" -d"${SECS}s" --latency "$@")
  if echo "$out" | grep -q "Non-2xx"; then echo "$out" >&2; echo "non-2xx answers in: $label" >&2; exit 1; fi
  printf '| %s | %s | %s | %s | %s |\n' "$label" "$conns" \
    "$(echo "$out" | awk '$1=="50%"{print $2}')" "$(echo "$out" | awk '$1=="99%"{print $2}')" \
    "$(echo "$out" | awk '/Requests\/sec/{printf "%.0f", $2}')"
}
CLIENTS_ACCEPT='application/json, text/event-stream'
call() { BODY="$1" ACCEPT="${ACCEPT:-$CLIENTS_ACCEPT}" row "$2" "$3" -s "$WORK/call.lua" "$MCP"; }
GET_DOC='{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"coda_get_document","arguments":{"docId":"AbCDeFGH01"}}}'

echo "| what | connections | p50 | p99 | requests/s |"
echo "|---|---|---|---|---|"
row "upstream getDoc, directly" 1 -H "authorization: Bearer demo-token-not-a-secret" "$DEMO/docs/AbCDeFGH01"
row "GET /health" 1 "$BASE/health"
call '{"jsonrpc":"2.0","id":%d,"method":"ping"}' "MCP ping" 1
call '{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"coda_resolve_link","arguments":{"url":"https://coda.io/d/_dAbCDeFGH01"}}}' \
  "tools/call without a Coda request (coda_resolve_link)" 1
call "$GET_DOC" "tools/call coda_get_document" 1
ACCEPT=application/json call "$GET_DOC" "tools/call coda_get_document, JSON-only Accept" 1
call "$GET_DOC" "tools/call coda_get_document, one session" 16
call "$GET_DOC" "tools/call coda_get_document, one session" 64
