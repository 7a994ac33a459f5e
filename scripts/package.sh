#!/usr/bin/env bash
# Builds the desktop app's installers with the Tauri CLI (@tauri-apps/cli, pinned in
# packaging/, prebuilt from npm: nothing is compiled for it). On Linux: the Debian package and
# the RPM, each with the tray app (/usr/bin/coda-mcp-desktop, its desktop entry and icons) and
# the headless server (/usr/bin/coda-mcp). Nothing is downloaded while building them (the
# AppImage, whose tools Tauri fetches from GitHub, is built only when asked for).
#
#   scripts/package.sh                 release build → target/release/bundle/{deb,rpm}/
#   scripts/package.sh --debug         packages the debug binaries (built if missing; CI)
#   scripts/package.sh --bundles deb   only some formats (deb, rpm, appimage)
#   scripts/package.sh --version 0.2.0 the package's version (default: tauri.conf.json's; the
#                                      binary must have been built with the same, see
#                                      TAURI_CONFIG in tests/desktop/test_update.py)
#
# macOS and Windows build theirs on their own OS with the same command: `--bundles dmg` (and
# `app`) on macOS, `--bundles msi` or `nsis` on Windows (Tauri fetches WiX/NSIS there).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$ROOT"

PROFILE=release BUNDLES="" VERSION_CONFIG="{}"
while [ $# -gt 0 ]; do
  case "$1" in
    --debug) PROFILE=debug; shift ;;
    --bundles) BUNDLES="$2"; shift 2 ;;
    --version) VERSION_CONFIG="{\"version\":\"$2\"}"; shift 2 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
done
case "$(uname -s)" in
  Linux) BUNDLES="${BUNDLES:-deb,rpm}" ;;
  Darwin) BUNDLES="${BUNDLES:-app,dmg}" ;;
  *) BUNDLES="${BUNDLES:-msi}" ;;
esac

ensure_build_deps
if [ "$(uname -s)" = Linux ]; then
  ensure_debs libwebkit2gtk-4.1-dev libayatana-appindicator3-dev librsvg2-dev libxdo-dev
fi
ensure_cmd node nodejs
ensure_cmd npm npm
npm_tools packaging "the Tauri CLI"
TAURI="$ROOT/packaging/node_modules/.bin/tauri"

# The headless server goes into the package next to the app.
SERVER="../target/$PROFILE/coda-mcp"
EXTRA="{\"bundle\":{\"linux\":{\"deb\":{\"files\":{\"/usr/bin/coda-mcp\":\"$SERVER\"}},\"rpm\":{\"files\":{\"/usr/bin/coda-mcp\":\"$SERVER\"}}}}}"
cd "$ROOT/src-tauri"
if [ "$PROFILE" = release ]; then
  say "building coda-mcp and the desktop app (release)"
  cargo build --release --locked --bin coda-mcp --manifest-path "$ROOT/Cargo.toml"
  "$TAURI" build --ci --bundles "$BUNDLES" --config "$EXTRA" --config "$VERSION_CONFIG"
else
  say "packaging the debug build"
  [ -x "$ROOT/target/debug/coda-mcp" ] && [ -x "$ROOT/target/debug/coda-mcp-desktop" ] \
    || cargo build --locked --workspace --bins --manifest-path "$ROOT/Cargo.toml"
  "$TAURI" bundle --ci --debug --bundles "$BUNDLES" --config "$EXTRA" --config "$VERSION_CONFIG"
fi
echo
find "$ROOT/target/$PROFILE/bundle" -maxdepth 2 -type f \( -name '*.deb' -o -name '*.rpm' -o -name '*.AppImage' -o -name '*.dmg' -o -name '*.msi' -o -name '*.exe' \) -print
