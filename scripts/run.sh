#!/usr/bin/env bash
# Runs Coda MCP Desktop. Until the desktop shell lands this starts the headless server on
# the built-in demo workspace (no Coda account needed): `coda-mcp serve --demo`.
# Extra arguments go to `coda-mcp serve`. Installs the build tools it needs on Debian.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$ROOT"
ensure_build_deps
say "building coda-mcp (release)"
cargo build --release --locked --bin coda-mcp
say "starting: coda-mcp serve --demo $*  (Ctrl-C to stop)"
exec "$ROOT/target/release/coda-mcp" serve --demo "$@"
