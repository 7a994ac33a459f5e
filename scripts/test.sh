#!/usr/bin/env bash
# Runs every test of Coda MCP Desktop: formatting and lints, the Rust unit and integration
# tests, the official Python MCP SDK against the server, and the MCP conformance suite.
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

say "Python test tools (.tools/venv)"
VENV="$ROOT/.tools/venv"
req_hash=$(sha256sum tests/python/requirements.txt | cut -c1-16)
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$VENV/.req-hash" 2>/dev/null)" != "$req_hash" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check -r tests/python/requirements.txt
  echo "$req_hash" > "$VENV/.req-hash"
fi

say "npm test tools (tests/conformance/node_modules)"
NODE_DIR="$ROOT/tests/conformance"
pkg_hash=$(cat "$NODE_DIR/package.json" "$NODE_DIR/package-lock.json" 2>/dev/null | sha256sum | cut -c1-16)
if [ ! -x "$NODE_DIR/node_modules/.bin/conformance" ] || [ "$(cat "$NODE_DIR/node_modules/.pkg-hash" 2>/dev/null)" != "$pkg_hash" ]; then
  if [ -f "$NODE_DIR/package-lock.json" ]; then
    (cd "$NODE_DIR" && npm ci --no-audit --no-fund --loglevel=error)
  else
    (cd "$NODE_DIR" && npm install --no-audit --no-fund --loglevel=error)
  fi
  echo "$pkg_hash" > "$NODE_DIR/node_modules/.pkg-hash"
fi
say "npm test tools (tests/ui/node_modules: playwright-core)"
UI_DIR="$ROOT/tests/ui"
ui_hash=$(cat "$UI_DIR/package.json" "$UI_DIR/package-lock.json" 2>/dev/null | sha256sum | cut -c1-16)
if [ ! -d "$UI_DIR/node_modules/playwright-core" ] || [ "$(cat "$UI_DIR/node_modules/.pkg-hash" 2>/dev/null)" != "$ui_hash" ]; then
  (cd "$UI_DIR" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
  echo "$ui_hash" > "$UI_DIR/node_modules/.pkg-hash"
fi
set +e

passed=0; failed=0; failures=()
suite() {
  local name="$1"; shift
  say "$name"
  if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); failures+=("$name"); fi
}

export CARGO_TERM_COLOR=never
suite "cargo fmt --check" cargo fmt --all -- --check
suite "cargo clippy (warnings are errors)" cargo clippy --all-targets --locked -- -D warnings
suite "Rust unit and integration tests (keychain tests on a real Secret Service)" \
  scripts/with-keyring.sh cargo test --all-targets --locked -- --include-ignored
export CODA_MCP_BIN="$ROOT/target/debug/coda-mcp"
suite "Python MCP SDK against coda-mcp serve --demo" "$VENV/bin/python" -m pytest -q -p no:cacheprovider tests/python
suite "MCP conformance suite" bash tests/conformance/run.sh
suite "Dashboard in Chromium (screenshots in artifacts/)" node --test tests/ui/

echo
if [ "$failed" -gt 0 ]; then
  echo "failed suites: ${failures[*]}"
fi
echo "suites: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
