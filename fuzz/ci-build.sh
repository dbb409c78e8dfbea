#!/usr/bin/env bash
# CI smoke for the fuzz targets, on the stable toolchain and without cargo-fuzz:
#  1. builds every target in fuzz/ as a plain release binary (libfuzzer-sys compiles
#     libFuzzer with the system C++ compiler; no sanitizer, no coverage instrumentation);
#  2. runs each target once over its committed seeds (fuzz/corpus/TARGET) and then for a
#     few thousand random mutations, so that a target that no longer builds, or a seed that
#     now crashes, fails CI.
# Real fuzzing (coverage-guided, with AddressSanitizer) is fuzz/run.sh; see fuzz/README.md.
#
#   bash fuzz/ci-build.sh            # build and smoke-run (1.5 minutes cold on 2 cores)
#   bash fuzz/ci-build.sh --build    # build only
set -euo pipefail
cd "$(dirname "$0")"
cargo build --release --bins --target-dir target
[[ "${1:-}" == "--build" ]] && exit 0
for target in parse_header npy_header open_verify roundtrip; do
    mkdir -p "corpus/$target"
    scratch=$(mktemp -d)
    # -runs=N: after the seeds, N mutated inputs; a crash exits non-zero.
    ./target/release/"$target" -runs=3000 -seed=1 -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="$scratch/" "$scratch" "corpus/$target" 2>"$scratch/log" || {
        tail -n 40 "$scratch/log" >&2
        echo "fuzz smoke: $target failed" >&2
        exit 1
    }
    echo "fuzz smoke: $target: $(grep -Eo '#[0-9]+[[:space:]]+DONE' "$scratch/log" || echo 'done')"
    rm -rf "$scratch"
done
