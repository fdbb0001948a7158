#!/usr/bin/env bash
# Runs every fuzz target for FUZZ_SECONDS (default 30) each with cargo-fuzz on the stable
# compiler (RUSTC_BOOTSTRAP=1 unlocks the sanitizer flags cargo-fuzz needs). Installs
# cargo-fuzz if missing. A crash stops the run and leaves its input in fuzz/artifacts/<target>/;
# keep it as a regression test.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-30}
export RUSTC_BOOTSTRAP=1
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "==> installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi
targets=$(cd fuzz && cargo fuzz list)
for t in $targets; do
  echo "==> fuzzing $t for ${seconds}s"
  (cd fuzz && cargo fuzz run "$t" -- -max_total_time="$seconds" -max_len=4096 -print_final_stats=0 2>&1 | tail -n 3)
done
echo "==> fuzzing done: no crashes"
