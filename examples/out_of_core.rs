//! Out-of-core computation: `y = f(x)` for an input arrfile `x` of N `f64` elements, in
//! chunks of 100,000 elements, with memory that stays constant whatever N is.
//!
//! With numpy:
//!
//! ```python
//! x = np.memmap('x.dat', dtype=np.float64, mode='r', shape=(N,))
//! y = np.memmap('y.dat', dtype=np.float64, mode='w+', shape=(N,))
//! for start in range(0, N, 100_000):
//!     y[start:start + 100_000] = np.sqrt(x[start:start + 100_000]) * 2 + 1
//! y.flush()
//! ```
//!
//! With arrfile, `x`'s dtype and shape come from its header, `y` is written by a
//! [`arrfile::StreamWriter`] (a 1 MiB buffer, the CRC computed on the fly, the file renamed
//! into place complete at `finish`), and the result is verified against its checksum and
//! spot-checked against a direct computation.
//!
//! The chunks of `x` (and of `y`, to verify it) are read with plain `read`s at the payload's
//! offset rather than through the mapping: pages touched through a mapping stay resident and
//! count in the process's RSS, up to the whole file, until the kernel reclaims them.
//!
//! `cargo run --release --example out_of_core`: N = 100,000,000 (800 MB in, 800 MB out);
//! `cargo test`: N = 1,000,000 (10 chunks).

use std::error::Error;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::time::Instant;

use arrfile::{ArrayFile, ByteOrder, Description, Dtype, ReadArray, StreamWriter, Verification};

#[cfg(test)]
const N: usize = 1_000_000;
#[cfg(not(test))]
const N: usize = 100_000_000;
const CHUNK: usize = 100_000;

/// The input: `x[i] = i / 4`.
fn x_at(i: usize) -> f64 {
    i as f64 * 0.25
}

/// The computation.
fn f(x: f64) -> f64 {
    x.sqrt() * 2.0 + 1.0
}

/// Reads the payload of an open arrfile front to back, one chunk at a time, with `read`s
/// into one reused buffer.
struct Chunks {
    file: File,
    remaining: u64,
    bytes: Vec<u8>,
    byte_order: ByteOrder,
}

impl Chunks {
    fn new(array: &ArrayFile, chunk_bytes: usize) -> std::io::Result<Chunks> {
        let mut file = File::open(array.path())?;
        file.seek(SeekFrom::Start(array.header().data_offset()))?;
        Ok(Chunks {
            file,
            remaining: array.header().data_len(),
            bytes: vec![0; chunk_bytes],
            byte_order: array.byte_order(),
        })
    }

    /// The next chunk of payload bytes, as stored; `None` at the end.
    fn next_bytes(&mut self) -> std::io::Result<Option<&[u8]>> {
        let n =
            usize::try_from(self.remaining).map_or(self.bytes.len(), |r| r.min(self.bytes.len()));
        if n == 0 {
            return Ok(None);
        }
        self.file.read_exact(&mut self.bytes[..n])?;
        self.remaining -= n as u64;
        Ok(Some(&self.bytes[..n]))
    }

    /// The next chunk as `f64` values in the host's byte order; false at the end.
    fn next_f64(&mut self, out: &mut Vec<f64>) -> std::io::Result<bool> {
        let little = self.byte_order == ByteOrder::Little;
        let Some(bytes) = self.next_bytes()? else { return Ok(false) };
        out.clear();
        out.extend(bytes.chunks_exact(8).map(|b| {
            let b: [u8; 8] = b.try_into().unwrap_or_default();
            if little { f64::from_le_bytes(b) } else { f64::from_be_bytes(b) }
        }));
        Ok(true)
    }
}

/// A line of `/proc/self/status` in MB (Linux only).
fn status_mb(field: &str) -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kb: f64 = line[field.len()..].trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kb / 1024.0)
}

/// `; RSS now X MB, peak Y MB`, or nothing where there is no `/proc/self/status`.
fn rss() -> String {
    match (status_mb("VmRSS:"), status_mb("VmHWM:")) {
        (Some(now), Some(peak)) => format!("; RSS now {now:.1} MB, peak {peak:.1} MB"),
        _ => String::new(),
    }
}

fn main() -> Result<(), Box<dyn Error>> {
    let dir = tempfile::tempdir()?;
    let (x_path, y_path) = (dir.path().join("x.arr"), dir.path().join("y.arr"));
    let mb = (N * 8) as f64 / 1e6;
    println!("out of core: y = sqrt(x)*2 + 1 over N = {N} f64 ({mb:.0} MB), chunks of {CHUNK}");
    let mut values = Vec::with_capacity(CHUNK);

    // The input, written the same way: chunk by chunk.
    let start = Instant::now();
    let mut writer =
        StreamWriter::create(&x_path, Description::c_order(Dtype::F64, [N as u64])?, None)?;
    for chunk_start in (0..N).step_by(CHUNK) {
        values.clear();
        values.extend((chunk_start..(chunk_start + CHUNK).min(N)).map(x_at));
        writer.write_elements(&values)?;
    }
    writer.finish()?;
    let wrote_x = start.elapsed().as_secs_f64();
    println!("  wrote x in {wrote_x:.2} s ({:.0} MB/s){}", mb / wrote_x, rss());

    // y = f(x): dtype and shape of x come from its header; y goes out chunk by chunk.
    let start = Instant::now();
    let x = arrfile::open(&x_path)?;
    assert_eq!((x.dtype(), x.shape()), (Dtype::F64, &[N as u64][..]));
    let mut y_writer = StreamWriter::create(&y_path, x.description().clone(), None)?;
    let mut chunks = Chunks::new(&x, CHUNK * 8)?;
    let mut results = Vec::with_capacity(CHUNK);
    let mut chunk_count = 0;
    while chunks.next_f64(&mut values)? {
        results.clear();
        results.extend(values.iter().map(|&v| f(v)));
        y_writer.write_elements(&results)?;
        chunk_count += 1;
    }
    let header = y_writer.finish()?;
    drop(x);
    let computed = start.elapsed().as_secs_f64();
    assert_eq!(chunk_count, N.div_ceil(CHUNK));
    println!(
        "  computed y in {chunk_count} chunks in {computed:.2} s ({:.0} MB/s in + out){}",
        2.0 * mb / computed,
        rss()
    );

    // Verify y: its CRC, streamed chunk by chunk, against the header's.
    let start = Instant::now();
    let y = arrfile::open(&y_path)?;
    assert_eq!(y.description(), header.description());
    let mut hasher = crc32fast::Hasher::new();
    let mut chunks = Chunks::new(&y, 1 << 20)?;
    while let Some(bytes) = chunks.next_bytes()? {
        hasher.update(bytes);
    }
    let verification = y.header().checksum().verify_against(hasher.finalize());
    let verified = start.elapsed().as_secs_f64();
    assert!(verification.is_valid(), "{verification:?}");
    println!(
        "  verified y (streamed CRC-32): {} in {verified:.2} s{}",
        verification.kind_name(),
        rss()
    );

    // Memory stayed constant: a few chunk buffers and the writer's 1 MiB buffer, whatever N.
    match status_mb("VmHWM:") {
        Some(peak) => {
            println!(
                "  peak RSS (VmHWM) of the pipeline: {peak:.1} MB, for {:.0} MB read and written",
                4.0 * mb
            );
            assert!(peak < 64.0, "memory grew with N: peak RSS {peak:.1} MB");
        }
        None => println!("  (no /proc/self/status here: RSS not measured)"),
    }

    // Spot checks through the mapping of y: each page touched there comes with the kernel's
    // read-around, and stays resident (file-backed and reclaimable, but counted in RSS).
    let view = y.view::<f64>()?;
    let mut spots = vec![0, 1, CHUNK - 1, CHUNK, N / 2, N - 1];
    let mut state = 0x2545_F491_4F6C_DD1D_u64;
    for _ in 0..100 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        spots.push(usize::try_from(state % N as u64)?);
    }
    for &i in &spots {
        assert_eq!(view[i].to_bits(), f(x_at(i)).to_bits(), "y[{i}]");
    }
    println!(
        "  spot-checked {} elements of the mapping against direct computation, e.g. y[{}] = {} = f({}){}",
        spots.len(),
        N - 1,
        view[N - 1],
        x_at(N - 1),
        rss()
    );

    // The library's verify() agrees; it reads the whole mapping (on every core), so all of
    // y's pages end up resident.
    let start = Instant::now();
    let mapped = y.verify();
    let elapsed = start.elapsed().as_secs_f64();
    assert_eq!(mapped, verification);
    assert!(matches!(mapped, Verification::Valid { .. }));
    println!(
        "  verify() through the mapping agrees: {} in {elapsed:.2} s{}",
        mapped.kind_name(),
        rss()
    );
    Ok(())
}
