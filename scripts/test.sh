#!/usr/bin/env bash
# Runs every test of Coda MCP Desktop: formatting and lints, the Rust unit and integration
# tests (engine, CLI and desktop app), the official MCP clients against the server (Python
# SDK, the Inspector's CLI, mcp-remote), the MCP conformance suite, the dashboard in Chromium, the desktop app under Xvfb through
# tauri-driver, and the fuzz targets for a bounded time.
# On a fresh Debian machine it installs what it needs first (Debian packages as root, the
# Python and npm test tools into ignored project folders). Safe and quick to run again.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
cd "$ROOT"

set -e
ensure_build_deps
ensure_cmd python3 python3
python3 -c 'import venv, ensurepip' 2>/dev/null || ensure_debs python3-venv
ensure_cmd node nodejs
ensure_cmd npm npm
# The real OS keychain for the keychain tests: a private D-Bus session with GNOME Keyring.
ensure_debs dbus gnome-keyring libsecret-tools
# A real browser for the dashboard tests: Debian's Chromium (never a test tool's download).
ensure_debs chromium fonts-dejavu-core
# A local HTTPS server for the OAuth client-metadata-document test (its test CA).
ensure_debs openssl
# The desktop app (Tauri 2 on WebKitGTK) and its end-to-end test under Xvfb.
ensure_debs libwebkit2gtk-4.1-dev libayatana-appindicator3-dev librsvg2-dev libxdo-dev \
  xvfb webkit2gtk-driver
TOOLS_BIN="$ROOT/.tools/cargo/bin"
if [ ! -x "$TOOLS_BIN/tauri-driver" ]; then
  say "installing tauri-driver into .tools/cargo"
  cargo install --quiet --locked --root "$ROOT/.tools/cargo" tauri-driver --version 2.0.6
fi

say "Python test tools (.tools/venv)"
VENV="$ROOT/.tools/venv"
req_hash=$(sha256sum tests/python/requirements.txt | cut -c1-16)
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$VENV/.req-hash" 2>/dev/null)" != "$req_hash" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check -r tests/python/requirements.txt
  echo "$req_hash" > "$VENV/.req-hash"
fi

npm_tools tests/conformance "the MCP conformance suite and Node 22"
npm_tools tests/conformance-auth "the conformance suite's authorization-server scenarios (pre-release)"
npm_tools tests/ui "playwright-core"
npm_tools tests/apps "the MCP Apps host side (ext-apps), the MCP client SDK, esbuild and playwright-core"
npm_tools tests/clients "the MCP Inspector CLI and mcp-remote"
npm_tools tests/mcpb "the Claude Desktop extension packager"
npm_tools packaging "the Tauri CLI (packages, update signing)"
export NODE22="$ROOT/tests/conformance/node_modules/node/bin/node"
set +e

passed=0; failed=0; failures=()
suite() {
  local name="$1"; shift
  say "$name"
  if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); failures+=("$name"); fi
}

export CARGO_TERM_COLOR=never
suite "cargo fmt --check" cargo fmt --all -- --check
suite "cargo clippy (warnings are errors)" cargo clippy --workspace --all-targets --locked -- -D warnings
# Build once: every binary the later suites start (cargo test alone builds the desktop
# crate's test harness, never its real binary).
suite "cargo build (coda-mcp, coda-mcp-desktop)" cargo build --workspace --bins --locked
suite "Rust unit and integration tests (keychain tests on a real Secret Service)" \
  scripts/with-keyring.sh cargo test --workspace --all-targets --locked --no-fail-fast -- \
  --include-ignored --skip contract::every_request_and_answer
# Its own suite, so that its table (operation, requests, answers, violations) is in the output
# (`--workspace`, as above: the same features, so the test binary built there is reused).
suite "Coda contract: every request and answer against Coda's OpenAPI spec" \
  cargo test --workspace --test it --locked contract::every_request_and_answer -- --nocapture
export CODA_MCP_BIN="$ROOT/target/debug/coda-mcp"
export CODA_MCP_DESKTOP_BIN="$ROOT/target/debug/coda-mcp-desktop"
export TAURI_DRIVER="$TOOLS_BIN/tauri-driver"
suite "Python MCP SDK, MCP Inspector CLI and mcp-remote against coda-mcp serve --demo" \
  "$VENV/bin/python" -m pytest -q -p no:cacheprovider tests/python
suite "MCP conformance suite" bash tests/conformance/run.sh
suite "MCP conformance suite: the OAuth authorization server (consent in Chromium)" \
  bash tests/conformance-auth/run.sh
suite "Dashboard in Chromium (screenshots in artifacts/)" node --test tests/ui/
suite "MCP Apps views in Chromium, in a host built on ext-apps (screenshots in artifacts/)" \
  node --test tests/apps/
suite "Desktop app under Xvfb via tauri-driver (screenshots in artifacts/)" \
  "$VENV/bin/python" -m pytest -q -p no:cacheprovider tests/desktop
suite "Fuzz targets (${FUZZ_SECONDS:-60} s each)" scripts/fuzz.sh "${FUZZ_SECONDS:-60}"

echo
if [ "$failed" -gt 0 ]; then
  echo "failed suites: ${failures[*]}"
fi
echo "suites: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
