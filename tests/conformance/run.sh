#!/usr/bin/env bash
# Runs the MCP conformance suite's server scenarios against `coda-mcp serve --demo`: the
# release (0.1.16) and the pinned pre-release (0.2.0-alpha.12, installed in
# tests/conformance-auth) with every server scenario that applies to a server with its own
# tools, on the 2025-11-25 wire and, where a scenario has one, the stateless 2026-07-28 wire.
# Expects scripts/test.sh to have installed both and Node 22.
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
BIN="${CODA_MCP_BIN:-$ROOT/target/debug/coda-mcp}"
RELEASE="$HERE/node_modules/.bin/conformance"
NEXT="$ROOT/tests/conformance-auth/node_modules/.bin/conformance"
export PATH="$HERE/node_modules/.bin:$PATH"   # node@22's `node` first

# suite|scenario|extra flags
RUNS=(
  "$RELEASE|server-initialize|" "$RELEASE|ping|" "$RELEASE|tools-list|"
  "$RELEASE|dns-rebinding-protection|" "$RELEASE|server-sse-multiple-streams|"
)
for s in server-initialize ping tools-list dns-rebinding-protection server-sse-multiple-streams \
         server-session-lifecycle resources-list prompts-list sep-2164-resource-not-found \
         server-stateless caching http-header-validation completion-complete logging-set-level \
         input-required-result-unsupported-methods; do
  RUNS+=("$NEXT|$s|--expected-failures $HERE/expected-failures-next.yaml")
done
for s in tools-list resources-list prompts-list completion-complete dns-rebinding-protection \
         server-sse-multiple-streams; do
  RUNS+=("$NEXT|$s|--spec-version 2026-07-28")
done

out=$(mktemp -d)
# The suite cannot send an Authorization header: --no-auth, which is loopback-only. Its
# scenarios open many sessions quickly from one address: no per-client rate.
CODA_MCP_KEYCHAIN=off CODA_MCP_DATA_DIR="$out" CODA_MCP_TOOLSETS=all "$BIN" serve --demo --port 0 \
  --no-auth --client-rate 0 >"$out/ready" 2>"$out/server.log" &
pid=$!
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -rf "$out"' EXIT
for _ in $(seq 100); do grep -q '/mcp' "$out/ready" 2>/dev/null && break; sleep 0.1; done
url=$(grep -o 'http://[^ ]*/mcp' "$out/ready") || { echo "server did not start"; cat "$out/server.log"; exit 1; }
echo "node $(node --version), server $url"

failed=0
n=0
for run in "${RUNS[@]}"; do
  IFS='|' read -r suite s flags <<<"$run"
  version=$("$suite" --version 2>/dev/null)
  label="$s (suite $version${flags:+, ${flags%% *}})"
  log="$out/$n.log"; n=$((n + 1))
  # shellcheck disable=SC2086 # flags are words
  timeout 120 "$suite" server --url "$url" --scenario "$s" $flags >"$log" 2>&1
  code=$?
  summary=$(sed 's/\x1b\[[0-9;]*m//g' "$log" | grep -E 'Passed: [0-9]+/[0-9]+' | tail -1)
  # With a baseline, the suite itself fails on any failure not in it (and on a stale entry).
  if [ $code -eq 0 ] && { echo "$summary" | grep -qE 'Passed: ([0-9]+)/\1, 0 failed' ||
       { [[ "$flags" == *expected-failures* ]] && ! grep -q 'Unexpected failures detected' "$log"; }; }; then
    echo "PASS $label: $summary"
  else
    echo "FAIL $label (exit $code): $summary"; sed 's/\x1b\[[0-9;]*m//g' "$log" | tail -30
    failed=$((failed + 1))
  fi
done
echo "conformance scenarios: $(( ${#RUNS[@]} - failed )) passed, $failed failed"
kill -TERM "$pid"; wait "$pid"; code=$?
trap 'rm -rf "$out"' EXIT
[ $code -eq 0 ] || { echo "server exited with $code on SIGTERM"; exit 1; }
[ $failed -eq 0 ]
