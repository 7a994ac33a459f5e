#!/usr/bin/env bash
# Builds the Claude Desktop extension: a .mcpb bundle holding the coda-mcp binary (run as
# `coda-mcp stdio`), its manifest.json (generated from the tool catalogue by
# `coda-mcp manifest mcpb`) and the icon; validated, packed and inspected with the official
# packager (@anthropic-ai/mcpb, pinned in tests/mcpb). Also writes the MCP Registry's
# server.json for the bundle (its SHA-256 included).
#
#   scripts/mcpb.sh [--bin PATH] [--out DIR] [--release-url URL]
#
# Without --bin it builds the release binary first. The bundle is for this machine's OS (build
# it on each OS for its own; macOS wants a universal binary). Output:
#   DIR/coda-mcp-VERSION-PLATFORM.mcpb and DIR/server.json   (DIR defaults to dist/)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$ROOT"

BIN="" OUT="$ROOT/dist" RELEASE_URL=""
while [ $# -gt 0 ]; do
  case "$1" in
    --bin) BIN="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    --release-url) RELEASE_URL="$2"; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
done

ensure_cmd node nodejs
ensure_cmd npm npm
npm_tools tests/mcpb "the Claude Desktop extension packager"
MCPB="$ROOT/tests/mcpb/node_modules/.bin/mcpb"

if [ -z "$BIN" ]; then
  ensure_build_deps
  say "building coda-mcp (release)"
  cargo build --release --locked --bin coda-mcp
  BIN="$ROOT/target/release/coda-mcp"
fi
VERSION="$("$BIN" --version | awk '{print $2}')"
case "$(uname -s)" in
  Darwin) PLATFORM=darwin EXE=coda-mcp ;;
  MINGW*|MSYS*|CYGWIN*) PLATFORM=win32 EXE=coda-mcp.exe ;;
  *) PLATFORM=linux EXE=coda-mcp ;;
esac
RELEASE_URL="${RELEASE_URL:-https://github.com/coda-mcp-desktop/coda-mcp/releases/download/v$VERSION}"

mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
STAGE="$OUT/stage-$PLATFORM"
BUNDLE="$OUT/coda-mcp-$VERSION-$PLATFORM.mcpb"
rm -rf "$STAGE" "$BUNDLE"
mkdir -p "$STAGE/server"
install -m 0755 "$BIN" "$STAGE/server/$EXE"
cp icons/icon.png "$STAGE/icon.png"
"$BIN" manifest mcpb --platform "$PLATFORM" > "$STAGE/manifest.json"

say "validating and packing $BUNDLE"
"$MCPB" validate "$STAGE/manifest.json"
"$MCPB" pack "$STAGE" "$BUNDLE"
"$MCPB" info "$BUNDLE"
"$BIN" manifest registry --bundle "$PLATFORM=$BUNDLE" --release-url "$RELEASE_URL" > "$OUT/server.json"
rm -rf "$STAGE"
echo "bundle: $BUNDLE"
echo "registry: $OUT/server.json"
