//! In-process benchmarks of arrfile-mmap, each beside the baseline it is judged against:
//!
//! - `open`: open + validate (R1–R24) + map + close, for files of 1 MiB, 1 GiB and 100 GiB
//!   (sparse); the payload is never read, so the time should not grow with the size;
//! - `verify`: the payload CRC, warm (the file is mapped once and in the page cache): plain
//!   `crc32fast` over an in-memory buffer on one core, then arrfile on one and on two cores;
//! - `scan`: a typed sequential scan (sum of f32) through the arrfile view, and the same loop
//!   over a raw `memmap2` map of the same bytes;
//! - `stream`: [`arrfile_mmap::StreamWriter`] (buffered, CRC on, `finish` fsyncs and renames)
//!   against plain `write()` of the same chunks with the CRC computed, with and without fsync.
//!
//! Run with `cargo bench -p arrfile-mmap --bench mmap -- --noplot`; `benches/compare` at the
//! repository root runs it and puts the numbers in its table. Environment:
//!
//! - `ARRFILE_BENCH_DIR`: scratch directory (default `target/bench-data`; keep it on the
//!   filesystem being measured);
//! - `ARRFILE_BENCH_BYTES`: payload of the `verify` and `scan` file (default 1 GiB);
//! - `ARRFILE_BENCH_STREAM_BYTES`: bytes written per `stream` iteration (default 256 MiB).
//!
//! The sparse `open-*.arr` files and the `scan-*.arr` data file are made on first use and
//! kept, so that later runs measure the same files; `benches/compare` removes them.
// `criterion_group!` defines an undocumented public function.
#![allow(missing_docs)]

use std::fs::File;
use std::hint::black_box;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use arrfile_mmap::{Description, Dtype, ReadArray, StreamWriter};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use zerocopy::FromBytes;

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

fn env_bytes(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok()).unwrap_or(default)
}

fn scratch_dir() -> PathBuf {
    let dir = std::env::var_os("ARRFILE_BENCH_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/bench-data"),
        PathBuf::from,
    );
    std::fs::create_dir_all(&dir).expect("creating the scratch directory");
    dir
}

fn size_label(bytes: u64) -> String {
    if bytes >= GIB && bytes.is_multiple_of(GIB) {
        format!("{}GiB", bytes / GIB)
    } else if bytes >= MIB && bytes.is_multiple_of(MIB) {
        format!("{}MiB", bytes / MIB)
    } else {
        format!("{bytes}B")
    }
}

/// Pseudo-random bytes (xorshift64*): incompressible, and the same on every run.
fn fill_random(buf: &mut [u8], state: &mut u64) {
    for chunk in buf.chunks_mut(8) {
        *state ^= *state >> 12;
        *state ^= *state << 25;
        *state ^= *state >> 27;
        let word = state.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes();
        chunk.copy_from_slice(&word[..chunk.len()]);
    }
}

/// f32 values in [0, 1): no NaN or infinity in the sums.
fn fill_f32(buf: &mut [u8], state: &mut u64) {
    fill_random(buf, state);
    for value in buf.chunks_exact_mut(4) {
        let bits = u32::from_le_bytes([value[0], value[1], value[2], value[3]]);
        let unit = f32::from_bits(0x3f80_0000 | (bits >> 9)) - 1.0;
        value.copy_from_slice(&unit.to_le_bytes());
    }
}

/// A sparse f32 file of `bytes` payload, as `arrfile create` makes it.
fn sparse_file(dir: &Path, bytes: u64) -> PathBuf {
    let path = dir.join(format!("open-{}.arr", size_label(bytes)));
    if arrfile_mmap::inspect(&path).is_err() {
        let description = Description::c_order(Dtype::F32, vec![bytes / 4]).expect("description");
        arrfile_mmap::create_zeroed(&path, description, None).expect("creating a sparse file");
    }
    path
}

/// A real (non-sparse) f32 file of `bytes` payload with pseudo-random values.
fn data_file(dir: &Path, bytes: u64) -> PathBuf {
    let path = dir.join(format!("scan-{}.arr", size_label(bytes)));
    if arrfile_mmap::open(&path).is_ok_and(|a| a.verify().is_valid()) {
        return path;
    }
    let description = Description::c_order(Dtype::F32, vec![bytes / 4]).expect("description");
    let mut writer = StreamWriter::create(&path, description, None).expect("creating");
    let mut buf = vec![0u8; 4 << 20];
    let mut state = 0x9e37_79b9_7f4a_7c15;
    let mut left = bytes;
    while left > 0 {
        let n = usize::try_from(left.min(buf.len() as u64)).expect("chunk fits");
        fill_f32(&mut buf[..n], &mut state);
        writer.write_bytes(&buf[..n]).expect("writing");
        left -= n as u64;
    }
    writer.finish().expect("finishing");
    path
}

/// Reads every 8-byte word on `threads` threads (a memory-bandwidth probe).
fn read_words(bytes: &[u8], threads: usize) -> u64 {
    fn xor_all(part: &[u8]) -> u64 {
        let mut lanes = [0u64; 8];
        for chunk in part.chunks_exact(64) {
            for (lane, word) in lanes.iter_mut().zip(chunk.chunks_exact(8)) {
                *lane ^= u64::from_le_bytes(word.try_into().unwrap_or_default());
            }
        }
        lanes.iter().fold(0, |a, b| a ^ b)
    }
    let part = bytes.len().div_ceil(threads).next_multiple_of(64);
    std::thread::scope(|scope| {
        let handles: Vec<_> = bytes.chunks(part).map(|p| scope.spawn(move || xor_all(p))).collect();
        handles.into_iter().map(|h| h.join().unwrap_or(0)).fold(0, |a, b| a ^ b)
    })
}

/// The scan loop: 16 independent lanes, so it runs at memory speed, not at add latency.
fn sum_f32(values: &[f32]) -> f32 {
    let mut lanes = [0f32; 16];
    let chunks = values.chunks_exact(16);
    let tail: f32 = chunks.remainder().iter().sum();
    for chunk in chunks {
        for (lane, v) in lanes.iter_mut().zip(chunk) {
            *lane += v;
        }
    }
    lanes.iter().sum::<f32>() + tail
}

fn open(c: &mut Criterion) {
    let dir = scratch_dir();
    let mut group = c.benchmark_group("open");
    group.measurement_time(Duration::from_secs(4));
    for bytes in [MIB, GIB, 100 * GIB] {
        let path = sparse_file(&dir, bytes);
        group.bench_with_input(BenchmarkId::new("arrfile", size_label(bytes)), &path, |b, path| {
            b.iter(|| {
                let array = arrfile_mmap::open(black_box(path)).expect("open");
                black_box(array.header().data_len())
            });
        });
    }
    group.finish();
}

fn verify(c: &mut Criterion) {
    let dir = scratch_dir();
    let bytes = env_bytes("ARRFILE_BENCH_BYTES", GIB);
    let path = data_file(&dir, bytes);
    let array = arrfile_mmap::open(&path).expect("open");
    let in_memory = array.as_bytes().to_vec();
    let label = size_label(bytes);
    let mut group = c.benchmark_group("verify");
    group.sample_size(10).warm_up_time(Duration::from_secs(2));
    group.measurement_time(Duration::from_secs(8));
    group.throughput(Throughput::Bytes(bytes));
    group.bench_function(BenchmarkId::new("crc32fast_1core_vec", &label), |b| {
        b.iter(|| crc32fast::hash(black_box(&in_memory)));
    });
    group.bench_function(BenchmarkId::new("arrfile_1core", &label), |b| {
        b.iter(|| arrfile_mmap::crc32_with_threads(black_box(array.as_bytes()), 1));
    });
    group.bench_function(BenchmarkId::new("arrfile_2cores", &label), |b| {
        b.iter(|| arrfile_mmap::crc32_with_threads(black_box(array.as_bytes()), 2));
    });
    // The ceiling: how fast one and two threads can merely read the mapped payload.
    for threads in [1, 2] {
        group.bench_function(
            BenchmarkId::new(format!("read_only_{threads}threads"), &label),
            |b| {
                b.iter(|| read_words(black_box(array.as_bytes()), threads));
            },
        );
    }
    // What `ReadArray::verify` does: every available core, and the comparison.
    group.bench_function(BenchmarkId::new("arrfile_verify_all_cores", &label), |b| {
        b.iter(|| black_box(&array).verify().is_valid());
    });
    // What `arrfile verify` does: open, shared lock, reader checks, then `pread` on every
    // core (a truncated file is an error, not SIGBUS). The map above is the alternative.
    group.bench_function(BenchmarkId::new("arrfile_verify_file_pread", &label), |b| {
        b.iter(|| arrfile_mmap::verify_file(black_box(&path)).expect("verify").is_valid());
    });
    group.finish();
}

fn scan(c: &mut Criterion) {
    let dir = scratch_dir();
    let bytes = env_bytes("ARRFILE_BENCH_BYTES", GIB);
    let path = data_file(&dir, bytes);
    let array = arrfile_mmap::open(&path).expect("open");
    let offset = array.header().data_offset();
    let file = File::open(&path).expect("open");
    let len = usize::try_from(bytes).expect("the payload fits in memory");
    // SAFETY: the benchmark's own scratch file; nothing truncates or writes it meanwhile.
    #[allow(unsafe_code)]
    let raw =
        unsafe { memmap2::MmapOptions::new().offset(offset).len(len).map(&file) }.expect("mapping");
    let label = size_label(bytes);
    let mut group = c.benchmark_group("scan");
    group.sample_size(10).warm_up_time(Duration::from_secs(2));
    group.measurement_time(Duration::from_secs(8));
    group.throughput(Throughput::Bytes(bytes));
    group.bench_function(BenchmarkId::new("arrfile_view", &label), |b| {
        b.iter(|| sum_f32(black_box(&array).view::<f32>().expect("f32 view")));
    });
    group.bench_function(BenchmarkId::new("raw_memmap2", &label), |b| {
        b.iter(|| sum_f32(<[f32]>::ref_from_bytes(black_box(&raw[..])).expect("aligned")));
    });
    group.finish();
    // Both read the same bytes: the results must agree.
    let view = sum_f32(array.view::<f32>().expect("f32 view"));
    let mapped = sum_f32(<[f32]>::ref_from_bytes(&raw[..]).expect("aligned"));
    assert!(view.to_bits() == mapped.to_bits(), "{view} != {mapped}");
}

/// Writes `total` bytes in `chunk`-byte writes from a repeating random pattern.
fn for_each_chunk(pattern: &[u8], total: u64, chunk: usize, mut f: impl FnMut(&[u8])) {
    let mut left = total;
    let mut at = 0;
    while left > 0 {
        let n = usize::try_from(left.min(chunk as u64)).expect("chunk fits");
        if at + n > pattern.len() {
            at = 0;
        }
        f(&pattern[at..at + n]);
        at += n;
        left -= n as u64;
    }
}

fn stream(c: &mut Criterion) {
    let dir = scratch_dir();
    let total = env_bytes("ARRFILE_BENCH_STREAM_BYTES", 256 * MIB);
    let chunk = 64 << 10;
    let mut pattern = vec![0u8; 4 << 20];
    fill_random(&mut pattern, &mut 0x2545_f491);
    let label = size_label(total);
    let out = dir.join("stream.out");
    let mut group = c.benchmark_group("stream");
    group.sample_size(10).warm_up_time(Duration::from_secs(2));
    group.measurement_time(Duration::from_secs(10));
    group.throughput(Throughput::Bytes(total));
    group.bench_function(BenchmarkId::new("arrfile_stream_writer", &label), |b| {
        b.iter(|| {
            let description = Description::c_order(Dtype::U8, vec![total]).expect("description");
            let mut writer = StreamWriter::create(&out, description, None).expect("create");
            for_each_chunk(&pattern, total, chunk, |bytes| {
                writer.write_bytes(bytes).expect("write");
            });
            let header = writer.finish().expect("finish");
            std::fs::remove_file(&out).expect("remove");
            header
        });
    });
    for fsync in [false, true] {
        let name = if fsync { "write_crc_fsync" } else { "write_crc" };
        group.bench_function(BenchmarkId::new(name, &label), |b| {
            b.iter(|| {
                let mut file = File::create(&out).expect("create");
                let mut hasher = crc32fast::Hasher::new();
                for_each_chunk(&pattern, total, chunk, |bytes| {
                    hasher.update(bytes);
                    file.write_all(bytes).expect("write");
                });
                if fsync {
                    file.sync_all().expect("fsync");
                }
                drop(file);
                std::fs::remove_file(&out).expect("remove");
                hasher.finalize()
            });
        });
    }
    group.finish();
}

criterion_group!(benches, open, verify, scan, stream);
criterion_main!(benches);
