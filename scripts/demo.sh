#!/usr/bin/env bash
# The main job, on data the repository ships: convert the raw float32 file
# fixtures/demo/temperature.dat (4096 rows x 16 sensors, written like np.memmap or tofile:
# no header) into a self-describing arrfile, then show its header, verify its checksum, look
# at its values (show, stats, a picture) and check that the conversion kept every value (diff);
# then grow a copy in place by the same rows (format 1.1 append) and verify it.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet -p arrfile-cli
arrfile=target/release/arrfile
out="${1:-target/demo}"
mkdir -p "$out"

set -x
"$arrfile" convert fixtures/demo/temperature.dat --dtype f32 --shape -1,16 \
    --attr units=celsius --attr source=fixtures/demo -o "$out/temperature.arr" --force
"$arrfile" info "$out/temperature.arr"
"$arrfile" verify "$out/temperature.arr"
"$arrfile" show "$out/temperature.arr" --slice '0:3, 0:5'
"$arrfile" stats "$out/temperature.arr"
"$arrfile" diff "$out/temperature.arr" fixtures/demo/temperature.dat --dtype f32 --shape 4096,16
"$arrfile" preview "$out/temperature.arr" -o "$out/temperature.png"
"$arrfile" export "$out/temperature.arr" --raw -o "$out/temperature.dat" --force
cmp "$out/temperature.dat" fixtures/demo/temperature.dat
cp "$out/temperature.arr" "$out/grown.arr"
"$arrfile" append "$out/grown.arr" fixtures/demo/temperature.dat
"$arrfile" verify "$out/grown.arr"
"$arrfile" info "$out/grown.arr"
"$arrfile" show "$out/grown.arr" --slice '4095:4097, 0:5'
