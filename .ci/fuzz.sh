#!/usr/bin/env bash
# Fuzzing, bounded: each cargo-fuzz target in fuzz/ runs for FUZZ_SECONDS (default 30) from the
# committed corpus in fuzz/corpus/<target>/ (new inputs found go to a scratch copy, so the
# repository is not changed). On stable Rust, without a sanitizer (`--sanitizer none`), which
# cargo-fuzz supports; a crash fails CI and leaves its input in fuzz/artifacts/<target>/ —
# turn it into a regression test next to the parser.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds="${FUZZ_SECONDS:-30}"
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-$HOME/.cache/outage-monitor/fuzz-target}"
case ":$PATH:" in *":$HOME/.cargo/bin:"*) ;; *) export PATH="$PATH:$HOME/.cargo/bin" ;; esac
if ! command -v cargo-fuzz >/dev/null 2>&1; then
  echo "installing cargo-fuzz"
  cargo install cargo-fuzz --locked --quiet
fi
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
for target in $(cargo fuzz list); do
  mkdir -p "$scratch/$target"
  cp -r "corpus/$target/." "$scratch/$target/"
  echo "fuzzing $target for ${seconds}s"
  if ! cargo fuzz run --sanitizer none "$target" "$scratch/$target" -- \
    -max_total_time="$seconds" -seed=20261204 -print_final_stats=1 >"$scratch/$target.log" 2>&1; then
    tail -40 "$scratch/$target.log"
    echo "fuzz: $target failed (its input is in fuzz/artifacts/$target/)"
    exit 1
  fi
  grep -E "^stat::(number_of_executed_units|new_units_added)" "$scratch/$target.log" || true
done
echo "fuzz: ok"
