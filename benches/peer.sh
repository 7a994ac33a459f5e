#!/usr/bin/env bash
# Coda MCP Desktop side by side with the strongest open peer, `mcp-coda` (Python, FastMCP,
# from PyPI), in one run: one demo workspace as a shared unlimited upstream, our server (Coda
# pacing and the client rate lifted with the public flags) and the peer pointed at it
# (CODA_BASE_URL), both driven by the same load generator with the same `getDoc` call and the
# clients' Accept header, at 1 and 16 connections: p50, p99, calls/s, RSS after the load
# (`cargo bench --bench server` with CODA_MCP_PEER set). Then the official Python SDK's own
# client against both, one call after another in one session (client-bound figures).
#
# Usage: benches/peer.sh [--quick]
# The peer is installed, pinned, into .tools/peer-venv (nothing of it is committed).
set -euo pipefail
. "$(dirname "$0")/../scripts/lib.sh"
cd "$ROOT"
ensure_build_deps
PEER="mcp-coda==0.12.3"
VENV="$ROOT/.tools/peer-venv"
if [ "$(cat "$VENV/.pinned" 2>/dev/null)" != "$PEER" ]; then
  say "installing the peer ($PEER) into .tools/peer-venv"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check "$PEER"
  echo "$PEER" > "$VENV/.pinned"
fi

say "load: ours and the peer in one run (cargo bench --bench server)"
CODA_MCP_PEER="$VENV/bin/mcp-coda" cargo bench --locked --bench server -- "$@"

say "the Python SDK's own client, one session, calls one after another"
BIN="$ROOT/target/release/coda-mcp"
KEY="cmk_peer-bench-key-not-a-secret-0123456789ab"
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
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
CODA_BASE_URL="$DEMO" CODA_API_TOKEN=demo-token-not-a-secret "$VENV/bin/mcp-coda" \
  --transport streamable-http --host 127.0.0.1 --port "$PORT" > "$WORK/peer.out" 2>&1 & PIDS+=($!)
until curl -s -o /dev/null "http://127.0.0.1:$PORT/mcp" 2>/dev/null; do sleep 0.2; done
CALLS="${CALLS:-300}"
echo "| client: the Python MCP SDK (${CALLS} calls) | p50 | p99 | calls/s |"
echo "|---|---|---|---|"
"$VENV/bin/python" benches/sdk_client.py "coda-mcp serve" "$MCP" coda_get_document '{"docId":"AbCDeFGH01"}' "$KEY" "$CALLS"
"$VENV/bin/python" benches/sdk_client.py "mcp-coda (peer)" "http://127.0.0.1:$PORT/mcp" coda_get_doc '{"doc_id":"AbCDeFGH01"}' "" "$CALLS"
