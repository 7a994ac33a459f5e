# Shared set-up steps for scripts/run.sh and scripts/test.sh. Each step checks before it
# installs, so running again is quick. Everything project-specific goes into ignored folders
# (.tools/, tests/conformance/node_modules/, target/).

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export DEBIAN_FRONTEND=noninteractive

say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "need root to run: $*" >&2; return 1; fi
}

APT_UPDATED=""

# present PKG: on a system without dpkg (macOS, Fedora, Arch…), whether what the Debian package
# PKG provides is here, judged by the command or library it brings; unknown ones pass.
present() {
  case "$1" in
    curl|make|gcc|npm) command -v "$1" >/dev/null ;;
    nodejs) command -v node >/dev/null ;;
    pkg-config) command -v pkg-config >/dev/null || command -v pkgconf >/dev/null ;;
    rustup) command -v cargo >/dev/null ;;
    libwebkit2gtk-4.1-dev) pkg-config --exists webkit2gtk-4.1 2>/dev/null ;;
    libayatana-appindicator3-dev) pkg-config --exists ayatana-appindicator3-0.1 2>/dev/null ;;
    librsvg2-dev) pkg-config --exists librsvg-2.0 2>/dev/null ;;
    libxdo-dev) [ -e /usr/include/xdo.h ] || [ -e /usr/local/include/xdo.h ] ;;
    *) return 0 ;;
  esac
}

# ensure_debs PKG...: installs the Debian packages that are not installed yet. Without dpkg
# and apt-get nothing is installed: what is missing is named, and the script stops only then.
ensure_debs() {
  local missing=()
  if ! command -v dpkg-query >/dev/null; then
    for p in "$@"; do present "$p" || missing+=("$p"); done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "missing (named as Debian packages): ${missing[*]} — this system has no apt-get: install what they provide with its own package manager" >&2
    return 1
  fi
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  command -v apt-get >/dev/null || { echo "missing packages (${missing[*]}) and no apt-get" >&2; return 1; }
  say "installing Debian packages: ${missing[*]}"
  if [ -z "$APT_UPDATED" ]; then as_root apt-get update -qq; APT_UPDATED=1; fi
  as_root apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# ensure_cmd CMD PKG: installs PKG unless CMD is already on PATH (a Node.js from elsewhere
# ships its own npm, which Debian's npm package would conflict with).
ensure_cmd() {
  command -v "$1" >/dev/null || ensure_debs "$2"
}

# ensure_rust: a Rust toolchain new enough for the workspace (1.88+).
ensure_rust() {
  [ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
  if ! command -v cargo >/dev/null; then
    ensure_debs rustup
    rustup default stable
    . "$HOME/.cargo/env" 2>/dev/null || export PATH="$HOME/.cargo/bin:$PATH"
  fi
  cargo --version >/dev/null
}

# ensure_build_deps: what the Rust build needs from the system.
ensure_build_deps() {
  ensure_debs ca-certificates curl gcc libc6-dev make pkg-config
  ensure_rust
}

# npm_tools DIR WHAT: installs DIR's locked npm packages into DIR/node_modules unless they are
# there already for this package.json and lock (never a browser download).
npm_tools() {
  local dir="$ROOT/$1" hash
  hash=$(cat "$dir/package.json" "$dir/package-lock.json" | sha256sum | cut -c1-16)
  if [ "$(cat "$dir/node_modules/.pkg-hash" 2>/dev/null)" != "$hash" ]; then
    say "npm test tools ($1: $2)"
    (cd "$dir" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
    echo "$hash" > "$dir/node_modules/.pkg-hash"
  fi
}
