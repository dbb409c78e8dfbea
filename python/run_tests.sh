#!/usr/bin/env bash
# Install the Python side of arrfile into <repo>/.venv and run its test suite.
#
#   bash python/run_tests.sh              # the whole suite (the `cli` tests need the Rust binary)
#   bash python/run_tests.sh -m 'not cli' # leave out the cross-implementation tests
#
# The cross-implementation tests look for the Rust CLI at $ARRFILE_BIN, default
# <repo>/target/debug/arrfile (build it with `cargo build -p arrfile-cli`); without
# it they fail. Extra arguments go to pytest. Exits non-zero when anything fails.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
venv="$repo/.venv"
python="${PYTHON:-python3}"

if ! "$venv/bin/python" -c 'import sys' >/dev/null 2>&1; then
    echo "==> creating $venv"
    rm -rf "$venv"
    "$python" -m venv "$venv"
fi

echo "==> installing numpy, dask[distributed], pytest, hypothesis, ml_dtypes, zlib-ng, isal, h5py, zarr, xarray, fsspec, aiohttp and ./python"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
# Every optional extra is installed, so that no test has a reason to skip: the fast CRC
# backends (isal is the one chosen, zlib-ng and zlib are compared against it), h5py and
# zarr for save() of array-likes, xarray for the backend, fsspec + aiohttp for HTTP reads.
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    numpy "dask[distributed]" pytest hypothesis ml_dtypes zlib-ng isal h5py zarr xarray \
    fsspec aiohttp "setuptools>=70.1" wheel
# No build isolation: the build backend (setuptools) is already in the venv.
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-build-isolation -e "$here"

export ARRFILE_BIN="${ARRFILE_BIN:-$repo/target/debug/arrfile}"
echo "==> pytest python/tests (ARRFILE_BIN=$ARRFILE_BIN)"
cd "$repo"
exec "$venv/bin/python" -m pytest python/tests -q "$@"
