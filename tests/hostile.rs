//! A bounded fuzzing smoke for `cargo test` on the stable toolchain: random bytes and mutated
//! fixtures through every parser, for a fixed time (15 s by default).
//!
//! - `arrfile_format::parse` and `Header::parse` (in memory), which must agree with each other;
//! - `arrfile_mmap::open`, `verify` and `open_copy` on temporary files, which must agree with
//!   the in-memory parser;
//! - the `.npy` header parser of `arrfile-npy` (`parse_header`, with an override,
//!   and `read_header` over a reader), which must agree with each other.
//!
//! Nothing may panic. Inputs are the fixtures (`fixtures/{valid,invalid,corrupt}/*.arr`,
//! `fixtures/npy/*.npy`) and the committed fuzz seeds (`fuzz/corpus/*`), mutated as
//! libFuzzer would (bit flips, interesting integers, inserted, erased and repeated bytes,
//! truncation, splicing), half of them with their CRCs recomputed so that the checks after
//! the header CRC are reached. The libFuzzer targets in `fuzz/` go further; this catches
//! regressions in every CI run.
//!
//! `ARRFILE_HOSTILE_SECS` sets the time (at most 110 s), `ARRFILE_HOSTILE_SEED` the seed. A
//! panic saves its input under the system's temporary directory and names it.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use arrfile_format::{Dtype, HEADER_LEN, Header, parse};
use arrfile_mmap::{ReadArray, WriteArray};
use arrfile_npy::{self as npy, ReadError};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every file directly in `dir` with one of the extensions, if the directory exists.
fn files_in(dir: &Path, extensions: &[&str]) -> Vec<Vec<u8>> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .filter(|p| {
            extensions.is_empty()
                || p.extension().is_some_and(|x| extensions.iter().any(|e| x == *e))
        })
        .collect();
    paths.sort();
    paths.into_iter().filter_map(|p| std::fs::read(p).ok()).filter(|b| b.len() < 1 << 20).collect()
}

fn seeds() -> Vec<Vec<u8>> {
    let fixtures = repo().join("fixtures");
    let mut seeds = Vec::new();
    for dir in ["valid", "invalid", "corrupt"] {
        seeds.extend(files_in(&fixtures.join(dir), &["arr"]));
    }
    seeds.extend(files_in(&fixtures.join("npy"), &["npy"]));
    if let Ok(targets) = std::fs::read_dir(repo().join("fuzz/corpus")) {
        let mut dirs: Vec<PathBuf> = targets.filter_map(|e| e.ok().map(|e| e.path())).collect();
        dirs.sort();
        for dir in dirs {
            seeds.extend(files_in(&dir, &[]));
        }
    }
    assert!(seeds.len() > 100, "found only {} seed files", seeds.len());
    seeds
}

/// xorshift64*, seeded for reproducible runs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 { 0 } else { usize::try_from(self.next() % n as u64).unwrap() }
    }

    fn byte(&mut self) -> u8 {
        self.next().to_le_bytes()[7]
    }
}

const INTERESTING: [u64; 16] = [
    0,
    1,
    2,
    64,
    65,
    255,
    640,
    4096,
    65535,
    1 << 20,
    (1 << 24) + 1,
    1 << 32,
    1 << 62,
    1 << 63,
    u64::MAX - 4095,
    u64::MAX,
];

/// One libFuzzer-like mutation of `data`, in place.
fn mutate(rng: &mut Rng, data: &mut Vec<u8>, seeds: &[Vec<u8>]) {
    match rng.below(9) {
        0 if !data.is_empty() => {
            let i = rng.below(data.len());
            data[i] ^= 1 << rng.below(8);
        }
        1 if !data.is_empty() => {
            let i = rng.below(data.len());
            data[i] = rng.byte();
        }
        2 if data.len() >= 8 => {
            // An interesting integer at a random offset, favouring the header's fields.
            let at = if rng.below(2) == 0 {
                rng.below(data.len().min(136) - 7)
            } else {
                rng.below(data.len() - 7)
            };
            let value = INTERESTING[rng.below(INTERESTING.len())];
            let width = [1, 2, 4, 8][rng.below(4)];
            data[at..at + width].copy_from_slice(&value.to_le_bytes()[..width]);
        }
        3 => {
            let at = rng.below(data.len() + 1);
            let n = 1 + rng.below(16);
            let byte = rng.byte();
            data.splice(at..at, std::iter::repeat_n(byte, n));
        }
        4 if !data.is_empty() => {
            let at = rng.below(data.len());
            let n = 1 + rng.below((data.len() - at).min(64));
            data.drain(at..at + n);
        }
        5 => {
            let len = rng.below(data.len() + 1);
            data.truncate(len);
        }
        6 => {
            // Splice: the head of this input, the tail of another.
            let other = &seeds[rng.below(seeds.len())];
            let cut = rng.below(data.len() + 1);
            let from = rng.below(other.len() + 1);
            data.truncate(cut);
            data.extend_from_slice(&other[from..]);
        }
        7 if !data.is_empty() => {
            // Text-like: a printable byte, for the .npy dict literal.
            const ALPHABET: &[u8] = b" '(),:0123456789<>|TrueFalsdcipfhonmetyr{}[]\n";
            let i = rng.below(data.len());
            data[i] = ALPHABET[rng.below(ALPHABET.len())];
        }
        _ => {
            let n = rng.below(8);
            for _ in 0..n {
                data.push(rng.byte());
            }
        }
    }
}

/// Recomputes `metadata_crc` (when the metadata lies within the input) and `header_crc`.
fn fix_crcs(data: &mut [u8]) {
    if data.len() < HEADER_LEN {
        return;
    }
    let metadata_len = u64::from_le_bytes(data[48..56].try_into().unwrap());
    if let Some(metadata) = usize::try_from(metadata_len)
        .ok()
        .and_then(|len| len.checked_add(HEADER_LEN))
        .and_then(|end| data.get(HEADER_LEN..end))
    {
        let crc = arrfile_format::crc32(metadata);
        data[44..48].copy_from_slice(&crc.to_le_bytes());
    }
    data[12..16].fill(0);
    let crc = arrfile_format::crc32(&data[..HEADER_LEN]);
    data[12..16].copy_from_slice(&crc.to_le_bytes());
}

/// The in-memory arrfile checks; returns whether the input is a valid file.
fn check_format(data: &[u8]) -> bool {
    let len = data.len() as u64;
    let whole = Header::parse(data, len);
    assert_eq!(Header::parse(&data[..data.len().min(HEADER_LEN)], len), whole);
    match parse(data) {
        Ok(file) => {
            let header = whole.unwrap();
            assert_eq!(file.header, header);
            // A file mid-append (format 1.1) may hold uncommitted rows after its array.
            if header.append_in_progress() {
                assert!(header.file_len() <= len);
            } else {
                assert_eq!(header.file_len(), len);
            }
            assert_eq!(&header.to_bytes()[..], &data[..HEADER_LEN]);
            let _ = file.verify();
            true
        }
        Err(e) => {
            let _ = (e.kind(), e.to_string());
            if let Ok(header) = whole {
                assert_eq!(header.check_prefix(data).err(), Some(e));
            }
            false
        }
    }
}

/// `open`, `verify` and `open_copy` on a real file agree with the in-memory parser.
fn check_mmap(path: &Path, data: &[u8]) {
    std::fs::write(path, data).unwrap();
    let expected = parse(data);
    match (arrfile_mmap::open(path), &expected) {
        (Ok(array), Ok(file)) => {
            assert_eq!(array.header(), &file.header);
            assert_eq!(array.attributes(), file.attributes.as_ref());
            assert_eq!(array.as_bytes(), file.payload);
            assert_eq!(array.verify(), file.verify());
        }
        (Err(e), Err(parse_error)) => assert_eq!(e.parse_error(), Some(parse_error), "{e}"),
        (Ok(_), Err(e)) => panic!("open accepted what parse refuses: {e}"),
        (Err(e), Ok(_)) => panic!("open refused what parse accepts: {e}"),
    }
    if let Ok(mut copy) = arrfile_mmap::open_copy(path) {
        copy.as_bytes_mut().unwrap().iter_mut().for_each(|b| *b = !*b);
        drop(copy);
        assert_eq!(std::fs::read(path).unwrap(), data, "mode c wrote to the file");
    }
    // A valid file mid-append (format 1.1): recovery cuts it back to its committed array.
    if let Ok(file) = &expected
        && file.header.append_in_progress()
    {
        assert!(arrfile_mmap::recover(path).unwrap().changed_the_file());
        let recovered = std::fs::read(path).unwrap();
        assert_eq!(parse(&recovered).unwrap().header, file.header.end_append());
        assert_eq!(&recovered[HEADER_LEN..], &data[HEADER_LEN..recovered.len()]);
    }
}

/// The `.npy` header parsers agree with each other; returns whether the header parsed.
fn check_npy(data: &[u8]) -> bool {
    let plain = npy::parse_header(data);
    let dtype_override =
        data.last().and_then(|&b| Dtype::ALL.get(usize::from(b) % (Dtype::ALL.len() + 1)));
    let with_override = npy::parse_header_with_override(data, dtype_override.copied());
    if dtype_override.is_none() {
        assert_eq!(plain, with_override);
    }
    match (npy::read_header(data, dtype_override.copied()), &with_override) {
        (Ok(read), Ok(parsed)) => assert_eq!(&read, parsed),
        (Err(ReadError::Npy(read)), Err(parsed)) => assert_eq!(read.kind(), parsed.kind()),
        (read, parsed) => panic!("read_header gave {read:?}, parse_header {parsed:?}"),
    }
    for result in [&plain, &with_override] {
        match result {
            Ok(header) => {
                assert!(header.data_offset <= data.len() as u64);
                let _ = header.check_file_len(data.len() as u64);
            }
            Err(e) => {
                let _ = (e.kind(), e.to_string());
            }
        }
    }
    plain.is_ok()
}

fn budget() -> Duration {
    let secs = std::env::var("ARRFILE_HOSTILE_SECS").ok().and_then(|s| s.parse().ok());
    Duration::from_secs(secs.unwrap_or(15).min(110))
}

#[test]
fn random_and_mutated_inputs_through_every_parser() {
    let seeds = seeds();
    let seed = std::env::var("ARRFILE_HOSTILE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x4057_11E5_u64);
    let mut rng = Rng(seed | 1);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hostile.arr");
    let budget = budget();
    let started = Instant::now();
    let (mut inputs, mut through_files, mut valid_arr, mut valid_npy) = (0u64, 0u64, 0u64, 0u64);
    while started.elapsed() < budget {
        for _ in 0..64 {
            let mut data = if rng.below(16) == 0 {
                let len = rng.below(5000);
                (0..len).map(|_| rng.byte()).collect()
            } else {
                seeds[rng.below(seeds.len())].clone()
            };
            for _ in 0..1 + rng.below(6) {
                mutate(&mut rng, &mut data, &seeds);
            }
            if rng.below(2) == 0 {
                fix_crcs(&mut data);
            }
            let to_file = inputs % 16 == 0;
            let outcome = catch_unwind(AssertUnwindSafe(|| {
                let arr = check_format(&data);
                if to_file {
                    check_mmap(&path, &data);
                }
                (arr, check_npy(&data))
            }));
            match outcome {
                Ok((arr, npy)) => {
                    valid_arr += u64::from(arr);
                    valid_npy += u64::from(npy);
                }
                Err(_) => {
                    let saved = std::env::temp_dir().join(format!("arrfile-hostile-{inputs}.bin"));
                    std::fs::write(&saved, &data).unwrap();
                    panic!(
                        "input {inputs} (seed {seed:#x}) made a parser panic; saved to {}",
                        saved.display()
                    );
                }
            }
            inputs += 1;
            through_files += u64::from(to_file);
        }
    }
    eprintln!(
        "hostile smoke: {inputs} inputs in {:.1} s through parse, Header::parse and the .npy parsers, {through_files} of them through open/verify/open_copy on files; {valid_arr} were valid arrfiles, {valid_npy} valid .npy headers (seed {seed:#x})",
        started.elapsed().as_secs_f64()
    );
    assert!(inputs > 1000);
}
