//! The `arrfile` binary, run as a user runs it: exit codes, stdout and stderr snapshotted
//! with insta; round trips of every .npy fixture and of raw files; nothing left behind on
//! failure.

// Fixture sizes are tiny; the casts below cannot truncate.
#![allow(clippy::cast_possible_truncation)]

mod common;

use common::{repo, run, transcript};

use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// A temp dir holding the demo raw file and a few fixtures, under short names.
fn workdir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let copy =
        |from: &str, to: &str| std::fs::copy(repo().join(from), dir.path().join(to)).unwrap();
    copy("fixtures/demo/temperature.dat", "temperature.dat");
    copy("fixtures/valid/metadata.arr", "metadata.arr");
    copy("fixtures/valid/big_endian_f64.arr", "big.arr");
    copy("fixtures/valid/checksum_being_modified.arr", "modified.arr");
    copy("fixtures/corrupt/payload_crc_mismatch.arr", "corrupt.arr");
    copy("fixtures/invalid/header_crc_mismatch.arr", "bad_header.arr");
    copy("fixtures/invalid/trailing_bytes.arr", "trailing.arr");
    copy("fixtures/npy/f32_c_le.npy", "f32.npy");
    copy("fixtures/npy/object.npy", "object.npy");
    dir
}

#[test]
fn help_texts() {
    let dir = tempfile::tempdir().unwrap();
    for command in ["", "convert", "create", "info", "verify", "export", "clean"] {
        let mut args: Vec<&str> = command.split_whitespace().collect();
        args.push("--help");
        let output = run(dir.path(), &args);
        assert_eq!(output.status.code(), Some(0));
        let name = if command.is_empty() { "help".to_owned() } else { format!("help_{command}") };
        insta::assert_snapshot!(name, transcript(&output));
    }
}

#[test]
fn info_human_and_json() {
    let dir = workdir();
    insta::assert_snapshot!(
        "info_metadata",
        transcript(&run(dir.path(), &["info", "metadata.arr"]))
    );
    insta::assert_snapshot!("info_big_endian", transcript(&run(dir.path(), &["info", "big.arr"])));
    let json = run(dir.path(), &["info", "--json", "metadata.arr"]);
    insta::assert_snapshot!("info_json", transcript(&json));
    let value: Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(value["dtype"], "f32");
    assert_eq!(value["shape"], serde_json::json!([4]));
    assert_eq!(value["order"], "C");
    assert_eq!(value["byte_order"], "little");
}

#[test]
fn demo_convert_info_verify() {
    let dir = workdir();
    let convert = run(
        dir.path(),
        &[
            "convert",
            "temperature.dat",
            "--dtype",
            "f32",
            "--shape",
            "-1,16",
            "--attr",
            "units=celsius",
        ],
    );
    insta::assert_snapshot!("convert_demo", transcript(&convert));
    insta::assert_snapshot!(
        "verify_demo",
        transcript(&run(dir.path(), &["verify", "temperature.arr"]))
    );
    // raw -> arr -> raw gives identical bytes.
    let export = run(dir.path(), &["export", "temperature.arr", "--raw", "-o", "back.dat"]);
    assert_eq!(export.status.code(), Some(0), "{}", transcript(&export));
    assert_eq!(
        std::fs::read(dir.path().join("back.dat")).unwrap(),
        std::fs::read(dir.path().join("temperature.dat")).unwrap()
    );
}

/// Each error scenario: the arguments, and the snapshot of what the user sees.
#[test]
fn every_error_message() {
    let dir = workdir();
    std::fs::write(dir.path().join("short.dat"), [0u8; 10]).unwrap();
    std::fs::write(dir.path().join("bad_attrs.json"), "[1, 2]").unwrap();
    std::fs::create_dir(dir.path().join("adir")).unwrap();
    let cases: &[(&str, &[&str])] = &[
        ("no_command", &[]),
        ("unknown_flag", &["info", "--frobnicate", "x.arr"]),
        ("missing_file", &["info", "nothere.arr"]),
        ("directory", &["info", "adir"]),
        ("not_an_arrfile", &["info", "temperature.dat"]),
        ("bad_header_crc", &["info", "bad_header.arr"]),
        ("trailing_bytes", &["info", "trailing.arr"]),
        ("raw_without_dtype", &["convert", "temperature.dat"]),
        ("unknown_dtype", &["convert", "temperature.dat", "--dtype", "float33", "--shape", "4"]),
        ("bad_shape", &["convert", "temperature.dat", "--dtype", "f32", "--shape", "4,x"]),
        ("two_minus_ones", &["convert", "temperature.dat", "--dtype", "f32", "--shape", "-1,-1"]),
        ("size_mismatch", &["convert", "temperature.dat", "--dtype", "f32", "--shape", "1000,16"]),
        ("size_not_divisible", &["convert", "short.dat", "--dtype", "f32", "--shape", "-1"]),
        (
            "offset_past_end",
            &["convert", "short.dat", "--dtype", "u8", "--shape", "-1", "--offset", "11"],
        ),
        (
            "byte_order_conflict",
            &[
                "convert",
                "temperature.dat",
                "--dtype",
                "<f4",
                "--byte-order",
                "big",
                "--shape",
                "-1",
            ],
        ),
        ("shape_for_npy", &["convert", "f32.npy", "--shape", "3,4"]),
        ("object_npy", &["convert", "object.npy"]),
        ("output_exists", &["convert", "f32.npy", "-o", "metadata.arr"]),
        (
            "output_is_input",
            &[
                "convert",
                "short.dat",
                "--dtype",
                "u8",
                "--shape",
                "10",
                "-o",
                "short.dat",
                "--force",
            ],
        ),
        ("bad_attr", &["convert", "f32.npy", "--attr", "novalue"]),
        ("bad_attrs_json", &["convert", "f32.npy", "--attrs-json", "bad_attrs.json"]),
        ("reserved_attr", &["convert", "f32.npy", "--attr", "arrfile.x=1"]),
        ("bad_alignment", &["convert", "f32.npy", "--alignment", "5000"]),
        ("create_minus_one", &["create", "new.arr", "--dtype", "f32", "--shape", "-1,3"]),
        (
            "create_too_big",
            &["create", "new.arr", "--dtype", "f64", "--shape", "4611686018427387904,2"],
        ),
        ("verify_corrupt", &["verify", "corrupt.arr"]),
        ("verify_being_modified", &["verify", "modified.arr"]),
        (
            "verify_mixed",
            &["verify", "metadata.arr", "corrupt.arr", "bad_header.arr", "nothere.arr"],
        ),
        ("export_corrupt", &["export", "corrupt.arr", "-o", "corrupt.npy"]),
    ];
    let before = files_in(dir.path());
    for (name, args) in cases {
        let output = run(dir.path(), args);
        let code = output.status.code();
        assert!(matches!(code, Some(1 | 2)), "{name}: {}", transcript(&output));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!stderr.contains("panicked"), "{name}: {stderr}");
        insta::assert_snapshot!(format!("error_{name}"), transcript(&output));
    }
    assert_eq!(files_in(dir.path()), before, "failed commands leave nothing behind");
}

fn swap(bytes: &[u8], unit: usize) -> Vec<u8> {
    let mut out = bytes.to_vec();
    out.chunks_mut(unit).for_each(<[u8]>::reverse);
    out
}

/// Every .npy fixture: valid ones round-trip npy -> arr -> npy with identical values and
/// shape (and identical files where numpy wrote a little-endian default header); invalid
/// ones are refused with exit 1 and leave nothing behind.
#[test]
fn every_npy_fixture_round_trips_or_is_refused() {
    let manifest: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("fixtures/npy/manifest.json")).unwrap(),
    )
    .unwrap();
    let entries = manifest["fixtures"].as_array().unwrap();
    let (mut converted, mut refused) = (0, 0);
    for entry in entries {
        let name = entry["file"].as_str().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let original = std::fs::read(repo().join("fixtures/npy").join(name)).unwrap();
        std::fs::write(dir.path().join("in.npy"), &original).unwrap();
        let mut args = vec!["convert", "in.npy", "-o", "out.arr"];
        if let Some(dtype) = entry["dtype_override"].as_str() {
            args.extend(["--dtype", dtype]);
        }
        let output = run(dir.path(), &args);
        if entry["expect"] != "ok" {
            // Without the magic the file is raw bytes, which need --dtype and --shape.
            let code = if original.starts_with(&arrfile_npy::MAGIC) { 1 } else { 2 };
            assert_eq!(output.status.code(), Some(code), "{name}: {}", transcript(&output));
            assert_eq!(files_in(dir.path()), vec!["in.npy"], "{name} left files behind");
            refused += 1;
            continue;
        }
        assert_eq!(output.status.code(), Some(0), "{name}: {}", transcript(&output));
        let info: Value =
            serde_json::from_slice(&run(dir.path(), &["info", "--json", "out.arr"]).stdout)
                .unwrap();
        assert_eq!(info["dtype"], entry["dtype"], "{name}");
        assert_eq!(info["shape"], entry["shape"], "{name}");
        assert_eq!(info["order"], entry["order"], "{name}");
        assert_eq!(info["byte_order"], "little", "{name}: stored little-endian by default");
        let arr = std::fs::read(dir.path().join("out.arr")).unwrap();
        let payload = &arr[4096.min(arr.len())..];
        let offset = entry["data_offset"].as_u64().unwrap() as usize;
        let npy_data = &original[offset..];
        let itemsize = payload
            .len()
            .checked_div(
                entry["shape"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|d| d.as_u64().unwrap() as usize)
                    .product::<usize>()
                    .max(1),
            )
            .unwrap_or(0);
        let unit =
            if entry["dtype"].as_str().unwrap().starts_with('c') { itemsize / 2 } else { itemsize };
        let expected = if entry["byte_order"] == "big" {
            swap(npy_data, unit.max(1))
        } else {
            npy_data.to_vec()
        };
        assert_eq!(payload, &expected[..], "{name}: payload");
        assert_eq!(run(dir.path(), &["verify", "out.arr"]).status.code(), Some(0), "{name}");

        let export = run(dir.path(), &["export", "out.arr", "-o", "back.npy"]);
        assert_eq!(export.status.code(), Some(0), "{name}: {}", transcript(&export));
        let back = std::fs::read(dir.path().join("back.npy")).unwrap();
        let header = arrfile_npy::parse_header_with_override(
            &back,
            entry["dtype_override"].as_str().map(|d| d.parse().unwrap()),
        )
        .unwrap_or_else(|e| panic!("{name}: the exported header: {e}"));
        assert_eq!(header.description.dtype().name(), entry["dtype"], "{name}");
        assert_eq!(serde_json::json!(header.description.shape()), entry["shape"], "{name}");
        assert_eq!(&back[header.data_offset as usize..], payload, "{name}: values");
        let numpy_wrote_it_so = entry["numpy_default_header"] == true
            && entry["byte_order"] != "big"
            && entry["version"] == serde_json::json!([1, 0]);
        if numpy_wrote_it_so {
            assert_eq!(back, original, "{name}: exported .npy differs from numpy's own");
        }
        converted += 1;
    }
    assert!(converted >= 50 && refused >= 30, "converted {converted}, refused {refused}");
}

#[test]
fn big_endian_raw_is_stored_little_unless_kept() {
    let dir = tempfile::tempdir().unwrap();
    let values: Vec<u8> = [1.5f64, -2.0, 1e300].iter().flat_map(|v| v.to_be_bytes()).collect();
    std::fs::write(dir.path().join("be.dat"), &values).unwrap();
    let out = run(dir.path(), &["convert", "be.dat", "--dtype", ">f8", "--shape", "3"]);
    assert_eq!(out.status.code(), Some(0), "{}", transcript(&out));
    let arr = std::fs::read(dir.path().join("be.arr")).unwrap();
    assert_eq!(arr[34], 0, "byte order field: little");
    assert_eq!(&arr[4096..4104], &1.5f64.to_le_bytes());
    let out = run(
        dir.path(),
        &[
            "convert",
            "be.dat",
            "--dtype",
            "f8",
            "--byte-order",
            "big",
            "--shape",
            "3",
            "--keep-byte-order",
            "-o",
            "kept.arr",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", transcript(&out));
    let kept = std::fs::read(dir.path().join("kept.arr")).unwrap();
    assert_eq!(kept[34], 1, "byte order field: big");
    assert_eq!(&kept[4096..], &values[..]);
    // Back to raw: the stored bytes, whatever their order.
    run(dir.path(), &["export", "kept.arr", "--raw", "-o", "kept.dat"]);
    assert_eq!(std::fs::read(dir.path().join("kept.dat")).unwrap(), values);
}

#[test]
fn raw_options_offset_order_and_create() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = b"HEADER!!".to_vec();
    bytes.extend((0u16..12).flat_map(|v| v.to_le_bytes()));
    std::fs::write(dir.path().join("x.dat"), &bytes).unwrap();
    let out = run(
        dir.path(),
        &[
            "convert",
            "x.dat",
            "--dtype",
            "uint16",
            "--shape",
            "3,-1",
            "--order",
            "F",
            "--offset",
            "8",
            "--alignment",
            "65536",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", transcript(&out));
    let info: Value =
        serde_json::from_slice(&run(dir.path(), &["info", "--json", "x.arr"]).stdout).unwrap();
    assert_eq!(
        (info["shape"].clone(), info["order"].clone(), info["data_offset"].clone()),
        (serde_json::json!([3, 4]), "F".into(), 65536.into())
    );

    let out = run(dir.path(), &["create", "z.arr", "--dtype", "f32", "--shape", "1000000,100"]);
    insta::assert_snapshot!("create", transcript(&out));
    let meta = std::fs::metadata(dir.path().join("z.arr")).unwrap();
    assert_eq!(meta.len(), 4096 + 400_000_000);
    assert!(std::os::unix::fs::MetadataExt::blocks(&meta) * 512 < 1 << 20, "sparse");
    assert_eq!(run(dir.path(), &["verify", "z.arr"]).status.code(), Some(0));
}

#[test]
fn a_closed_pipe_is_not_an_error() {
    let dir = workdir();
    let mut child = Command::new(env!("CARGO_BIN_EXE_arrfile"))
        .args(["info", "--json", "metadata.arr"])
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(0));
    assert!(output.stderr.is_empty(), "{}", String::from_utf8_lossy(&output.stderr));
}

#[test]
fn ctrl_c_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    // 8 GiB of (sparse) input: far more than can be copied before the signal comes.
    let input = std::fs::File::create(dir.path().join("huge.dat")).unwrap();
    input.set_len(8 << 30).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_arrfile"))
        .args(["convert", "huge.dat", "--dtype", "u8", "--shape", "-1"])
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the temporary output exists, so the signal lands mid-copy.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !files_in(dir.path()).iter().any(|n| n.contains(".arrtmp-"))
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    std::thread::sleep(std::time::Duration::from_millis(100));
    Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(130), "{}", transcript(&output));
    assert_eq!(files_in(dir.path()), vec!["huge.dat"]);
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .contains("interrupted; nothing was written to huge.arr")
    );
}

/// `--force` does not orphan an `r+` session's edits: it fails with "locked", exit 2, and
/// with `--wait` it replaces the file once the session ends (issue 12, defect 8).
#[test]
fn force_refuses_to_replace_a_file_an_r_plus_writer_holds() {
    use arrfile_mmap::WriteArray;
    let dir = workdir();
    let create = run(dir.path(), &["create", "held.arr", "--dtype", "u8", "--shape", "4"]);
    assert_eq!(create.status.code(), Some(0), "{}", transcript(&create));
    std::fs::write(dir.path().join("new.dat"), [9u8; 4]).unwrap();
    let mut edit = arrfile_mmap::open_mut(dir.path().join("held.arr")).unwrap();
    edit.view_mut::<u8>().unwrap().copy_from_slice(&[1, 2, 3, 4]);
    let args = ["convert", "new.dat", "--dtype", "u8", "--shape", "4", "-o", "held.arr"];
    let forced = run(dir.path(), &[&args[..], &["--force"]].concat());
    assert_eq!(forced.status.code(), Some(2), "{}", transcript(&forced));
    let stderr = String::from_utf8_lossy(&forced.stderr);
    assert!(stderr.starts_with("error: held.arr: locked by another process"), "{stderr}");
    edit.commit().unwrap();

    // With --wait: blocks until the session ends, then replaces the file.
    let waiting = std::process::Command::new(env!("CARGO_BIN_EXE_arrfile"))
        .args([&args[..], &["--force", "--wait"]].concat())
        .current_dir(dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(&std::fs::read(dir.path().join("held.arr")).unwrap()[4096..], [1, 2, 3, 4]);
    drop(edit);
    let waited = waiting.wait_with_output().unwrap();
    assert_eq!(waited.status.code(), Some(0), "{}", transcript(&waited));
    assert_eq!(&std::fs::read(dir.path().join("held.arr")).unwrap()[4096..], [9; 4]);
}

/// `arrfile verify` of a file truncated while it is read exits 1 or 2 with a message, never
/// with SIGBUS (exit 135), as `--help` promises (issue 12, defect 4).
#[test]
fn verify_of_a_file_truncated_under_it_is_an_error_not_a_signal() {
    let dir = workdir();
    for (attempt, delay_ms) in [1u64, 3, 6, 10, 20].into_iter().enumerate() {
        let name = format!("big{attempt}.arr");
        let create = run(dir.path(), &["create", &name, "--dtype", "f32", "--shape", "268435456"]);
        assert_eq!(create.status.code(), Some(0), "{}", transcript(&create));
        let verify = Command::new(env!("CARGO_BIN_EXE_arrfile"))
            .args(["verify", &name])
            .current_dir(dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let file = std::fs::OpenOptions::new().write(true).open(dir.path().join(&name)).unwrap();
        file.set_len(4096 + 4096).unwrap(); // ignores the reader's lock
        let output = verify.wait_with_output().unwrap();
        let code = output.status.code();
        assert!(
            matches!(code, Some(0..=2)),
            "attempt {attempt}: {:?}\n{}",
            output.status,
            transcript(&output)
        );
        if code != Some(0) {
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(stderr.starts_with(&format!("error: {name}: ")), "{stderr}");
        }
        std::fs::remove_file(dir.path().join(&name)).unwrap();
    }
}
