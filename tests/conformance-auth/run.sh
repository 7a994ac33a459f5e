#!/usr/bin/env bash
# Runs the MCP conformance suite's authorization-server scenarios (a pinned pre-release:
# `authorization-server-metadata-endpoint`, then `authorization-code-grant`) against
# `coda-mcp serve --demo`. The code-grant scenario prints an authorization URL and waits for
# a person: the consent page is driven in Debian's Chromium (tests/ui/consent.mjs types the
# connection key and clicks Allow), and the browser goes on to the suite's callback.
# Expects scripts/test.sh to have installed the suite, Node 22 and playwright-core.
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
BIN="${CODA_MCP_BIN:-$ROOT/target/debug/coda-mcp}"
KEY="cmk_conformance-authorization-key-000000000000"
SUITE="$HERE/node_modules/.bin/conformance"
NODE22="$HERE/node_modules/.bin/node"

out=$(mktemp -d)
CODA_MCP_KEYCHAIN=off CODA_MCP_KEY="$KEY" CODA_MCP_DATA_DIR="$out/data" RUST_LOG=warn \
  "$BIN" serve --demo --port 0 >"$out/ready" 2>"$out/server.log" &
pid=$!
suite_pid=""
cleanup() { [ -n "$suite_pid" ] && kill "$suite_pid" 2>/dev/null; kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -rf "$out"; }
trap cleanup EXIT
for _ in $(seq 100); do grep -q '/mcp' "$out/ready" 2>/dev/null && break; sleep 0.1; done
mcp=$(grep -o 'http://[^ ]*/mcp' "$out/ready") || { echo "server did not start"; cat "$out/server.log"; exit 1; }
base=${mcp%/mcp}
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
# The code-grant scenario does not register: a client with its callback is registered first.
client_id=$(curl -s -X POST "$base/oauth/register" -H 'content-type: application/json' \
  -d "{\"client_name\":\"MCP conformance suite\",\"redirect_uris\":[\"http://127.0.0.1:$port/callback\"]}" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["client_id"])') || { echo "registration failed"; exit 1; }
echo "node $("$NODE22" --version), authorization server $base, client $client_id"

PATH="$HERE/node_modules/.bin:$PATH" timeout 300 "$SUITE" authorization --url "$base" \
  --client-id "$client_id" --resource "$mcp" -p "$port" >"$out/suite.log" 2>&1 &
suite_pid=$!
# The person's part: open the URL the suite prints, approve, hand the answer back.
url=""
for _ in $(seq 600); do
  url=$(sed 's/\x1b\[[0-9;]*m//g' "$out/suite.log" | grep -o "$base/oauth/authorize?[^ ]*" | head -1)
  [ -n "$url" ] && break
  kill -0 "$suite_pid" 2>/dev/null || break
  sleep 0.1
done
if [ -n "$url" ]; then
  # The browser itself goes on to the suite's callback with the code.
  (cd "$ROOT/tests/ui" && node consent.mjs "$url" "$KEY" >/dev/null) || echo "the consent page could not be answered"
else
  echo "the suite printed no authorization URL"
fi
wait "$suite_pid"; code=$?
suite_pid=""
log=$(sed 's/\x1b\[[0-9;]*m//g' "$out/suite.log")
echo "$log" | grep -E '^(✓|✗|PASS|FAIL|Passed|Total|[0-9]+ passed)|authorization-|Passed:' | head -40
failed=0
for s in authorization-server-metadata-endpoint authorization-code-grant; do
  if echo "$log" | grep -q "$s"; then :; else echo "scenario $s did not run"; failed=1; fi
done
if [ $code -ne 0 ] || echo "$log" | grep -qE '(^|[^0-9])[1-9][0-9]* failed'; then
  echo "$log" | tail -60; failed=1
fi
kill -TERM "$pid"; wait "$pid"; scode=$?
[ $scode -eq 0 ] || { echo "server exited with $scode on SIGTERM"; failed=1; }
[ $failed -eq 0 ] && echo "authorization conformance: passed"
[ $failed -eq 0 ]
