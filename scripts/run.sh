#!/usr/bin/env bash
# Runs Coda MCP Desktop on the built-in demo workspace (no Coda account needed).
# With a display: the tray app, its dashboard window open. Without one (a server, a
# container, CI): the headless server, `coda-mcp serve --demo`, which prints the dashboard link.
# Extra arguments go to the app (or to `coda-mcp serve`). Installs what it needs on Debian.
# HEADLESS=1 forces the headless server.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$ROOT"
ensure_build_deps
if [ -z "${HEADLESS:-}" ] && { [ -n "${DISPLAY:-}" ] || [ -n "${WAYLAND_DISPLAY:-}" ] || [ "$(uname)" = Darwin ]; }; then
  [ "$(uname)" = Linux ] && ensure_debs libwebkit2gtk-4.1-dev libayatana-appindicator3-dev librsvg2-dev libxdo-dev
  say "building the desktop app (release; the first build takes a while)"
  cargo build --release --locked -p coda-mcp-desktop
  say "starting: coda-mcp-desktop --demo --open-dashboard $*  (Quit from the tray menu)"
  exec "$ROOT/target/release/coda-mcp-desktop" --demo --open-dashboard "$@"
fi
say "building coda-mcp (release)"
cargo build --release --locked --bin coda-mcp
say "no display: starting the headless server, coda-mcp serve --demo $*  (Ctrl-C to stop)"
exec "$ROOT/target/release/coda-mcp" serve --demo "$@"
