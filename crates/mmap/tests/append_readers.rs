//! Readers in another process while appends run (format 1.1): a reader that opens, maps,
//! checks values and verifies in a loop never sees an invalid file, a wrong value or a false
//! checksum mismatch, whatever the appender is doing (setting the flag, writing rows,
//! committing, rolling back); and a map made before commits keeps its shape and verifies.
//!
//! The reader is this test binary run again with `--exact child_process`; it stops when the
//! stop file appears and reports its counts on stdout in a line that starts with `@@`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use arrfile_format::{Description, Dtype};
use arrfile_mmap::{ArrayFile, Options, ReadArray, StreamWriter};

const ROLE: &str = "ARRFILE_APPEND_READERS_ROLE";
const PATH: &str = "ARRFILE_APPEND_READERS_PATH";

/// Elements per row: rows of 512 bytes.
const ROW: usize = 64;
/// Rows of the file before the appends.
const BASE_ROWS: usize = 16;
/// How long the appender runs.
const RUN: Duration = Duration::from_millis(2500);

/// Element `i` in storage order.
fn value(i: usize) -> u64 {
    (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x5555
}

fn values(from: usize, to: usize) -> Vec<u64> {
    (from..to).map(value).collect()
}

fn stop_file(path: &Path) -> PathBuf {
    path.with_extension("stop")
}

/// Checks a whole map: its rows' values at a few places, and a valid checksum.
fn check(array: &ArrayFile, what: &str) -> usize {
    let rows = usize::try_from(array.shape()[0]).unwrap();
    assert_eq!(array.shape()[1], ROW as u64, "{what}");
    let elements = array.view::<u64>().unwrap();
    assert_eq!(elements.len(), rows * ROW, "{what}");
    for row in [0, rows / 2, rows - 1] {
        let start = row * ROW;
        assert!(
            elements[start..start + ROW] == values(start, start + ROW),
            "{what}: row {row} of {rows} is wrong"
        );
    }
    let verdict = array.verify();
    assert!(verdict.is_valid(), "{what}: {rows} rows, {verdict:?}");
    rows
}

/// Not a test of its own: the reader process.
#[test]
fn child_process() {
    let Ok(role) = std::env::var(ROLE) else { return };
    assert_eq!(role, "reader");
    let path = PathBuf::from(std::env::var_os(PATH).unwrap());
    let stop = stop_file(&path);
    let (mut iterations, mut mid_append, mut grew, mut most) = (0u64, 0u64, 0u64, 0usize);
    // A map kept across the appender's commits: it must keep its shape and checksum.
    let mut kept: Option<(ArrayFile, usize)> = None;
    while !stop.exists() {
        let array = arrfile_mmap::open(&path).unwrap_or_else(|e| panic!("open {iterations}: {e}"));
        mid_append += u64::from(array.header().append_in_progress());
        let rows = check(&array, &format!("open {iterations}"));
        assert!(rows >= most, "the array shrank from {most} to {rows} rows");
        grew += u64::from(rows > most);
        most = rows;
        match iterations % 4 {
            // Readers that read instead of mapping, and the lock-free inspect.
            1 => {
                let verdict = arrfile_mmap::verify_file(&path).unwrap();
                assert!(verdict.is_valid(), "verify_file {iterations}: {verdict:?}");
            }
            2 => {
                let (header, _) = arrfile_mmap::inspect(&path).unwrap();
                assert!(header.shape()[0] >= rows as u64, "inspect {iterations}");
                let cow = arrfile_mmap::open_copy(&path).unwrap();
                assert!(cow.verify().is_valid(), "open_copy {iterations}");
                let reader = Options::new().open_reader(&path).unwrap();
                let verdict = reader.verify_with(|_| std::ops::ControlFlow::Continue(())).unwrap();
                assert!(verdict.is_some_and(|v| v.is_valid()), "ArrayReader {iterations}");
            }
            3 => {
                if let Some((old, rows)) = &kept {
                    assert_eq!(check(old, &format!("kept map at {iterations}")), *rows);
                }
                if iterations % 16 == 3 {
                    kept = Some((array, rows));
                }
            }
            _ => {}
        }
        iterations += 1;
    }
    println!("@@ {iterations} {mid_append} {grew} {most}");
}

#[test]
fn readers_in_another_process_never_see_a_wrong_array_while_appends_run() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("grows.arr");
    let mut writer = StreamWriter::create(
        &path,
        Description::c_order(Dtype::U64, vec![BASE_ROWS as u64, ROW as u64]).unwrap(),
        None,
    )
    .unwrap();
    writer.write_elements(&values(0, BASE_ROWS * ROW)).unwrap();
    writer.finish().unwrap();

    let reader = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_process", "--nocapture", "--test-threads=1"])
        .env(ROLE, "reader")
        .env(PATH, &path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();

    // The appender: commits of 1 to 40 rows in up to three writes that split rows, a
    // rollback now and then (rows written, then cut), and empty commits.
    let mut rows = BASE_ROWS;
    let (mut commits, mut rollbacks, mut empty) = (0u64, 0u64, 0u64);
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut next = |n: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        usize::try_from(state % n).unwrap()
    };
    let started = Instant::now();
    while started.elapsed() < RUN {
        let mut appender = arrfile_mmap::append(&path).unwrap();
        let step = commits + rollbacks + empty;
        let count = if step % 13 == 12 { 0 } else { 1 + next(40) };
        let new = values(rows * ROW, (rows + count) * ROW);
        let cut_a = next(new.len() as u64 + 1);
        let cut_b = cut_a + next((new.len() - cut_a) as u64 + 1);
        for piece in [&new[..cut_a], &new[cut_a..cut_b], &new[cut_b..]] {
            appender.write(piece).unwrap();
        }
        if step % 9 == 8 && count > 0 {
            drop(appender);
            rollbacks += 1;
            continue;
        }
        let header = appender.commit().unwrap();
        rows += count;
        assert_eq!(header.shape()[0], rows as u64);
        if count == 0 {
            empty += 1;
        } else {
            commits += 1;
        }
    }
    std::fs::write(stop_file(&path), b"").unwrap();
    let output = reader.wait_with_output().unwrap();
    assert!(output.status.success(), "the reader failed: {:?}", output.status);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let report =
        stdout.lines().find_map(|line| line.split("@@ ").nth(1)).expect("the reader's report");
    let numbers: Vec<u64> = report.split(' ').map(|n| n.parse().unwrap()).collect();
    let [iterations, mid_append, grew, most] = numbers[..] else { panic!("{report}") };
    eprintln!(
        "appender: {commits} commits, {rollbacks} rollbacks, {empty} empty commits, {rows} rows; reader: {iterations} iterations ({mid_append} opened mid-append, saw the array grow {grew} times, up to {most} rows)"
    );
    assert!(commits >= 50, "{commits} commits");
    assert!(rollbacks >= 5, "{rollbacks} rollbacks");
    assert!(iterations >= 100, "{iterations} iterations");
    assert!(grew >= 10, "the reader saw the array grow {grew} times");
    assert!(most as usize <= rows);
    // The file is the whole array, as if written at once.
    let array = arrfile_mmap::open(&path).unwrap();
    assert_eq!(check(&array, "the end"), rows);
}
