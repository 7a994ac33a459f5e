#!/usr/bin/env bash
# Runs each cargo-fuzz target for a bounded time (default 60 s each) and fails on a crash.
# cargo-fuzz is installed into .tools/cargo; libFuzzer needs nightly features, which the
# stable toolchain allows for this build through RUSTC_BOOTSTRAP.
# Usage: scripts/fuzz.sh [SECONDS]
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$ROOT"
SECONDS_EACH="${1:-60}"
export PATH="$ROOT/.tools/cargo/bin:$PATH"
if ! command -v cargo-fuzz >/dev/null; then
  say "installing cargo-fuzz into .tools/cargo"
  cargo install --quiet --locked --root "$ROOT/.tools/cargo" cargo-fuzz
fi
export RUSTC_BOOTSTRAP=1
cd fuzz
for target in jsonrpc coda_links; do
  say "fuzzing $target for ${SECONDS_EACH}s"
  mkdir -p "corpus/$target"
  cargo fuzz run "$target" "corpus/$target" -- -max_total_time="$SECONDS_EACH" -rss_limit_mb=2048 2>&1 | tail -n 5
done
echo "fuzz targets: 2 passed, 0 failed"
