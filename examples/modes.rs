//! The `np.memmap` modes `r`, `r+` and `c`, shown on the bytes on disk (mode `w+` is the
//! `cookbook` example).
//!
//! | numpy | arrfile | writes |
//! |---|---|---|
//! | `np.memmap(f, mode='r', dtype=..., shape=...)` | `arrfile::open(f)` | impossible (no mutable access exists) |
//! | `np.memmap(f, mode='r+', dtype=..., shape=...)` | `arrfile::open_mut(f)` | reach the file; `commit()` re-checksums |
//! | `np.memmap(f, mode='c', dtype=..., shape=...)` | `arrfile::open_copy(f)` | stay in this process's memory |
//!
//! For each mode the example reads the file with `std::fs::read` before and after and prints
//! the header's `checksum_state` byte (offset 37), its `payload_crc` (offsets 40..44) and the
//! first payload bytes.

use std::error::Error;
use std::marker::PhantomData;
use std::ops::Range;
use std::path::Path;

use arrfile::{ArrayFile, ArrayFileCow, ArrayFileMut, ErrorKind, ReadArray, WriteArray};
use arrfile::{Description, Dtype, NewArrayFile, Verification};

/// Header offsets (spec §3).
const STATE: usize = 37;
const PAYLOAD_CRC: Range<usize> = 40..44;

/// The values the file starts with: `i32[2, 4]` holding 0..8.
const INITIAL: [i32; 8] = [0, 1, 2, 3, 4, 5, 6, 7];

// Mode r refuses writes at the type level. `ArrayFile` implements `ReadArray` only:
// `view::<T>()` hands out a shared `&[T]`, and there is no `view_mut`, `as_bytes_mut` or
// `commit` to call, so
//
//     let array = arrfile::open(&path)?;
//     array.view_mut::<i32>()?[0] = 1;  // error[E0599]: no method named `view_mut` found
//     array.view::<i32>()?[0] = 1;      // error[E0594]: cannot assign to data in a `&` reference
//
// do not compile (and the payload is mapped read-only besides). The probe below asks the
// compiler whether a type implements `WriteArray`; the build fails if mode r ever gains it.
struct Probe<T>(PhantomData<T>);
trait NotWritable {
    const WRITABLE: bool = false;
}
impl<T> NotWritable for Probe<T> {}
impl<T: WriteArray> Probe<T> {
    /// Chosen over the trait's constant when the bound holds.
    const WRITABLE: bool = true;
}
const _: () = assert!(!Probe::<ArrayFile>::WRITABLE, "mode r must have no mutable access");
const _: () = assert!(Probe::<ArrayFileMut>::WRITABLE);
const _: () = assert!(Probe::<ArrayFileCow>::WRITABLE);
const _: () = assert!(Probe::<NewArrayFile>::WRITABLE);

/// The file as `std::fs::read` sees it, printed: checksum state, payload CRC, first payload bytes.
fn disk(label: &str, path: &Path) -> Result<Vec<u8>, Box<dyn Error>> {
    let bytes = std::fs::read(path)?;
    let offset = usize::try_from(arrfile::format::parse(&bytes)?.header.data_offset())?;
    let crc = u32::from_le_bytes(bytes[PAYLOAD_CRC].try_into()?);
    let head: Vec<String> = bytes[offset..offset + 16].iter().map(|b| format!("{b:02x}")).collect();
    println!(
        "    {label:<26} state@37 = {}  crc@40..44 = {crc:#010x}  payload[..16] = {}",
        bytes[STATE],
        head.join(" ")
    );
    Ok(bytes)
}

fn payload(bytes: &[u8]) -> Result<&[u8], Box<dyn Error>> {
    let offset = usize::try_from(arrfile::format::parse(bytes)?.header.data_offset())?;
    Ok(&bytes[offset..])
}

/// A finished file holding [`INITIAL`].
fn make(path: &Path) -> Result<(), Box<dyn Error>> {
    let mut new = arrfile::create(path, Description::c_order(Dtype::I32, vec![2, 4])?, None)?;
    new.view_mut::<i32>()?.copy_from_slice(&INITIAL);
    new.finish()?;
    Ok(())
}

/// r: reads only; a writer is refused while the reader holds the file; the bytes never change.
fn mode_r(path: &Path) -> Result<(), Box<dyn Error>> {
    println!("mode r (arrfile::open): no mutable access; a writer is refused while it is open");
    make(path)?;
    let before = disk("before", path)?;
    let reader = arrfile::open(path)?;
    let values: &[i32] = reader.view()?;
    println!("    view::<i32>() = {values:?} (a shared slice: it cannot be written)");
    assert_eq!(values, INITIAL);

    // Another writer, here in the same process (the locks are per open file), is refused.
    let error = match arrfile::open_mut(path) {
        Ok(_) => return Err("open_mut succeeded while a reader held the file".into()),
        Err(error) => error,
    };
    assert!(matches!(error.kind(), ErrorKind::Locked { .. }), "{error}");
    println!("    open_mut while the reader is open: {error}");

    drop(reader);
    let after = disk("after", path)?;
    assert_eq!(after, before, "mode r changed the file");
    println!("    the file's bytes are identical before and after");
    Ok(())
}

/// r+: writes reach the file; the header says *being modified* (2) until `commit` writes the
/// new CRC with state *valid* (1).
fn mode_r_plus(path: &Path) -> Result<(), Box<dyn Error>> {
    println!("mode r+ (arrfile::open_mut): writes persist, commit() re-checksums");
    make(path)?;
    let before = disk("before", path)?;
    assert_eq!(before[STATE], 1);

    let mut edit = arrfile::open_mut(path)?;
    assert_eq!(disk("after open_mut", path)?, before, "opening alone changes nothing");

    let view = edit.view_mut::<i32>()?;
    let during = disk("after view_mut", path)?;
    assert_eq!(during[STATE], 2, "being modified on disk before the view is handed out");
    assert_eq!(during[PAYLOAD_CRC], [0; 4]);

    view[0] = 1000;
    view[1] = -1;
    let written = disk("after writing view[0..2]", path)?;
    assert_eq!(written[STATE], 2);
    assert_eq!(&payload(&written)?[..8], [1000i32.to_le_bytes(), (-1i32).to_le_bytes()].concat());

    let crc = edit.commit()?;
    let after = disk("after commit()", path)?;
    assert_eq!(after[STATE], 1);
    assert_eq!(u32::from_le_bytes(after[PAYLOAD_CRC].try_into()?), crc);
    assert_eq!(crc, arrfile::format::crc32(payload(&after)?), "the CRC is the payload's");
    assert_ne!(before[PAYLOAD_CRC], after[PAYLOAD_CRC]);
    drop(edit);

    let reopened = arrfile::open(path)?;
    assert_eq!(reopened.view::<i32>()?, [1000, -1, 2, 3, 4, 5, 6, 7]);
    assert_eq!(reopened.verify(), Verification::Valid { crc });
    println!(
        "    reopened: {:?}, verify(): {}",
        reopened.view::<i32>()?,
        reopened.verify().kind_name()
    );
    Ok(())
}

/// c: copy-on-write; the view changes, the file does not.
fn mode_c(path: &Path) -> Result<(), Box<dyn Error>> {
    println!("mode c (arrfile::open_copy): writes change this process's memory only");
    make(path)?;
    let before = disk("before", path)?;

    let mut cow = arrfile::open_copy(path)?;
    let view = cow.view_mut::<i32>()?;
    view[0] = 42;
    view[7] = -42;
    println!("    in memory after writing:  {:?}", cow.view::<i32>()?);
    assert_eq!(cow.view::<i32>()?, [42, 1, 2, 3, 4, 5, 6, -42]);
    // The header in memory still holds the file's CRC, which the changed copy no longer has.
    let verification = cow.verify();
    assert!(matches!(verification, Verification::Mismatch { .. }));
    println!("    verify() of the changed copy: {}", verification.kind_name());

    let during = disk("on disk, copy still open", path)?;
    drop(cow);
    let after = disk("on disk, copy dropped", path)?;
    assert_eq!(during, before, "mode c wrote to the file");
    assert_eq!(after, before, "mode c wrote to the file");

    let reopened = arrfile::open(path)?;
    assert_eq!(reopened.view::<i32>()?, INITIAL);
    assert!(reopened.verify().is_valid());
    println!(
        "    reopened: {:?}, verify(): {}",
        reopened.view::<i32>()?,
        reopened.verify().kind_name()
    );
    Ok(())
}

fn main() -> Result<(), Box<dyn Error>> {
    let dir = tempfile::tempdir()?;
    mode_r(&dir.path().join("r.arr"))?;
    mode_r_plus(&dir.path().join("r_plus.arr"))?;
    mode_c(&dir.path().join("c.arr"))?;
    Ok(())
}
