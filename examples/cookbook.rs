//! The numpy memmap recipe, redone with arrfile: create a 1,000,000 × 100 `f32` file, fill it
//! one column at a time, finish it, reopen it read-only **without repeating dtype or shape**,
//! check the last column and the payload checksum.
//!
//! With numpy:
//!
//! ```python
//! import numpy as np
//! fp = np.memmap('data.dat', dtype=np.float32, mode='w+', shape=(1000000, 100))
//! for j in range(100):
//!     fp[:, j] = column(j)        # C order: column j is a strided slice (stride 100)
//! fp.flush()
//! del fp
//! # data.dat is raw bytes: the reader must know, and repeat, dtype and shape.
//! newfp = np.memmap('data.dat', dtype=np.float32, mode='r', shape=(1000000, 100))
//! assert (newfp[:, -1] == column(99)).all()
//! # ... and nothing tells whether those bytes are the ones that were written.
//! ```
//!
//! With arrfile the header carries dtype, shape and order, `finish` writes a CRC-32 of the
//! payload and renames the file into place (it appears complete or not at all), and
//! [`arrfile::ReadArray::verify`] checks the bytes on request.
//!
//! `cargo run --release --example cookbook` runs the full size (a 400 MB file in a temporary
//! directory); `cargo test` runs it with 10,000 rows.

use std::error::Error;
use std::time::Instant;

use arrfile::{Description, Dtype, ReadArray, WriteArray};
use ndarray::{ArrayViewMut1, Ix2};

#[cfg(test)]
const ROWS: usize = 10_000;
#[cfg(not(test))]
const ROWS: usize = 1_000_000;
const COLS: usize = 100;

/// The values of column `j`: a reproducible stand-in for `np.random.rand(rows)`, in [0, 1).
fn column(j: usize) -> impl Iterator<Item = f32> {
    // splitmix64, seeded by the column.
    let mut state = 0x9E37_79B9_7F4A_7C15_u64.wrapping_mul(j as u64 + 1);
    std::iter::repeat_with(move || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        // The top 24 bits: exactly representable in f32.
        (z >> 40) as f32 / (1u64 << 24) as f32
    })
    .take(ROWS)
}

fn fill(mut col: ArrayViewMut1<'_, f32>, j: usize) {
    col.iter_mut().zip(column(j)).for_each(|(v, x)| *v = x);
}

fn secs(start: Instant) -> f64 {
    start.elapsed().as_secs_f64()
}

fn main() -> Result<(), Box<dyn Error>> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("data.arr");
    let mb = (ROWS * COLS * 4) as f64 / 1e6;
    println!("cookbook: {ROWS} x {COLS} f32 ({mb:.0} MB) at {}", path.display());

    // 1. w+: a new, sparse file at a temporary sibling path; dtype and shape go in its header.
    let start = Instant::now();
    let desc = Description::c_order(Dtype::F32, vec![ROWS as u64, COLS as u64])?;
    let mut new = arrfile::create(&path, desc, None)?;
    let created = secs(start);

    // 2. One column at a time: column j of a C-order array is a strided slice. Without
    //    ndarray: `new.view_mut::<f32>()?.iter_mut().skip(j).step_by(COLS)`.
    let start = Instant::now();
    {
        let mut a = new.array_view_mut::<f32>()?.into_dimensionality::<Ix2>()?;
        for j in 0..COLS {
            fill(a.column_mut(j), j);
        }
    }
    let filled = secs(start);
    assert!(!path.exists(), "nothing appears at the path before finish");

    // 3. finish: CRC-32 of the payload into the header, fsync, rename into place.
    let start = Instant::now();
    let header = new.finish()?;
    let finished = secs(start);
    let on_disk = std::fs::metadata(&path)?.len();
    assert_eq!(on_disk, header.data_offset() + (ROWS * COLS * 4) as u64);
    println!(
        "  create {created:.3} s, fill {COLS} columns {filled:.3} s, finish (CRC + fsync + rename) \
         {finished:.3} s; {on_disk} bytes on disk, payload_crc {:#010x}",
        header.checksum().crc_field()
    );

    // 4. r: no dtype, no shape: the header gives them.
    let start = Instant::now();
    let array = arrfile::open(&path)?;
    let opened = secs(start);
    assert_eq!(array.dtype(), Dtype::F32);
    assert_eq!(array.shape(), &[ROWS as u64, COLS as u64]);
    println!("  reopened read-only in {:.1} µs: {}", opened * 1e6, array.description());

    // 5. The last column is what was written, and the payload checksum holds.
    let start = Instant::now();
    let a = array.array_view::<f32>()?.into_dimensionality::<Ix2>()?;
    let last = a.column(COLS - 1);
    let mismatches = last.iter().zip(column(COLS - 1)).filter(|(v, x)| **v != *x).count();
    assert_eq!(last.len(), ROWS);
    assert_eq!(mismatches, 0, "the last column differs from what was written");
    // A spot check elsewhere, through the plain storage-order slice.
    let flat = array.view::<f32>()?;
    assert_eq!(flat[(ROWS / 2) * COLS + 7], column(7).nth(ROWS / 2).unwrap_or(f32::NAN));
    let checked = secs(start);
    let sum: f64 = last.iter().map(|&v| f64::from(v)).sum();
    println!(
        "  last column: {ROWS} values equal to those written (mean {:.4}), checked in {checked:.3} s",
        sum / ROWS as f64
    );

    let start = Instant::now();
    let verification = array.verify();
    let verified = secs(start);
    assert!(verification.is_valid(), "{verification:?}");
    println!(
        "  verify(): {} (payload CRC-32 {:#010x}) in {verified:.3} s ({:.2} GB/s)",
        verification.kind_name(),
        array.header().checksum().crc_field(),
        mb / 1e3 / verified.max(1e-9)
    );
    Ok(())
}
