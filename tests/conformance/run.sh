#!/usr/bin/env bash
# Runs the MCP conformance suite's server scenarios against `coda-mcp serve --demo`.
# Expects scripts/test.sh to have installed the suite and Node 22 in node_modules/.
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
BIN="${CODA_MCP_BIN:-$ROOT/target/debug/coda-mcp}"
export PATH="$HERE/node_modules/.bin:$PATH"   # node@22's `node` first
SCENARIOS=(server-initialize ping tools-list dns-rebinding-protection server-sse-multiple-streams)

out=$(mktemp -d)
# The suite cannot send an Authorization header: --no-auth, which is loopback-only.
CODA_MCP_KEYCHAIN=off CODA_MCP_DATA_DIR="$out" "$BIN" serve --demo --port 0 --no-auth >"$out/ready" 2>"$out/server.log" &
pid=$!
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -rf "$out"' EXIT
for _ in $(seq 100); do grep -q '/mcp' "$out/ready" 2>/dev/null && break; sleep 0.1; done
url=$(grep -o 'http://[^ ]*/mcp' "$out/ready") || { echo "server did not start"; cat "$out/server.log"; exit 1; }
echo "node $(node --version), server $url"

failed=0
for s in "${SCENARIOS[@]}"; do
  log="$out/$s.log"
  timeout 120 conformance server --url "$url" --scenario "$s" >"$log" 2>&1
  code=$?
  summary=$(grep -E 'Passed: [0-9]+/[0-9]+' "$log" | tail -1 | sed 's/\x1b\[[0-9;]*m//g')
  if [ $code -eq 0 ] && echo "$summary" | grep -qE 'Passed: ([0-9]+)/\1, 0 failed'; then
    echo "PASS $s ($summary)"
  else
    echo "FAIL $s (exit $code): $summary"; sed 's/\x1b\[[0-9;]*m//g' "$log" | tail -30
    failed=$((failed + 1))
  fi
done
echo "conformance scenarios: $(( ${#SCENARIOS[@]} - failed )) passed, $failed failed"
kill -TERM "$pid"; wait "$pid"; code=$?
trap 'rm -rf "$out"' EXIT
[ $code -eq 0 ] || { echo "server exited with $code on SIGTERM"; exit 1; }
[ $failed -eq 0 ]
