#!/usr/bin/env bash
# Runs a command inside a private D-Bus session with an unlocked GNOME Keyring (the Secret
# Service), so tests use the real OS keychain without touching the person's own keyrings.
# Usage: scripts/with-keyring.sh COMMAND [ARGS...]
set -euo pipefail
if [ "${CODA_MCP_IN_KEYRING_SESSION:-}" != 1 ]; then
  exec env CODA_MCP_IN_KEYRING_SESSION=1 dbus-run-session -- "$0" "$@"
fi
export XDG_DATA_HOME
XDG_DATA_HOME="$(mktemp -d)"
trap 'rm -rf "$XDG_DATA_HOME"' EXIT
mkdir -p "$XDG_DATA_HOME/keyrings"
# A throwaway keyring with a throwaway password (an empty one would ask for a prompt).
printf 'coda-mcp-tests' | gnome-keyring-daemon --unlock --components=secrets >/dev/null
"$@"
