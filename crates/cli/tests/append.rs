//! `arrfile append`, `arrfile recover` and what `arrfile info` says of an append (format
//! 1.1), run as a user runs them: every kind of input gives the file `arrfile convert` makes
//! of the concatenation, byte for byte; every refusal is one line and leaves the base as it
//! was; a signal or a kill mid-copy never leaves a mix.

// Fixture sizes are tiny; the casts below cannot truncate.
#![allow(clippy::cast_possible_truncation)]

mod common;

use common::{repo, run, transcript};

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Little-endian `f32` bytes of `values`.
fn f32_le(values: impl IntoIterator<Item = u16>) -> Vec<u8> {
    values.into_iter().flat_map(|v| f32::from(v).to_le_bytes()).collect()
}

/// Big-endian `f32` bytes of `values`.
fn f32_be(values: impl IntoIterator<Item = u16>) -> Vec<u8> {
    values.into_iter().flat_map(|v| f32::from(v).to_be_bytes()).collect()
}

/// Runs the command and returns its stdout; it must succeed.
fn ok(dir: &Path, args: &[&str]) -> String {
    let output = run(dir, args);
    assert_eq!(output.status.code(), Some(0), "{args:?}: {}", transcript(&output));
    assert!(output.stderr.is_empty(), "{args:?}: {}", transcript(&output));
    String::from_utf8(output.stdout).unwrap()
}

fn read(dir: &Path, name: &str) -> Vec<u8> {
    std::fs::read(dir.join(name)).unwrap()
}

fn info(dir: &Path, name: &str) -> Value {
    serde_json::from_str(&ok(dir, &["info", "--json", name])).unwrap()
}

fn copy_fixture(dir: &Path, from: &str, to: &str) {
    std::fs::copy(repo().join("fixtures").join(from), dir.join(to)).unwrap();
}

/// A directory with `base.arr`: f32, shape [4, 3], C order, little endian, the values 0..12,
/// made by `convert` (with an attribute, so that the metadata block is compared too).
fn workdir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("base.dat"), f32_le(0..12)).unwrap();
    ok(
        dir.path(),
        &["convert", "base.dat", "--dtype", "f32", "--shape", "-1,3", "--attr", "units=K"],
    );
    dir
}

/// `arrfile convert` of `bytes` (raw, little-endian f32 rows of 3, with the attribute of
/// `workdir`'s base) as `name`.
fn converted_f32(dir: &Path, bytes: &[u8], name: &str) {
    std::fs::write(dir.join("concatenation.dat"), bytes).unwrap();
    ok(
        dir,
        &[
            "convert",
            "concatenation.dat",
            "--dtype",
            "f32",
            "--shape",
            "-1,3",
            "--attr",
            "units=K",
            "-o",
            name,
            "--force",
        ],
    );
}

/// The CRC-32 the last line of an append reports.
fn reported_crc(line: &str) -> u32 {
    let hex = line.trim_end().rsplit_once("CRC-32 0x").unwrap().1;
    u32::from_str_radix(hex, 16).unwrap()
}

#[test]
fn raw_inputs_inferred_given_shapes_offsets_and_byte_orders() {
    let dir = workdir();
    let d = dir.path();
    std::fs::write(d.join("b.dat"), f32_le(12..18)).unwrap();
    std::fs::write(d.join("c.dat"), f32_le(18..27)).unwrap();
    std::fs::write(d.join("d.dat"), f32_be(27..33)).unwrap();
    let mut e = b"SKIPPED!".to_vec();
    e.extend(f32_be(33..36));
    std::fs::write(d.join("e.dat"), e).unwrap();
    std::fs::write(d.join("f.dat"), f32_le(36..42)).unwrap();
    std::fs::write(d.join("g.dat"), f32_le(42..45)).unwrap();
    std::fs::write(d.join("empty.dat"), []).unwrap();

    // Rows inferred from the size and base.arr's row of 12 bytes.
    let out = ok(d, &["append", "base.arr", "b.dat"]);
    assert!(
        out.starts_with(
            "base.arr: appended 2 rows from 1 file(s): shape [4, 3] -> [6, 3], CRC-32 0x"
        ),
        "{out}"
    );
    assert_eq!(out.lines().count(), 1, "{out}");
    // --shape with -1 for the rows, then a full shape; big-endian input in both spellings.
    let out = ok(d, &["append", "base.arr", "c.dat", "--shape", "-1,3"]);
    assert!(out.starts_with("base.arr: appended 3 rows from 1 file(s): shape [6, 3] -> [9, 3]"));
    let out = ok(d, &["append", "base.arr", "d.dat", "--shape", "2,3", "--byte-order", "big"]);
    assert!(out.starts_with("base.arr: appended 2 rows from 1 file(s): shape [9, 3] -> [11, 3]"));
    let out = ok(d, &["append", "base.arr", "e.dat", "--dtype", ">f4", "--offset", "8"]);
    assert!(out.starts_with("base.arr: appended 1 rows from 1 file(s): shape [11, 3] -> [12, 3]"));
    // Several inputs at once, an empty one among them.
    let out = ok(d, &["append", "base.arr", "f.dat", "empty.dat", "g.dat"]);
    assert!(out.starts_with("base.arr: appended 3 rows from 3 file(s): shape [12, 3] -> [15, 3]"));

    converted_f32(d, &f32_le(0..45), "expected.arr");
    assert_eq!(read(d, "base.arr"), read(d, "expected.arr"), "append differs from convert");
    assert_eq!(u64::from(reported_crc(&out)), info(d, "expected.arr")["payload_crc"]);
    assert!(ok(d, &["verify", "base.arr"]).starts_with("ok: base.arr: payload CRC-32"));
}

#[test]
fn arrfile_inputs_in_either_byte_order_and_mid_append() {
    let dir = workdir();
    let d = dir.path();
    // A big-endian arrfile, a little-endian one with another alignment, and one mid-append
    // (whose 18 uncommitted bytes are not part of its array).
    std::fs::write(d.join("m.dat"), f32_be(100..106)).unwrap();
    let args = ["convert", "m.dat", "--dtype", ">f4", "--shape", "2,3", "--keep-byte-order"];
    ok(d, &args);
    std::fs::write(d.join("n.dat"), f32_le(106..109)).unwrap();
    ok(d, &["convert", "n.dat", "--dtype", "f32", "--shape", "1,3", "--alignment", "65536"]);
    copy_fixture(d, "valid/append_in_progress.arr", "mid.arr");
    let mid_before = read(d, "mid.arr");
    let mid_committed = mid_before[4096..4096 + 24].to_vec();

    let out = ok(d, &["append", "base.arr", "m.arr", "n.arr", "mid.arr"]);
    assert!(
        out.starts_with("base.arr: appended 5 rows from 3 file(s): shape [4, 3] -> [9, 3], CRC-32"),
        "{out}"
    );
    assert_eq!(read(d, "mid.arr"), mid_before, "an input is only read");
    let mut expected = f32_le(0..12);
    expected.extend(f32_le(100..109));
    expected.extend(&mid_committed);
    converted_f32(d, &expected, "expected.arr");
    assert_eq!(read(d, "base.arr"), read(d, "expected.arr"));

    // A big-endian base stays big endian: little-endian rows are swapped on the way in.
    std::fs::write(d.join("o.dat"), f32_le(200..203)).unwrap();
    ok(d, &["append", "m.arr", "o.dat", "n.arr"]);
    let mut expected = f32_be(100..106);
    expected.extend(f32_be(200..203));
    expected.extend(f32_be(106..109));
    std::fs::write(d.join("big.dat"), expected).unwrap();
    let args = ["convert", "big.dat", "--dtype", ">f4", "--shape", "-1,3", "--keep-byte-order"];
    ok(d, &[&args[..], &["-o", "big_expected.arr"]].concat());
    assert_eq!(read(d, "m.arr"), read(d, "big_expected.arr"));
    assert_eq!(info(d, "m.arr")["byte_order"], "big");
}

/// Every valid `.npy` fixture with at least one dimension (every dtype, C and F order, both
/// byte orders, ml_dtypes' untyped bfloat16 and fp8, zero-length and 64-d shapes) appended
/// twice to its own conversion gives what `convert` makes of the three copies' bytes.
#[test]
fn every_npy_fixture_appends_like_a_conversion_of_the_concatenation() {
    let manifest: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("fixtures/npy/manifest.json")).unwrap(),
    )
    .unwrap();
    let (mut appended, mut zero_d) = (0, 0);
    for entry in manifest["fixtures"].as_array().unwrap() {
        if entry["expect"] != "ok" {
            continue;
        }
        let name = entry["file"].as_str().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let original = std::fs::read(repo().join("fixtures/npy").join(name)).unwrap();
        std::fs::write(d.join("in.npy"), &original).unwrap();
        let mut convert = vec!["convert", "in.npy", "-o", "base.arr"];
        if let Some(dtype) = entry["dtype_override"].as_str() {
            convert.extend(["--dtype", dtype]);
        }
        ok(d, &convert);
        let shape: Vec<u64> =
            entry["shape"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
        if shape.is_empty() {
            let output = run(d, &["append", "base.arr", "in.npy"]);
            assert_eq!(output.status.code(), Some(1), "{name}: {}", transcript(&output));
            zero_d += 1;
            continue;
        }
        // The untyped ones are read as the base's dtype without being told.
        let out = ok(d, &["append", "base.arr", "in.npy", "in.npy"]);
        let outer = if entry["order"] == "F" { shape.len() - 1 } else { 0 };
        let mut grown = shape.clone();
        grown[outer] *= 3;
        let rows = shape[outer] * 2;
        let dims = |s: &[u64]| s.iter().map(u64::to_string).collect::<Vec<_>>().join(", ");
        assert!(
            out.starts_with(&format!(
                "base.arr: appended {rows} rows from 2 file(s): shape [{}] -> [{}], CRC-32 0x",
                dims(&shape),
                dims(&grown)
            )),
            "{name}: {out}"
        );
        let data = &original[entry["data_offset"].as_u64().unwrap() as usize..];
        std::fs::write(d.join("cat.dat"), data.repeat(3)).unwrap();
        let shape_flag = grown.iter().map(u64::to_string).collect::<Vec<_>>().join(",");
        let byte_order = if entry["byte_order"] == "big" { "big" } else { "little" };
        let dtype = entry["dtype"].as_str().unwrap();
        let order = entry["order"].as_str().unwrap();
        ok(
            d,
            &[
                "convert",
                "cat.dat",
                "--dtype",
                dtype,
                "--byte-order",
                byte_order,
                "--shape",
                &shape_flag,
                "--order",
                order,
                "-o",
                "expected.arr",
            ],
        );
        assert_eq!(read(d, "base.arr"), read(d, "expected.arr"), "{name}");
        assert_eq!(info(d, "base.arr")["checksum_state"], "valid", "{name}");
        assert!(ok(d, &["verify", "base.arr"]).starts_with("ok: "), "{name}");
        appended += 1;
    }
    assert!(appended >= 50 && zero_d >= 3, "appended {appended}, 0-d {zero_d}");
}

#[test]
fn order_matters_only_where_the_bytes_differ() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // An F-order base [3, 4] grows its last axis, by rows of shape [3].
    copy_fixture(d, "valid/f_order_f32.arr", "f.arr");
    copy_fixture(d, "npy/fortran_1d.npy", "f4.npy");
    let before = read(d, "f.arr");
    // A C-order [3, 1] array is the same bytes in F order: taken.
    std::fs::write(d.join("c31.dat"), f32_le(0..3)).unwrap();
    ok(d, &["convert", "c31.dat", "--dtype", "f32", "--shape", "3,1", "-o", "c31.arr"]);
    let out = ok(d, &["append", "f.arr", "c31.arr"]);
    assert!(out.starts_with("f.arr: appended 1 rows from 1 file(s): shape [3, 4] -> [3, 5]"));
    let mut expected = before[4096..].to_vec();
    expected.extend(f32_le(0..3));
    assert_eq!(&read(d, "f.arr")[4096..], &expected[..]);
    assert!(ok(d, &["verify", "f.arr"]).starts_with("ok: "));

    // 1-d arrays are the same in both orders: an F-order i16 [4] onto a C-order one.
    let i16: Vec<u8> = (0i16..4).flat_map(i16::to_le_bytes).collect();
    std::fs::write(d.join("i16.dat"), i16).unwrap();
    ok(d, &["convert", "i16.dat", "--dtype", "i16", "--shape", "4"]);
    assert_eq!(info(d, "i16.arr")["order"], "C");
    let out = ok(d, &["append", "i16.arr", "f4.npy"]);
    assert!(out.starts_with("i16.arr: appended 4 rows from 1 file(s): shape [4] -> [8]"), "{out}");
}

#[test]
fn absent_and_being_modified_checksums_stay_so() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    copy_fixture(d, "valid/checksum_absent.arr", "absent.arr");
    copy_fixture(d, "valid/checksum_being_modified.arr", "modified.arr");
    copy_fixture(d, "valid/dtype_u8.arr", "valid.arr");
    std::fs::write(d.join("more.dat"), [7u8, 8, 9]).unwrap();
    let mut expected = read(d, "absent.arr")[4096..].to_vec();
    expected.extend([7, 8, 9]);
    let out = ok(d, &["append", "absent.arr", "more.dat"]);
    assert_eq!(
        out,
        "absent.arr: appended 3 rows from 1 file(s): shape [4] -> [7], checksum absent, as before\n"
    );
    assert_eq!(info(d, "absent.arr")["checksum_state"], "absent");
    assert_eq!(&read(d, "absent.arr")[4096..], &expected[..]);
    let out = ok(d, &["append", "modified.arr", "more.dat"]);
    assert_eq!(
        out,
        "modified.arr: appended 3 rows from 1 file(s): shape [4] -> [7], checksum being modified, as before\n"
    );
    assert_eq!(info(d, "modified.arr")["checksum_state"], "being_modified");
    // And a valid one gets the CRC of the whole payload, the old rows not read again.
    let out = ok(d, &["append", "valid.arr", "more.dat"]);
    assert_eq!(u64::from(reported_crc(&out)), info(d, "valid.arr")["payload_crc"]);
    assert!(ok(d, &["verify", "valid.arr"]).starts_with("ok: "));
}

/// Runs a refused append: the exit code, the one line on stderr, nothing on stdout, and the
/// base byte for byte as it was.
fn refused(dir: &Path, args: &[&str], code: i32, line: &str) {
    let base = args[1];
    let before = read(dir, base);
    let output = run(dir, args);
    assert_eq!(output.status.code(), Some(code), "{args:?}: {}", transcript(&output));
    assert_eq!(String::from_utf8_lossy(&output.stderr), format!("{line}\n"), "{args:?}");
    assert!(output.stdout.is_empty(), "{args:?}: {}", transcript(&output));
    assert_eq!(read(dir, base), before, "{args:?}: the base changed");
}

#[test]
fn refused_dtype_differs() {
    let dir = workdir();
    copy_fixture(dir.path(), "npy/f64_c_le.npy", "f64.npy");
    std::fs::write(dir.path().join("ok.dat"), f32_le(0..3)).unwrap();
    refused(
        dir.path(),
        &["append", "base.arr", "ok.dat", "f64.npy"],
        1,
        "error: f64.npy: expected f32 values (base.arr's dtype), found f64; an append does not convert values",
    );
    refused(
        dir.path(),
        &["append", "base.arr", "ok.dat", "--dtype", "i32"],
        2,
        "error: --dtype i32: expected f32 (base.arr's dtype), found i32; an append does not convert values",
    );
}

#[test]
fn refused_trailing_shape_differs() {
    let dir = workdir();
    copy_fixture(dir.path(), "valid/f_order_f32.arr", "f34.arr"); // F [3, 4]: rows of [3]
    copy_fixture(dir.path(), "npy/f32_c_le.npy", "c23.npy"); // C [2, 3]
    std::fs::write(dir.path().join("wide.dat"), f32_le(0..12)).unwrap();
    refused(
        dir.path(),
        &["append", "base.arr", "c23.npy", "wide.dat", "--shape", "-1,4"],
        1,
        "error: wide.dat: expected rows of shape [3] f32 (base.arr's trailing shape), found [4] (an array of shape [3, 4])",
    );
    // In F order the rows' axis is the last: [2, 3] has rows of [2].
    refused(
        dir.path(),
        &["append", "f34.arr", "c23.npy"],
        1,
        "error: c23.npy: expected rows of shape [3] f32 (f34.arr's trailing shape), found [2] (an array of shape [2, 3])",
    );
}

#[test]
fn refused_ndim_differs() {
    let dir = workdir();
    copy_fixture(dir.path(), "npy/u32_wide.npy", "wide.npy");
    copy_fixture(dir.path(), "valid/f_order_f32.arr", "f34.arr");
    std::fs::write(dir.path().join("v.dat"), f32_le(0..3)).unwrap();
    ok(dir.path(), &["convert", "v.dat", "--dtype", "f32", "--shape", "3", "-o", "v.arr"]);
    refused(
        dir.path(),
        &["append", "base.arr", "v.arr"],
        1,
        "error: v.arr: expected a 2-d array of shape [n, 3] (rows of base.arr's trailing shape [3]), found a 1-d array of shape [3]",
    );
    refused(
        dir.path(),
        &["append", "f34.arr", "v.arr"],
        1,
        "error: v.arr: expected a 2-d array of shape [3, n] (rows of f34.arr's trailing shape [3]), found a 1-d array of shape [3]",
    );
    refused(
        dir.path(),
        &["append", "base.arr", "v.dat", "--shape", "1,1,3"],
        2,
        "error: --shape 1,1,3: expected 2 dimensions, as base.arr has (shape [n, 3]), found 3",
    );
}

#[test]
fn refused_order_differs() {
    let dir = workdir();
    copy_fixture(dir.path(), "npy/f32_f_le.npy", "f23.npy");
    // F [2, 3] has C-order base.arr's rows of [3], laid out otherwise.
    refused(
        dir.path(),
        &["append", "base.arr", "f23.npy"],
        1,
        "error: f23.npy: expected C order (base.arr's order, which grows its first axis), found F order, whose bytes for shape [2, 3] are laid out otherwise; save it in C order first",
    );
    copy_fixture(dir.path(), "valid/f_order_f32.arr", "f34.arr");
    copy_fixture(dir.path(), "npy/f32_c_le.npy", "c23.npy");
    std::fs::write(dir.path().join("c32.dat"), f32_le(0..6)).unwrap();
    ok(dir.path(), &["convert", "c32.dat", "--dtype", "f32", "--shape", "3,2", "-o", "c32.arr"]);
    refused(
        dir.path(),
        &["append", "f34.arr", "c32.arr"],
        1,
        "error: c32.arr: expected F order (f34.arr's order, which grows its last axis), found C order, whose bytes for shape [3, 2] are laid out otherwise; save it in F order first",
    );
}

#[test]
fn refused_raw_size_not_a_multiple_of_the_row() {
    let dir = workdir();
    std::fs::write(dir.path().join("odd.dat"), [0u8; 50]).unwrap();
    refused(
        dir.path(),
        &["append", "base.arr", "odd.dat"],
        1,
        "error: odd.dat: expected a multiple of 12 bytes (rows of shape [3] f32, base.arr's trailing shape), found 50 bytes: 4 whole rows and 2 bytes of the next",
    );
    refused(
        dir.path(),
        &["append", "base.arr", "odd.dat", "--shape", "4,3"],
        1,
        "error: odd.dat: expected 48 bytes for shape [4, 3] of f32 (4 bytes each), found 50 bytes, which hold 12 elements and 2 stray bytes",
    );
}

#[test]
fn refused_past_the_size_bound() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Rows of 0 bytes, but the bound counts the non-zero dimensions: at most 2 rows of
    // [0, 2^61] u8.
    let huge = "2305843009213693952";
    ok(d, &["create", "base.arr", "--dtype", "u8", "--shape", &format!("0,0,{huge}")]);
    std::fs::write(d.join("empty.dat"), []).unwrap();
    let shape = format!("2,0,{huge}");
    refused(
        d,
        &["append", "base.arr", "empty.dat", "empty.dat", "--shape", &shape],
        1,
        &format!(
            "error: base.arr: expected a grown array within the format's size bound of 2^62 bytes, found shape [4, 0, {huge}] of u8; nothing was appended"
        ),
    );
    let out = ok(d, &["append", "base.arr", "empty.dat", "--shape", &shape]);
    assert_eq!(
        out,
        format!(
            "base.arr: appended 2 rows from 1 file(s): shape [0, 0, {huge}] -> [2, 0, {huge}], CRC-32 0x00000000\n"
        )
    );
}

#[test]
fn refused_missing_input_leaves_the_base_untouched() {
    let dir = workdir();
    std::fs::write(dir.path().join("fine.dat"), f32_le(0..3)).unwrap();
    refused(
        dir.path(),
        &["append", "base.arr", "fine.dat", "nothere.dat"],
        2,
        "error: nothere.dat: opening the input: No such file or directory (os error 2)",
    );
    let output = run(dir.path(), &["append", "nothere.arr", "fine.dat"]);
    assert_eq!(output.status.code(), Some(2), "{}", transcript(&output));
    assert_eq!(String::from_utf8_lossy(&output.stderr), "error: nothere.arr: no such file\n");
    assert!(!dir.path().join("nothere.arr").exists());
}

#[test]
fn refused_directory_or_pipe_input() {
    let dir = workdir();
    let d = dir.path();
    std::fs::create_dir(d.join("adir")).unwrap();
    refused(
        d,
        &["append", "base.arr", "adir"],
        1,
        "error: adir: expected a raw, .npy or arrfile input, found a directory",
    );
    // A FIFO's length is unknown; opening it would wait for a writer.
    assert!(Command::new("mkfifo").arg(d.join("fifo")).status().unwrap().success());
    let before = read(d, "base.arr");
    let child = Command::new(env!("CARGO_BIN_EXE_arrfile"))
        .args(["append", "base.arr", "fifo"])
        .current_dir(d)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let output = wait_at_most(child, Duration::from_secs(10));
    assert_eq!(output.status.code(), Some(1), "{}", transcript(&output));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "error: fifo: expected a regular file, found a pipe, socket or device: every input's length is checked before anything is written\n"
    );
    assert_eq!(read(d, "base.arr"), before);
}

#[test]
fn refused_input_is_the_base() {
    let dir = workdir();
    std::os::unix::fs::symlink("base.arr", dir.path().join("link.arr")).unwrap();
    std::fs::hard_link(dir.path().join("base.arr"), dir.path().join("hard.arr")).unwrap();
    for input in ["base.arr", "./base.arr", "link.arr", "hard.arr"] {
        refused(
            dir.path(),
            &["append", "base.arr", input],
            2,
            &format!(
                "error: {input}: is base.arr itself; an array cannot be appended to itself (append a copy)"
            ),
        );
    }
}

#[test]
fn refused_zero_d_base() {
    let dir = workdir();
    copy_fixture(dir.path(), "valid/zero_d_f64.arr", "scalar.arr");
    std::fs::write(dir.path().join("one.dat"), 1.0f64.to_le_bytes()).unwrap();
    refused(
        dir.path(),
        &["append", "scalar.arr", "one.dat"],
        1,
        "error: scalar.arr: expected an array with an axis to append along, found a 0-d array (shape [])",
    );
}

#[test]
fn refused_corrupt_arrfile_input_after_its_rows_were_written() {
    let dir = workdir();
    copy_fixture(dir.path(), "npy/f32_c_le.npy", "c23.npy");
    ok(dir.path(), &["convert", "c23.npy", "-o", "corrupt.arr"]);
    let mut bytes = read(dir.path(), "corrupt.arr");
    bytes[4096] ^= 1;
    std::fs::write(dir.path().join("corrupt.arr"), bytes).unwrap();
    // The first input's rows are in the file when the second is found corrupt: rolled back.
    refused(
        dir.path(),
        &["append", "base.arr", "c23.npy", "corrupt.arr"],
        1,
        "error: corrupt.arr: payload checksum mismatch: expected CRC-32 0xfd0a80de, found 0x7c2fe5f9; the data is corrupt, nothing was appended",
    );
}

/// A write that fails mid-copy (a file-size limit: EFBIG) is rolled back.
#[test]
fn a_failed_write_is_rolled_back() {
    let dir = workdir();
    std::fs::File::create(dir.path().join("big.dat")).unwrap().set_len(12 << 20).unwrap();
    let before = read(dir.path(), "base.arr");
    let output = Command::new("sh")
        .arg("-c")
        .arg(r#"trap '' XFSZ; ulimit -f 4096; "$ARRFILE" append base.arr big.dat"#)
        .env("ARRFILE", env!("CARGO_BIN_EXE_arrfile"))
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", transcript(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.starts_with("error: base.arr: "), "{stderr}");
    assert!(stderr.contains("File too large"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert_eq!(read(dir.path(), "base.arr"), before);
}

#[test]
fn a_base_held_by_another_appender_is_locked_and_wait_waits() {
    let dir = workdir();
    let d = dir.path();
    std::fs::write(d.join("more.dat"), f32_le(20..26)).unwrap();
    // This process appends rows (more than the appender buffers) and has not committed them.
    const ROWS: usize = 87_382;
    let mut held = arrfile_mmap::append(d.join("base.arr")).unwrap();
    held.write(&vec![1f32; 3 * ROWS]).unwrap();
    let before = read(d, "base.arr");
    let locked = "error: base.arr: locked by another process: it holds the append lock (an append or a recovery is running on this file), this open needs the append lock";
    refused(d, &["append", "base.arr", "more.dat"], 2, locked);
    assert!(
        ok(d, &["info", "base.arr"])
            .contains("\nappend       running (another process holds the append lock)\n")
    );
    let json = info(d, "base.arr");
    assert_eq!(
        (&json["append_in_progress"], &json["append_running"], &json["uncommitted_bytes"]),
        (&Value::Bool(true), &Value::Bool(true), &Value::from(12 * ROWS))
    );
    let output = run(d, &["recover", "base.arr"]);
    assert_eq!(output.status.code(), Some(2), "{}", transcript(&output));
    assert_eq!(String::from_utf8_lossy(&output.stderr), format!("{locked}\n"));
    assert_eq!(read(d, "base.arr"), before);

    // --wait: blocks until this appender commits, then appends after its row.
    let waiting = Command::new(env!("CARGO_BIN_EXE_arrfile"))
        .args(["append", "base.arr", "more.dat", "--wait"])
        .current_dir(d)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(400));
    let mut waiting = waiting;
    assert!(waiting.try_wait().unwrap().is_none(), "--wait did not wait");
    assert_eq!(read(d, "base.arr"), before);
    held.commit().unwrap();
    let output = waiting.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", transcript(&output));
    assert!(
        String::from_utf8_lossy(&output.stdout).starts_with(
            "base.arr: appended 2 rows from 1 file(s): shape [87386, 3] -> [87388, 3]"
        ),
        "{}",
        transcript(&output)
    );
    let mut expected = f32_le(0..12);
    expected.extend(1f32.to_le_bytes().repeat(3 * ROWS));
    expected.extend(f32_le(20..26));
    converted_f32(d, &expected, "expected.arr");
    assert_eq!(read(d, "base.arr"), read(d, "expected.arr"));
}

#[test]
fn a_signal_while_waiting_for_the_lock_ends_the_wait() {
    let dir = workdir();
    let d = dir.path();
    std::fs::write(d.join("more.dat"), f32_le(20..23)).unwrap();
    let held = arrfile_mmap::append(d.join("base.arr")).unwrap();
    let before = read(d, "base.arr");
    let child = Command::new(env!("CARGO_BIN_EXE_arrfile"))
        .args(["append", "base.arr", "more.dat", "--wait"])
        .current_dir(d)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Waiting: the main thread, the signal handler's and the one blocked on the lock.
    let deadline = Instant::now() + Duration::from_secs(20);
    let task = format!("/proc/{}/task", child.id());
    while std::fs::read_dir(&task).unwrap().count() < 3 {
        assert!(Instant::now() < deadline, "the command never waited for the lock");
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(50));
    signal(&child, "INT");
    let output = wait_at_most(child, Duration::from_secs(10));
    assert_eq!(output.status.code(), Some(130), "{}", transcript(&output));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "error: interrupted; base.arr is unchanged: nothing was appended\n"
    );
    assert_eq!(read(d, "base.arr"), before);
    drop(held);
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill").args([&format!("-{name}"), &child.id().to_string()]).status();
    assert!(status.unwrap().success());
}

/// Waits for `child`, killing it after `limit` (then the test fails on its exit status).
fn wait_at_most(mut child: Child, limit: Duration) -> Output {
    let deadline = Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() >= deadline {
            child.kill().unwrap();
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().unwrap()
}

/// A directory with `base.arr` (u8 rows of 1 KiB) and a 256 MiB sparse raw input; starts
/// `arrfile append base.arr big.dat` and returns once the base has grown past its committed
/// end (rows are being copied), with the base's bytes before the append.
fn appending_big_input() -> (tempfile::TempDir, Child, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["create", "base.arr", "--dtype", "u8", "--shape", "16,1024"]);
    std::fs::File::create(d.join("big.dat")).unwrap().set_len(256 << 20).unwrap();
    let before = read(d, "base.arr");
    let child = Command::new(env!("CARGO_BIN_EXE_arrfile"))
        .args(["append", "base.arr", "big.dat"])
        .current_dir(d)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::fs::metadata(d.join("base.arr")).unwrap().len() <= before.len() as u64 {
        assert!(Instant::now() < deadline, "the append never started copying");
        std::thread::sleep(Duration::from_millis(1));
    }
    (dir, child, before)
}

#[test]
fn ctrl_c_or_sigterm_mid_copy_leaves_the_base_as_it_was() {
    for name in ["INT", "TERM"] {
        let (dir, child, before) = appending_big_input();
        signal(&child, name);
        let output = wait_at_most(child, Duration::from_secs(20));
        assert_eq!(output.status.code(), Some(130), "SIG{name}: {}", transcript(&output));
        assert_eq!(
            String::from_utf8_lossy(&output.stderr),
            "error: interrupted; base.arr is unchanged: nothing was appended\n",
            "SIG{name}"
        );
        // Byte-identical: no uncommitted tail, no flag.
        assert_eq!(read(dir.path(), "base.arr"), before, "SIG{name}");
        assert_eq!(info(dir.path(), "base.arr")["append_in_progress"], false);
    }
}

#[test]
fn a_killed_append_is_shown_by_info_and_rolled_back_by_recover_or_the_next_append() {
    let (dir, mut child, before) = appending_big_input();
    let d = dir.path();
    let info_before = {
        std::fs::write(d.join("copy.arr"), &before).unwrap();
        ok(d, &["info", "copy.arr"]).replace("copy.arr", "base.arr")
    };
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let tail = std::fs::metadata(d.join("base.arr")).unwrap().len() - before.len() as u64;
    assert!(tail > 0);
    let shown = ok(d, &["info", "base.arr"]);
    assert_eq!(
        shown,
        info_before.replace(
            "attributes",
            &format!("append       interrupted: {tail} uncommitted bytes after the committed array; run `arrfile recover base.arr`\nattributes")
        )
    );
    let json = info(d, "base.arr");
    assert_eq!(
        (&json["append_in_progress"], &json["append_running"], &json["uncommitted_bytes"]),
        (&Value::Bool(true), &Value::Bool(false), &Value::from(tail))
    );
    // Readers see the committed array meanwhile.
    assert!(ok(d, &["verify", "base.arr"]).starts_with("ok: base.arr"));

    assert_eq!(
        ok(d, &["recover", "base.arr"]),
        format!(
            "base.arr: rolled back an interrupted append: cut {tail} uncommitted bytes; base.arr is its committed array again\n"
        )
    );
    assert_eq!(read(d, "base.arr"), before);
    assert_eq!(ok(d, &["info", "base.arr"]), info_before);
    assert_eq!(ok(d, &["recover", "base.arr"]), "base.arr: nothing to recover\n");

    // Killed again, then appended to: the append rolls the dead one back first, and says so.
    let (dir, mut child, before) = appending_big_input();
    let d = dir.path();
    child.kill().unwrap();
    child.wait().unwrap();
    let tail = std::fs::metadata(d.join("base.arr")).unwrap().len() - before.len() as u64;
    std::fs::write(d.join("row.dat"), [5u8; 1024]).unwrap();
    assert_eq!(
        ok(d, &["append", "base.arr", "row.dat"]).lines().next().unwrap(),
        format!("base.arr: rolled back an interrupted append first: cut {tail} uncommitted bytes")
    );
    let mut expected = before[4096..].to_vec();
    expected.extend([5u8; 1024]);
    assert_eq!(&read(d, "base.arr")[4096..], &expected[..]);
    assert!(ok(d, &["verify", "base.arr"]).starts_with("ok: base.arr"));
}

#[test]
fn recover_leaves_normal_files_untouched() {
    let dir = workdir();
    let d = dir.path();
    copy_fixture(d, "valid/append_in_progress.arr", "mid.arr");
    copy_fixture(d, "valid/append_recovered.arr", "recovered.arr");
    std::fs::write(d.join("not.arr"), b"not an arrfile at all").unwrap();
    let before = read(d, "base.arr");
    assert_eq!(ok(d, &["recover", "base.arr"]), "base.arr: nothing to recover\n");
    assert_eq!(read(d, "base.arr"), before);

    // Several files: each gets its line; a bad one its error, and the worst exit code.
    let output = run(d, &["recover", "base.arr", "not.arr", "mid.arr", "nothere.arr"]);
    assert_eq!(output.status.code(), Some(2), "{}", transcript(&output));
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "base.arr: nothing to recover\nmid.arr: rolled back an interrupted append: cut 18 uncommitted bytes; mid.arr is its committed array again\n"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{stderr}");
    assert!(lines[0].starts_with("error: not.arr: "), "{stderr}");
    assert_eq!(lines[1], "error: nothere.arr: no such file");
    assert_eq!(read(d, "mid.arr"), read(d, "recovered.arr"));
    assert_eq!(read(d, "base.arr"), before);
    assert_eq!(read(d, "not.arr"), b"not an arrfile at all");
}

#[test]
fn info_of_a_normal_file_has_no_append_line() {
    let dir = workdir();
    let table = ok(dir.path(), &["info", "base.arr"]);
    assert!(!table.contains("append"), "{table}");
    let json = info(dir.path(), "base.arr");
    assert_eq!(
        (&json["append_in_progress"], &json["append_running"], &json["uncommitted_bytes"]),
        (&Value::Bool(false), &Value::Bool(false), &Value::from(0))
    );
}

#[test]
fn help_texts() {
    let dir = tempfile::tempdir().unwrap();
    for command in ["append", "recover"] {
        let output = run(dir.path(), &[command, "--help"]);
        assert_eq!(output.status.code(), Some(0));
        insta::assert_snapshot!(format!("help_{command}"), transcript(&output));
    }
    let help = String::from_utf8(run(dir.path(), &["--help"]).stdout).unwrap();
    assert!(help.contains("\n  append "), "{help}");
    assert!(help.contains("\n  recover "), "{help}");
}
