#!/usr/bin/env bash
# Runs one fuzz target with cargo-fuzz on the stable toolchain (RUSTC_BOOTSTRAP=1 lets stable
# rustc take the -Z flags cargo-fuzz passes: sanitizer coverage and AddressSanitizer).
#
#   fuzz/run.sh TARGET [SECONDS] [extra libFuzzer flags...]
#
# New inputs go to fuzz/work/TARGET (ignored by git); the committed seeds in
# fuzz/corpus/TARGET are read, never written. Crashes land in fuzz/artifacts/TARGET.
# Needs `cargo install cargo-fuzz` (or use `cargo +nightly fuzz run` without RUSTC_BOOTSTRAP).
set -euo pipefail
cd "$(dirname "$0")"
target=${1:?usage: fuzz/run.sh TARGET [SECONDS] [libFuzzer flags...]}
seconds=${2:-600}
shift $(( $# >= 2 ? 2 : 1 ))
mkdir -p "work/$target" "corpus/$target"
RUSTC_BOOTSTRAP=1 exec cargo fuzz run "$target" "work/$target" "corpus/$target" -- \
    -max_total_time="$seconds" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 "$@"
