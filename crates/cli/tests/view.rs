//! `arrfile show`, `stats`, `diff` and `preview` run as a user runs them: exit codes, stdout
//! and stderr snapshotted with insta; bad input gives one line and the documented exit code.

mod common;

use common::{repo, run, transcript};

fn workdir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let copy =
        |from: &str, to: &str| std::fs::copy(repo().join(from), dir.path().join(to)).unwrap();
    copy("fixtures/valid/dtype_f32.arr", "f32.arr");
    copy("fixtures/valid/big_endian_i32_f_order.arr", "be_f.arr");
    copy("fixtures/valid/f_order_i16_3d.arr", "i16_3d.arr");
    copy("fixtures/valid/dtype_c64.arr", "c64.arr");
    copy("fixtures/valid/dtype_bf16.arr", "bf16.arr");
    copy("fixtures/valid/zero_d_f64.arr", "zero_d.arr");
    copy("fixtures/invalid/header_crc_mismatch.arr", "bad_header.arr");
    copy("fixtures/npy/f32_c_be.npy", "f32_be.npy");
    copy("fixtures/npy/f32_c_le.npy", "f32_le.npy");
    copy("fixtures/npy/truncated_data.npy", "truncated.npy");
    copy("crates/view/tests/data/npy/f64_big_1d.npy", "big.npy");
    copy("crates/view/tests/data/npy/f32_big_2d_F.npy", "big2d.npy");
    copy("crates/view/tests/data/npy/diff_f64_big_1d_b.npy", "big_b.npy");
    dir
}

#[test]
fn help_texts() {
    let dir = tempfile::tempdir().unwrap();
    for command in ["show", "stats", "diff", "preview"] {
        let output = run(dir.path(), &[command, "--help"]);
        assert_eq!(output.status.code(), Some(0));
        insta::assert_snapshot!(format!("help_{command}"), transcript(&output));
    }
}

#[test]
fn show_as_numpy() {
    let dir = workdir();
    let d = dir.path();
    insta::assert_snapshot!("show_f32", transcript(&run(d, &["show", "f32.arr"])));
    insta::assert_snapshot!("show_big_endian_f_order", transcript(&run(d, &["show", "be_f.arr"])));
    insta::assert_snapshot!(
        "show_3d_slice",
        transcript(&run(d, &["show", "i16_3d.arr", "--slice", "..., ::-2"]))
    );
    insta::assert_snapshot!("show_c64", transcript(&run(d, &["show", "c64.arr"])));
    insta::assert_snapshot!("show_bf16", transcript(&run(d, &["show", "bf16.arr"])));
    insta::assert_snapshot!("show_0d", transcript(&run(d, &["show", "zero_d.arr"])));
    insta::assert_snapshot!("show_summarised", transcript(&run(d, &["show", "big2d.npy"])));
    insta::assert_snapshot!(
        "show_json",
        transcript(&run(d, &["show", "big.npy", "--slice", "::100", "--json"]))
    );
    // The same values raw, big-endian, described on the command line.
    let npy = std::fs::read(d.join("f32_be.npy")).unwrap();
    std::fs::write(d.join("f32_be.dat"), &npy[npy.len() - 24..]).unwrap();
    let raw = run(d, &["show", "f32_be.dat", "--dtype", ">f4", "--shape", "-1,3"]);
    assert_eq!(raw.stdout, run(d, &["show", "f32_be.npy"]).stdout);
}

#[test]
fn stats_and_diff() {
    let dir = workdir();
    let d = dir.path();
    insta::assert_snapshot!(
        "stats_axis",
        transcript(&run(d, &["stats", "be_f.arr", "--axis", "-1"]))
    );
    let json = run(d, &["stats", "big.npy", "--json"]);
    assert_eq!(json.status.code(), Some(0));
    let value: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(value["total"]["count"], 2000);
    insta::assert_snapshot!(
        "diff_equal",
        transcript(&run(d, &["diff", "f32_le.npy", "f32_be.npy"]))
    );
    insta::assert_snapshot!(
        "diff_differ",
        transcript(&run(d, &["diff", "big.npy", "big_b.npy", "--first", "3"]))
    );
    insta::assert_snapshot!(
        "diff_tolerance",
        transcript(&run(d, &["diff", "big.npy", "big_b.npy", "--rtol", "1e-5"]))
    );
    insta::assert_snapshot!("diff_shapes", transcript(&run(d, &["diff", "f32.arr", "be_f.arr"])));
}

#[test]
fn preview_writes_a_png() {
    let dir = workdir();
    let d = dir.path();
    let out = run(d, &["preview", "i16_3d.arr", "--slice", "1", "-o", "p.png", "--cmap", "magma"]);
    insta::assert_snapshot!("preview", transcript(&out));
    let decoder = std::fs::read(d.join("p.png")).unwrap();
    assert_eq!(&decoder[..8], b"\x89PNG\r\n\x1a\n");
    let line = run(d, &["preview", "big.npy", "-o", "line.png", "--size", "300"]);
    assert_eq!(line.status.code(), Some(0), "{}", transcript(&line));
}

#[test]
fn bad_input_is_one_line_and_the_documented_exit_code() {
    let dir = workdir();
    let d = dir.path();
    let cases: &[(&str, &[&str], i32)] = &[
        ("error_slice_malformed", &["show", "f32.arr", "--slice", "0:1:2:3"], 2),
        ("error_slice_out_of_range", &["show", "f32.arr", "--slice", "-3"], 2),
        ("error_slice_zero_step", &["show", "f32.arr", "--slice", "::0"], 2),
        ("error_slice_too_many", &["show", "f32.arr", "--slice", "0, 0, 0"], 2),
        ("error_axis", &["stats", "f32.arr", "--axis", "2"], 2),
        ("error_stats_complex", &["stats", "c64.arr"], 2),
        ("error_corrupt_header", &["show", "bad_header.arr"], 1),
        ("error_truncated_npy", &["stats", "truncated.npy"], 1),
        ("error_preview_3d", &["preview", "i16_3d.arr", "-o", "x.png"], 2),
        ("error_preview_cmap", &["preview", "f32.arr", "-o", "x.png", "--cmap", "jet"], 2),
        (
            "error_preview_range",
            &["preview", "f32.arr", "-o", "x.png", "--vmin", "1", "--vmax", "0"],
            2,
        ),
        ("error_missing", &["diff", "f32.arr", "nope.arr"], 2),
    ];
    for (name, args, code) in cases {
        let output = run(d, args);
        assert_eq!(output.status.code(), Some(*code), "{name}: {}", transcript(&output));
        let stderr = String::from_utf8_lossy(&output.stderr);
        // One line (clap adds its usual "For more information, try '--help'." to bad flags).
        let lines = stderr.lines().filter(|l| !l.is_empty() && !l.starts_with("For more"));
        assert_eq!(lines.count(), 1, "{name}: {stderr}");
        assert!(!stderr.contains("panicked"), "{name}");
        insta::assert_snapshot!(*name, transcript(&output));
    }
    assert!(!d.join("x.png").exists());
}
