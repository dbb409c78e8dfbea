//! Tests of the `.npy` header codec (`arrfile-npy`) against numpy's own files (`fixtures/npy`, made by
//! `fixtures/npy/generate.py`), plus property tests and one test per error variant.

use std::io::{self, Read};
use std::path::{Path, PathBuf};

use arrfile_format::{ByteOrder, Description, DescriptionError, Dtype, Order};
use arrfile_npy::{self as npy, MAX_HEADER_LEN, NpyError, NpyHeader, ReadError};
use proptest::prelude::*;
use serde_json::Value;

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/npy")
}

fn load_json(name: &str) -> Value {
    let path = fixtures_dir().join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

struct Fixture {
    name: String,
    entry: Value,
    bytes: Vec<u8>,
}

impl Fixture {
    fn str(&self, key: &str) -> &str {
        self.entry[key].as_str().unwrap_or_else(|| panic!("{}: no string {key}", self.name))
    }

    fn u64(&self, key: &str) -> u64 {
        self.entry[key].as_u64().unwrap_or_else(|| panic!("{}: no integer {key}", self.name))
    }

    fn dtype_override(&self) -> Option<Dtype> {
        self.entry["dtype_override"].as_str().map(|name| name.parse().unwrap())
    }

    /// The description the manifest states.
    fn description(&self) -> Description {
        let shape: Vec<u64> = self.entry["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|dim| dim.as_u64().unwrap())
            .collect();
        description(self.str("dtype"), shape, self.str("order"), self.str("byte_order"))
    }
}

fn description(dtype: &str, shape: Vec<u64>, order: &str, byte_order: &str) -> Description {
    let order = match order {
        "C" => Order::C,
        "F" => Order::F,
        other => panic!("order {other}"),
    };
    let byte_order = match byte_order {
        "little" => ByteOrder::Little,
        "big" => ByteOrder::Big,
        "native" => ByteOrder::NATIVE,
        other => panic!("byte order {other}"),
    };
    Description::new(dtype.parse().unwrap(), shape, order, byte_order).unwrap()
}

fn fixtures() -> Vec<Fixture> {
    let manifest = load_json("manifest.json");
    let entries = manifest["fixtures"].as_array().unwrap();
    assert!(entries.len() >= 100, "{} fixtures", entries.len());
    entries
        .iter()
        .map(|entry| {
            let name = entry["file"].as_str().unwrap().to_owned();
            let bytes = std::fs::read(fixtures_dir().join(&name)).unwrap();
            Fixture { name, entry: entry.clone(), bytes }
        })
        .collect()
}

/// `read_header` over `bytes`, with the number of bytes it left unread.
fn read_all(bytes: &[u8], dtype_override: Option<Dtype>) -> (Result<NpyHeader, ReadError>, usize) {
    let mut reader = bytes;
    let result = npy::read_header(&mut reader, dtype_override);
    (result, reader.len())
}

/// The override a writer's output needs to read back: the dtype itself for untyped descrs.
fn override_for(dtype: Dtype) -> Option<Dtype> {
    matches!(dtype, Dtype::BF16 | Dtype::F8E4M3FN | Dtype::F8E5M2).then_some(dtype)
}

#[test]
fn every_fixture_parses_to_its_manifest_entry() {
    let mut seen_ok = 0;
    for fixture in fixtures() {
        let name = &fixture.name;
        let expect = fixture.str("expect");
        let dtype_override = fixture.dtype_override();
        let parsed = npy::parse_header_with_override(&fixture.bytes, dtype_override);
        let (read, left) = read_all(&fixture.bytes, dtype_override);
        let file_len = u64::try_from(fixture.bytes.len()).unwrap();
        assert_eq!(fixture.u64_or_len("file_len"), file_len, "{name}");

        if matches!(expect, "ok" | "truncated_data" | "trailing_bytes") {
            let header = parsed.unwrap_or_else(|e| panic!("{name}: {e}"));
            let version = &fixture.entry["version"];
            assert_eq!(
                (u64::from(header.version.0), u64::from(header.version.1)),
                (version[0].as_u64().unwrap(), version[1].as_u64().unwrap()),
                "{name}"
            );
            assert_eq!(header.descr, fixture.str("descr"), "{name}");
            assert_eq!(header.description, fixture.description(), "{name}");
            assert_eq!(header.data_offset, fixture.u64("data_offset"), "{name}");
            assert_eq!(header.data_len(), fixture.u64("data_len"), "{name}");
            // The reader reads exactly the header and agrees with the slice parser.
            assert_eq!(read.unwrap(), header, "{name}");
            assert_eq!(u64::try_from(left).unwrap(), file_len - header.data_offset, "{name}");

            let found = file_len - header.data_offset;
            let data_check = header.check_file_len(file_len);
            match expect {
                "ok" => {
                    data_check.unwrap();
                    header.check_data_len(found).unwrap();
                    assert_eq!(header.file_len(), file_len, "{name}");
                    let payload = &fixture.bytes[usize::try_from(header.data_offset).unwrap()..];
                    let crc = u64::from(arrfile_format::crc32(payload));
                    assert_eq!(crc, fixture.u64("payload_crc32"), "{name}: payload CRC");
                    seen_ok += 1;
                }
                _ => {
                    let error = data_check.unwrap_err();
                    assert_eq!(error.kind(), expect, "{name}: {error}");
                    let expected = header.data_len();
                    match error {
                        NpyError::TruncatedData { expected: e, found: f }
                        | NpyError::TrailingBytes { expected: e, found: f } => {
                            assert_eq!((e, f), (expected, found), "{name}");
                        }
                        other => panic!("{name}: {other:?}"),
                    }
                }
            }
        } else {
            let error = parsed.expect_err(name);
            assert_eq!(error.kind(), expect, "{name}: {error}");
            match read {
                Err(ReadError::Npy(read_error)) => assert_eq!(read_error, error, "{name}"),
                other => panic!("{name}: read_header gave {other:?}"),
            }
            // Messages name what was found: never empty, never a bare kind.
            assert!(error.to_string().len() > 20, "{name}: {error}");
        }
    }
    assert!(seen_ok >= 60, "{seen_ok} valid fixtures");
}

impl Fixture {
    fn u64_or_len(&self, key: &str) -> u64 {
        self.entry[key].as_u64().unwrap_or(u64::try_from(self.bytes.len()).unwrap())
    }
}

#[test]
fn write_header_reproduces_numpy_files_byte_for_byte() {
    let mut compared = 0;
    for fixture in fixtures() {
        if fixture.entry["numpy_default_header"] != Value::Bool(true) {
            continue;
        }
        let desc = fixture.description();
        let offset = usize::try_from(fixture.u64("data_offset")).unwrap();
        let written = npy::write_header(&desc).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&written),
            String::from_utf8_lossy(&fixture.bytes[..offset]),
            "{}",
            fixture.name
        );
        assert_eq!(written, fixture.bytes[..offset], "{}", fixture.name);
        compared += 1;
    }
    assert!(compared >= 40, "only {compared} fixtures compared");
}

#[test]
fn write_header_matches_numpy_header_writer() {
    let doc = load_json("headers.json");
    let cases = doc["cases"].as_array().unwrap();
    assert!(cases.len() >= 150);
    let mut full_padding = 0;
    for case in cases {
        let shape: Vec<u64> =
            case["shape"].as_array().unwrap().iter().map(|d| d.as_u64().unwrap()).collect();
        let desc = description(
            case["dtype"].as_str().unwrap(),
            shape,
            case["order"].as_str().unwrap(),
            case["byte_order"].as_str().unwrap(),
        );
        // The header is stored as latin-1 text: one char per byte.
        let expected: Vec<u8> = case["header"]
            .as_str()
            .unwrap()
            .chars()
            .map(|c| u8::try_from(u32::from(c)).unwrap())
            .collect();
        let written = npy::write_header(&desc).unwrap();
        assert_eq!(String::from_utf8_lossy(&written), String::from_utf8_lossy(&expected), "{desc}");
        assert_eq!(written, expected, "{desc}");
        let parsed = npy::parse_header_with_override(&written, override_for(desc.dtype())).unwrap();
        assert_eq!(parsed.description, as_numpy_writes(&desc));
        if case["padlen"] == 64 {
            full_padding += 1;
        }
    }
    assert!(full_padding > 0, "no case where numpy pads with 64 spaces");
}

/// The description as `np.save` records it: an array whose bytes are the same in C and F
/// order (at most one dimension above 1, or no elements) is written `fortran_order: False`.
fn as_numpy_writes(desc: &Description) -> Description {
    let both = desc.element_count() == 0 || desc.shape().iter().filter(|&&d| d > 1).count() <= 1;
    if both { desc.clone().with_order(arrfile_format::Order::C) } else { desc.clone() }
}

#[test]
fn valid_fixture_descriptions_round_trip_through_write_header() {
    for fixture in fixtures().iter().filter(|f| f.str("expect") == "ok") {
        let desc = fixture.description();
        let written = npy::write_header(&desc).unwrap();
        assert_eq!(written.len() % 64, 0, "{}", fixture.name);
        let parsed = npy::parse_header_with_override(&written, override_for(desc.dtype())).unwrap();
        assert_eq!(parsed.description, as_numpy_writes(&desc), "{}", fixture.name);
        assert_eq!(parsed.version, (1, 0));
    }
}

// ---------------------------------------------------------------------------------------------
// Property tests.

fn dtype_strategy() -> impl Strategy<Value = Dtype> {
    prop::sample::select(Dtype::ALL.to_vec())
}

fn dim_strategy() -> impl Strategy<Value = u64> {
    prop_oneof![
        4 => 0..4u64,
        2 => 0..100_000u64,
        1 => (any::<u64>(), 0..64u32).prop_map(|(v, shift)| v >> shift),
    ]
}

fn description_strategy() -> impl Strategy<Value = Description> {
    let shape = prop_oneof![
        3 => prop::collection::vec(dim_strategy(), 0..=6),
        1 => prop::collection::vec(0..=2u64, 0..=64),
    ];
    (dtype_strategy(), shape, any::<bool>(), any::<bool>()).prop_map(|(dtype, shape, f, big)| {
        let order = if f { Order::F } else { Order::C };
        let byte_order = if big { ByteOrder::Big } else { ByteOrder::Little };
        // Shapes above the size bound fall back to smaller ones.
        Description::new(dtype, shape.clone(), order, byte_order)
            .or_else(|_| {
                let small: Vec<u64> = shape.iter().take(6).map(|d| d % 1000).collect();
                Description::new(dtype, small, order, byte_order)
            })
            .unwrap_or_else(|_| Description::new(dtype, vec![], order, byte_order).unwrap())
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4096, ..ProptestConfig::default() })]

    #[test]
    fn write_then_parse_gives_the_same_description(desc in description_strategy()) {
        let written = npy::write_header(&desc).unwrap();
        prop_assert_eq!(written.len() % 64, 0);
        let header = npy::parse_header_with_override(&written, override_for(desc.dtype())).unwrap();
        // One-byte dtypes have no byte order in .npy; they read back as little-endian.
        let expected = if desc.dtype().itemsize() == 1 {
            as_numpy_writes(&desc).with_byte_order(ByteOrder::Little)
        } else {
            as_numpy_writes(&desc)
        };
        prop_assert_eq!(&header.description, &expected);
        prop_assert_eq!(header.data_offset, u64::try_from(written.len()).unwrap());
        prop_assert_eq!(header.data_offset % 64, 0);
        prop_assert_eq!(header.version, (1, 0));
        prop_assert_eq!(header.data_len(), desc.data_len());
        // And the reader agrees, reading exactly the header.
        let (read, left) = read_all(&written, override_for(desc.dtype()));
        prop_assert_eq!(read.unwrap(), header);
        prop_assert_eq!(left, 0);
    }
}

/// Checks the properties every input must have, whatever its bytes.
fn check_total(bytes: &[u8], dtype_override: Option<Dtype>) -> Result<(), TestCaseError> {
    let parsed = npy::parse_header_with_override(bytes, dtype_override);
    let (read, left) = read_all(bytes, dtype_override);
    match (&parsed, read) {
        (Ok(header), Ok(read)) => {
            prop_assert_eq!(header, &read);
            let offset = usize::try_from(header.data_offset).unwrap();
            prop_assert!(offset <= bytes.len());
            prop_assert_eq!(left, bytes.len() - offset);
            // Whatever was accepted can be written again and reads back the same.
            let written = npy::write_header(&header.description).unwrap();
            let again =
                npy::parse_header_with_override(&written, override_for(header.description.dtype()))
                    .unwrap();
            prop_assert_eq!(&again.description, &as_numpy_writes(&header.description));
            let _ = header.check_file_len(u64::try_from(bytes.len()).unwrap());
        }
        (Err(error), Err(ReadError::Npy(read_error))) => {
            prop_assert_eq!(error, &read_error);
            prop_assert!(!error.to_string().is_empty());
            prop_assert!(!error.kind().is_empty());
        }
        (parsed, read) => prop_assert!(false, "parse {parsed:?} but read {read:?}"),
    }
    Ok(())
}

/// Values for building dict-like headers, so that random input reaches the parser's semantic
/// checks and not only its syntax errors: per key, then anything.
const DESCRS: &[&str] = &[
    "'<f4'",
    "'>i2'",
    "'|u1'",
    "'|b1'",
    "'<c16'",
    "'<V2'",
    "'|V1'",
    "'<f1'",
    "'|O'",
    "'<U10'",
    "'<M8[ns]'",
    "'=f8'",
    "'i8'",
    "'<f16'",
    "u'>u8'",
    "\"<i4\"",
    "[('a', '<f4'), ('b', '<i2', (2,))]",
    "{'names': ['a'], 'formats': ['<f4']}",
];
const ORDERS: &[&str] = &["True", "False"];
const SHAPES: &[&str] = &[
    "()",
    "(0,)",
    "(3,)",
    "(2, 3)",
    "(2L, 3L)",
    "(7, 0, 5,)",
    "(-0,)",
    "(4611686018427387904,)",
    "(1152921504606846976, 3)",
    "(1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1)",
];
const OTHER_VALUES: &[&str] =
    &["None", "0", "(5)", "[2]", "(-1,)", "(18446744073709551616,)", "'x'"];
const KEYS: &[&str] = &["'descr'", "'fortran_order'", "'shape'", "'align'"];
const NOISE: &[&str] = &[
    "{", "}", "(", ")", "[", "]", ":", ",", " ", "\n", "\t", "'", "\"", "\\", "#", "\u{e9}", "-",
    "L", "x", "1",
];

/// One `key: value` entry: a value for the key three times in four, else any value.
fn entry_text(key: usize, fitting: bool, value: prop::sample::Index) -> String {
    let values: &[&str] = match (fitting, key) {
        (true, 0) => DESCRS,
        (true, 1) => ORDERS,
        (true, 2) => SHAPES,
        _ => OTHER_VALUES,
    };
    format!("{}: {}", KEYS[key], values[value.index(values.len())])
}

/// A dict of the three keys in random order, sometimes one dropped, repeated or a fourth key
/// added, then 0 to 2 insertions of [`NOISE`] (none half the time).
fn header_like() -> impl Strategy<Value = Vec<u8>> {
    let entries = (
        Just(vec![0usize, 1, 2]).prop_shuffle(),
        prop::collection::vec((prop::bool::weighted(0.85), any::<prop::sample::Index>()), 4),
        prop_oneof![6 => Just(None), 1 => (0..4usize).prop_map(Some)],
        prop_oneof![6 => Just(None), 1 => (0..3usize).prop_map(Some)],
    )
        .prop_map(|(order, values, extra, dropped)| {
            let mut keys: Vec<usize> = order.into_iter().filter(|&k| Some(k) != dropped).collect();
            keys.extend(extra);
            keys.iter()
                .zip(values)
                .map(|(&key, (fitting, value))| entry_text(key, fitting, value))
                .collect::<Vec<_>>()
        });
    let noise = prop_oneof![
        1 => Just(vec![]),
        1 => prop::collection::vec((any::<prop::sample::Index>(), any::<prop::sample::Index>()), 1..3),
    ];
    (
        prop::sample::select(vec![(1u8, 0u8), (2, 0), (3, 0)]),
        entries,
        any::<bool>(),
        noise,
        prop::collection::vec(any::<u8>(), 0..16),
    )
        .prop_map(|(version, entries, trailing_comma, noise, tail)| {
            let mut text =
                format!("{{{}{}}}", entries.join(", "), if trailing_comma { ", " } else { "" });
            for (at, token) in noise {
                let mut at = at.index(text.len() + 1);
                while !text.is_char_boundary(at) {
                    at -= 1;
                }
                text.insert_str(at, NOISE[token.index(NOISE.len())]);
            }
            let mut out = npy::MAGIC.to_vec();
            out.extend_from_slice(&[version.0, version.1]);
            if version == (1, 0) {
                out.extend_from_slice(&u16::try_from(text.len()).unwrap().to_le_bytes());
            } else {
                out.extend_from_slice(&u32::try_from(text.len()).unwrap().to_le_bytes());
            }
            out.extend_from_slice(text.as_bytes());
            out.extend_from_slice(&tail);
            out
        })
}

fn fixture_prefixes() -> Vec<Vec<u8>> {
    fixtures().into_iter().map(|f| f.bytes.into_iter().take(400).collect()).collect()
}

/// Random edits, mostly within the first 140 bytes (the header of most fixtures): overwrite
/// (ops 0 to 3), insert (4, 5), delete (6) or truncate (7).
fn mutate(mut bytes: Vec<u8>, edits: &[(usize, u8, u8)]) -> Vec<u8> {
    for &(position, value, op) in edits {
        let len = bytes.len();
        let window = len.min(140);
        match op {
            0..=3 if window > 0 => bytes[position % window] = value,
            4 | 5 => bytes.insert(position % (window + 1), value),
            6 if window > 0 => {
                bytes.remove(position % window);
            }
            _ => bytes.truncate(position % (len + 1)),
        }
    }
    bytes
}

fn override_strategy() -> impl Strategy<Value = Option<Dtype>> {
    prop_oneof![2 => Just(None), 1 => dtype_strategy().prop_map(Some)]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 10_000, ..ProptestConfig::default() })]

    #[test]
    fn parse_is_total_on_random_bytes(
        bytes in prop::collection::vec(any::<u8>(), 0..200),
        dtype_override in override_strategy(),
    ) {
        check_total(&bytes, dtype_override)?;
        // And behind a valid magic and version, so the length and dict code is reached.
        for version in [[1u8, 0u8], [2, 0], [3, 0]] {
            let mut framed = npy::MAGIC.to_vec();
            framed.extend_from_slice(&version);
            framed.extend_from_slice(&bytes);
            check_total(&framed, dtype_override)?;
        }
    }

    #[test]
    fn parse_is_total_on_header_like_text(
        bytes in header_like(),
        dtype_override in override_strategy(),
    ) {
        check_total(&bytes, dtype_override)?;
    }

    #[test]
    fn parse_is_total_on_mutated_fixtures(
        index in any::<prop::sample::Index>(),
        edits in prop::collection::vec((any::<usize>(), any::<u8>(), 0..8u8), 1..4),
        dtype_override in override_strategy(),
    ) {
        thread_local! {
            static PREFIXES: Vec<Vec<u8>> = fixture_prefixes();
        }
        let bytes = PREFIXES.with(|prefixes| index.get(prefixes).clone());
        check_total(&mutate(bytes, &edits), dtype_override)?;
    }
}

// ---------------------------------------------------------------------------------------------
// One test per error variant, checking what each carries.

/// A version 1.0 file with header text `text`, padded like numpy's, and no data.
fn v1(text: &str) -> Vec<u8> {
    let mut out = npy::MAGIC.to_vec();
    out.extend_from_slice(&[1, 0, 0, 0]);
    out.extend_from_slice(text.as_bytes());
    while !(out.len() + 1).is_multiple_of(64) {
        out.push(b' ');
    }
    out.push(b'\n');
    let len = u16::try_from(out.len() - 10).unwrap();
    out[8..10].copy_from_slice(&len.to_le_bytes());
    out
}

fn dict(descr: &str, fortran: &str, shape: &str) -> Vec<u8> {
    v1(&format!("{{'descr': {descr}, 'fortran_order': {fortran}, 'shape': {shape}, }}"))
}

fn err(bytes: &[u8]) -> NpyError {
    npy::parse_header(bytes).unwrap_err()
}

fn err_with(bytes: &[u8], dtype_override: Dtype) -> NpyError {
    npy::parse_header_with_override(bytes, Some(dtype_override)).unwrap_err()
}

#[test]
fn error_truncated_header() {
    assert_eq!(err(b""), NpyError::TruncatedHeader { needed: 10, found: 0 });
    assert_eq!(err(b"\x93NUM"), NpyError::TruncatedHeader { needed: 10, found: 4 });
    assert_eq!(err(b"\x93NUMPY\x01\x00\x76"), NpyError::TruncatedHeader { needed: 10, found: 9 });
    assert_eq!(
        err(b"\x93NUMPY\x02\x00\x76\x00"),
        NpyError::TruncatedHeader { needed: 12, found: 10 }
    );
    let file = dict("'<f4'", "False", "(2,)");
    let error = err(&file[..100]);
    assert_eq!(error, NpyError::TruncatedHeader { needed: 128, found: 100 });
    assert_eq!(error.to_string(), "truncated .npy header: expected at least 128 bytes, found 100");
}

#[test]
fn error_bad_magic() {
    let error = err(b"PK\x03\x04\x14\x00\x00\x00\x08\x00");
    assert_eq!(error, NpyError::BadMagic { found: b"PK\x03\x04\x14\x00".to_vec() });
    assert_eq!(
        error.to_string(),
        "not a .npy file: expected the magic 93 4e 55 4d 50 59, found 50 4b 03 04 14 00"
    );
    // A short input that already differs is not a .npy file, rather than truncated.
    assert_eq!(err(b"\x93NUX"), NpyError::BadMagic { found: b"\x93NUX".to_vec() });
    // An arrfile.
    assert_eq!(err(&arrfile_format::MAGIC).kind(), "bad_magic");
}

#[test]
fn error_unsupported_version() {
    let mut file = dict("'<f4'", "False", "(2,)");
    for (major, minor) in [(0, 0), (1, 1), (4, 0), (255, 255)] {
        file[6] = major;
        file[7] = minor;
        let error = err(&file);
        assert_eq!(error, NpyError::UnsupportedVersion { major, minor });
        assert!(error.to_string().contains(&format!("{major}.{minor}")), "{error}");
    }
}

#[test]
fn error_header_too_large() {
    let mut file = b"\x93NUMPY\x02\x00".to_vec();
    file.extend_from_slice(&(MAX_HEADER_LEN + 1).to_le_bytes());
    file.extend_from_slice(b"{'descr'");
    let error = err(&file);
    assert_eq!(
        error,
        NpyError::HeaderTooLarge { limit: 1 << 20, found: u64::from(MAX_HEADER_LEN) + 1 }
    );
    assert_eq!(
        error.to_string(),
        "the .npy header is too large: the limit is 1048576 bytes, the file states 1048577"
    );
    // Exactly the cap is only truncated here: the cap is inclusive.
    file[8..12].copy_from_slice(&MAX_HEADER_LEN.to_le_bytes());
    assert_eq!(err(&file).kind(), "truncated_header");
}

/// A reader that serves `data`, then fails the test if read again.
struct ReadOnce<'a> {
    data: &'a [u8],
}

impl Read for ReadOnce<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        assert!(!self.data.is_empty(), "read past the preamble");
        let n = buf.len().min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

#[test]
fn read_header_refuses_a_huge_length_before_reading_it() {
    let mut preamble = b"\x93NUMPY\x03\x00".to_vec();
    preamble.extend_from_slice(&u32::MAX.to_le_bytes());
    match npy::read_header(ReadOnce { data: &preamble }, None) {
        Err(ReadError::Npy(NpyError::HeaderTooLarge { limit, found })) => {
            assert_eq!((limit, found), (1 << 20, u64::from(u32::MAX)));
        }
        other => panic!("{other:?}"),
    }
}

/// A reader that returns one byte per call and an `Interrupted` error between calls.
struct Trickle<'a> {
    data: &'a [u8],
    interrupt: bool,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.interrupt = !self.interrupt;
        if self.interrupt {
            return Err(io::ErrorKind::Interrupted.into());
        }
        match (self.data.split_first(), buf.first_mut()) {
            (Some((&byte, rest)), Some(slot)) => {
                *slot = byte;
                self.data = rest;
                Ok(1)
            }
            _ => Ok(0),
        }
    }
}

#[test]
fn read_header_handles_short_reads_and_leaves_the_data() {
    let mut file = dict("'>i2'", "True", "(2, 3)");
    let offset = file.len();
    file.extend_from_slice(&[7; 12]);
    let mut reader = Trickle { data: &file, interrupt: false };
    let header = npy::read_header(&mut reader, None).unwrap();
    assert_eq!(header, npy::parse_header(&file).unwrap());
    assert_eq!(u64::try_from(offset).unwrap(), header.data_offset);
    assert_eq!(reader.data, &[7; 12]);
    // Truncated inside the header text: the count includes what was read.
    let mut reader = Trickle { data: &file[..70], interrupt: false };
    match npy::read_header(&mut reader, None) {
        Err(ReadError::Npy(error)) => {
            assert_eq!(error, NpyError::TruncatedHeader { needed: 128, found: 70 });
        }
        other => panic!("{other:?}"),
    }
}

struct Failing;

impl Read for Failing {
    fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
        Err(io::Error::new(io::ErrorKind::PermissionDenied, "no"))
    }
}

#[test]
fn error_io_from_the_reader() {
    let error = npy::read_header(Failing, None).unwrap_err();
    assert!(matches!(&error, ReadError::Io(e) if e.kind() == io::ErrorKind::PermissionDenied));
    assert_eq!(error.to_string(), "cannot read the .npy header");
    assert!(std::error::Error::source(&error).is_some());
}

#[test]
fn error_header_encoding() {
    let mut file = b"\x93NUMPY\x03\x00".to_vec();
    let text = b"{'descr': '<f\xff4', 'fortran_order': False, 'shape': (2,), }\n";
    file.extend_from_slice(&u32::try_from(text.len()).unwrap().to_le_bytes());
    file.extend_from_slice(text);
    assert_eq!(err(&file), NpyError::HeaderEncoding { offset: 12 + 13 });
    // In version 2.0 the same bytes are latin-1, and '<fÿ4' is just an unknown descr.
    file[6] = 2;
    assert_eq!(err(&file), NpyError::UnknownDescr { descr: "<f\u{ff}4".into() });
    // UTF-8 in a version 3.0 key is read as UTF-8.
    let mut file = b"\x93NUMPY\x03\x00".to_vec();
    let text = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), '\u{e9}t\u{e9}': 1}";
    file.extend_from_slice(&u32::try_from(text.len()).unwrap().to_le_bytes());
    file.extend_from_slice(text.as_bytes());
    assert_eq!(err(&file), NpyError::UnknownKey { key: "\u{e9}t\u{e9}".into() });
}

#[test]
fn error_syntax() {
    let cases: &[(&str, u64, &str, &str)] = &[
        ("", 10, "'{' opening the header dict", "the end of the header"),
        ("['descr']", 10, "'{' opening the header dict", "'['"),
        ("{'descr': '<f4' 'shape': (2,)}", 26, "',' or '}'", "the string 'shape'"),
        ("{'descr' '<f4'}", 19, "':' after the key", "the string '<f4'"),
        ("{,}", 11, "a quoted key or '}'", "','"),
        ("{descr: '<f4'}", 11, "a quoted key or '}'", "the name descr"),
        ("{'shape': (2, 3}", 25, "',' or ')'", "'}'"),
        ("{'shape': (,)}", 21, "an integer or ')'", "','"),
        ("{'shape': (2,,)}", 23, "an integer or ')'", "','"),
        ("{'descr': '<f4', # c\n}", 27, "a Python literal", "the character '#'"),
        ("{'descr': '<\\x66'}", 22, "a string without escape sequences", "a backslash"),
        ("{'descr': '<f4}", 25, "a closing quote", "the end of the header"),
        ("{'descr': '<f4\n'}", 24, "a closing quote", "a line break"),
        ("{'shape': (-,)}", 22, "a digit after '-'", "the character ','"),
        ("{} {}", 13, "the end of the header after '}'", "'{'"),
        ("{}\0", 12, "a Python literal", "the byte 0x00"),
        ("{'descr': [('a', '<f4']}", 32, "')'", "']'"),
        (
            "{'descr': [[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]}",
            36,
            "brackets nested at most 16 deep",
            "'['",
        ),
    ];
    for &(text, offset, expected, found) in cases {
        let mut file = npy::MAGIC.to_vec();
        file.extend_from_slice(&[1, 0]);
        file.extend_from_slice(&u16::try_from(text.len()).unwrap().to_le_bytes());
        file.extend_from_slice(text.as_bytes());
        let error = err(&file);
        assert_eq!(
            error,
            NpyError::Syntax { offset, expected, found: found.into() },
            "{text:?}: {error}"
        );
    }
    let error = err(&v1("{'descr': '<f4'; }"));
    assert_eq!(
        error.to_string(),
        "malformed .npy header at offset 25: expected a Python literal, found the character ';'"
    );
}

#[test]
fn error_unknown_key() {
    let error = err(&v1("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'align': 64}"));
    assert_eq!(error, NpyError::UnknownKey { key: "align".into() });
    assert!(error.to_string().contains("\"align\""), "{error}");
    // A long key is quoted cut short.
    let long = "k".repeat(500);
    match err(&v1(&format!("{{'{long}': 1}}"))) {
        NpyError::UnknownKey { key } => assert!(key.len() < 120 && key.contains("(500 bytes)")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn error_duplicate_key() {
    let error = err(&v1("{'shape': (2,), 'descr': '<f4', 'fortran_order': False, 'shape': ()}"));
    assert_eq!(error, NpyError::DuplicateKey { key: "shape" });
    assert_eq!(error.to_string(), "key \"shape\" appears twice in the .npy header");
}

#[test]
fn error_missing_key() {
    assert_eq!(err(&v1("{}")), NpyError::MissingKey { key: "descr" });
    assert_eq!(
        err(&v1("{'descr': '<f4', 'shape': (2,)}")),
        NpyError::MissingKey { key: "fortran_order" }
    );
    assert_eq!(
        err(&v1("{'fortran_order': False, 'descr': '<f4'}")),
        NpyError::MissingKey { key: "shape" }
    );
}

#[test]
fn error_invalid_value() {
    let cases: &[(Vec<u8>, &str, &str)] = &[
        (dict("'<f4'", "0", "(2,)"), "fortran_order", "the integer 0"),
        (dict("'<f4'", "'False'", "(2,)"), "fortran_order", "the string 'False'"),
        (dict("'<f4'", "false", "(2,)"), "fortran_order", "the name false"),
        (dict("4", "False", "(2,)"), "descr", "the integer 4"),
        (dict("None", "False", "(2,)"), "descr", "the name None"),
        (dict("('<f4', (2,))", "False", "(2,)"), "descr", "'('"),
        (dict("'<f4'", "False", "[2]"), "shape", "'['"),
        (dict("'<f4'", "False", "2"), "shape", "the integer 2"),
        (dict("'<f4'", "False", "(2)"), "shape", "(2)"),
        (dict("'<f4'", "False", "(-2,)"), "shape", "the dimension -2"),
        (dict("'<f4'", "False", "(2, None)"), "shape", "the name None"),
        (dict("'<f4'", "False", "((2,),)"), "shape", "'('"),
        (
            dict("'<f4'", "False", "(18446744073709551616,)"),
            "shape",
            "the dimension 18446744073709551616",
        ),
    ];
    for (file, key, found) in cases {
        match err(file) {
            NpyError::InvalidValue { key: k, found: f, expected } => {
                assert_eq!((k, f.as_str()), (*key, *found), "{expected}");
            }
            other => panic!("{key} {found}: {other:?}"),
        }
    }
    // The largest u64 is a valid dimension to the parser (the size bound refuses it later).
    assert_eq!(err(&dict("'<f4'", "False", "(18446744073709551615,)")).kind(), "size_overflow");
}

#[test]
fn error_object_dtype() {
    for descr in ["|O", "O", "<O8", "=O"] {
        let error = err(&dict(&format!("'{descr}'"), "False", "(2,)"));
        assert_eq!(error, NpyError::ObjectDtype { descr: descr.into() });
        assert!(error.to_string().contains("pickle"), "{error}");
    }
}

#[test]
fn error_structured_dtype() {
    let error = err(&dict("[('a', '<f4'), ('b', '<i2', (2,))]", "False", "(2,)"));
    assert_eq!(
        error,
        NpyError::StructuredDtype { descr: "[('a', '<f4'), ('b', '<i2', (2,))]".into() }
    );
    let error = err(&dict("{'names': ['a'], 'formats': ['<f4']}", "False", "(2,)"));
    assert_eq!(error.kind(), "structured_dtype");
    // An override does not make it acceptable.
    let error = err_with(&dict("[('a', '<f4')]", "False", "(2,)"), Dtype::F32);
    assert_eq!(error.kind(), "structured_dtype");
}

#[test]
fn error_string_dtype() {
    for descr in ["<U10", "|S5", "|a5", ">U1"] {
        let error = err(&dict(&format!("'{descr}'"), "False", "(2,)"));
        assert_eq!(error, NpyError::StringDtype { descr: descr.into() });
    }
}

#[test]
fn error_datetime_dtype() {
    for descr in ["<M8[ns]", ">m8[s]", "<m8", "<M8"] {
        let error = err(&dict(&format!("'{descr}'"), "False", "(2,)"));
        assert_eq!(error, NpyError::DatetimeDtype { descr: descr.into() });
    }
}

#[test]
fn error_untyped_descr() {
    for (descr, itemsize) in [("<V2", 2), ("|V1", 1), ("<f1", 1), ("|V16", 16)] {
        let error = err(&dict(&format!("'{descr}'"), "False", "(2,)"));
        assert_eq!(error, NpyError::UntypedDescr { descr: descr.into(), itemsize });
        assert!(error.to_string().contains("give the element type"), "{error}");
    }
}

#[test]
fn untyped_descrs_read_with_an_override() {
    let cases = [
        ("<V2", Dtype::BF16, ByteOrder::Little),
        (">V2", Dtype::BF16, ByteOrder::Big),
        ("|V2", Dtype::BF16, ByteOrder::NATIVE),
        ("<V1", Dtype::F8E4M3FN, ByteOrder::Little),
        ("|V1", Dtype::F8E5M2, ByteOrder::Little),
        ("<f1", Dtype::F8E5M2, ByteOrder::Little),
        ("<V4", Dtype::F32, ByteOrder::Little),
    ];
    for (descr, dtype, byte_order) in cases {
        let file = dict(&format!("'{descr}'"), "False", "(2, 3)");
        let header = npy::parse_header_with_override(&file, Some(dtype)).unwrap();
        assert_eq!(
            header.description,
            Description::new(dtype, vec![2, 3], Order::C, byte_order).unwrap()
        );
        assert_eq!(header.descr, descr);
    }
    // An override equal to the descr's own dtype is accepted.
    let file = dict("'>f4'", "False", "(2,)");
    let header = npy::parse_header_with_override(&file, Some(Dtype::F32)).unwrap();
    assert_eq!(header.description.byte_order(), ByteOrder::Big);
}

#[test]
fn error_unknown_descr() {
    for descr in
        ["<f16", "<c32", "<f3", "<bf16", "float32", "<i8 ", "", "<", "V", "<V0", "<V+2", "<<f4"]
    {
        let error = err(&dict(&format!("'{descr}'"), "False", "(2,)"));
        assert_eq!(error, NpyError::UnknownDescr { descr: descr.into() }, "{descr:?}");
    }
}

#[test]
fn error_override_size_mismatch() {
    let error = err_with(&dict("'<V2'", "False", "(2,)"), Dtype::F32);
    assert_eq!(
        error,
        NpyError::OverrideSizeMismatch {
            descr: "<V2".into(),
            itemsize: 2,
            dtype_override: Dtype::F32
        }
    );
    assert_eq!(
        error.to_string(),
        "dtype f32 (4 bytes) cannot stand for \"<V2\", which has 2-byte elements"
    );
}

#[test]
fn error_override_conflict() {
    let error = err_with(&dict("'<u2'", "False", "(2,)"), Dtype::BF16);
    assert_eq!(
        error,
        NpyError::OverrideConflict {
            descr: "<u2".into(),
            found: Dtype::U16,
            dtype_override: Dtype::BF16
        }
    );
    assert_eq!(error.to_string(), "dtype bf16 was given, but the file's descr \"<u2\" says u16");
}

#[test]
fn error_shape_too_many_dimensions() {
    let shape = format!("({})", "1, ".repeat(65));
    let error = err(&dict("'|u1'", "False", &shape));
    assert_eq!(error, NpyError::Shape(DescriptionError::TooManyDimensions { ndim: 65 }));
    assert_eq!(error.kind(), "too_many_dimensions");
    // The count is exact, not capped, though only 64 dimensions are stored.
    let shape = format!("({})", "1, ".repeat(1000));
    assert_eq!(
        err(&dict("'|u1'", "False", &shape)),
        NpyError::Shape(DescriptionError::TooManyDimensions { ndim: 1000 })
    );
    // 64 is the maximum.
    let shape = format!("({})", "1, ".repeat(64));
    assert_eq!(npy::parse_header(&dict("'|u1'", "False", &shape)).unwrap().description.ndim(), 64);
}

#[test]
fn error_shape_size_overflow() {
    let error = err(&dict("'<f4'", "False", "(4611686018427387904, 2)"));
    assert_eq!(
        error,
        NpyError::Shape(DescriptionError::SizeOverflow {
            dtype: Dtype::F32,
            shape: vec![1 << 62, 2]
        })
    );
    assert_eq!(error.kind(), "size_overflow");
    // Exactly 2^62 bytes is allowed, as are zero-size arrays with huge dimensions.
    let ok = npy::parse_header(&dict("'<f4'", "False", "(1152921504606846976,)")).unwrap();
    assert_eq!(ok.data_len(), 1 << 62);
    let ok = npy::parse_header(&dict("'<f4'", "False", "(0, 1152921504606846976)")).unwrap();
    assert_eq!(ok.data_len(), 0);
}

#[test]
fn error_truncated_data_and_trailing_bytes() {
    let file = dict("'<f4'", "False", "(2, 3)");
    let header = npy::parse_header(&file).unwrap();
    assert_eq!((header.data_offset, header.data_len(), header.file_len()), (128, 24, 152));
    assert_eq!(header.check_file_len(152), Ok(()));
    let truncated = header.check_file_len(151).unwrap_err();
    assert_eq!(truncated, NpyError::TruncatedData { expected: 24, found: 23 });
    assert_eq!(
        truncated.to_string(),
        "truncated .npy data: the header describes 24 bytes, found 23"
    );
    assert_eq!(header.check_file_len(10), Err(NpyError::TruncatedData { expected: 24, found: 0 }));
    let trailing = header.check_file_len(160).unwrap_err();
    assert_eq!(trailing, NpyError::TrailingBytes { expected: 24, found: 32 });
    assert_eq!(
        trailing.to_string(),
        "trailing bytes after the .npy data: the header describes 24 bytes, found 32"
    );
    assert_eq!(header.check_data_len(24), Ok(()));
    assert_eq!(header.check_data_len(u64::MAX).unwrap_err().kind(), "trailing_bytes");
}

// NpyError::NoNumpyDescr cannot be produced: every dtype of the current table has a descr.
#[test]
fn every_dtype_has_a_descr_and_reads_back() {
    for dtype in Dtype::ALL {
        for byte_order in [ByteOrder::Little, ByteOrder::Big] {
            let desc = Description::new(dtype, vec![3], Order::C, byte_order).unwrap();
            let written = npy::write_header(&desc).unwrap();
            let header = npy::parse_header_with_override(&written, override_for(dtype)).unwrap();
            assert_eq!(header.description.dtype(), dtype);
            let expected_descr = match (dtype, byte_order) {
                (Dtype::BF16, ByteOrder::Little) => "<V2".to_owned(),
                (Dtype::BF16, ByteOrder::Big) => ">V2".to_owned(),
                (Dtype::F8E4M3FN | Dtype::F8E5M2, _) => "|V1".to_owned(),
                _ => dtype.numpy_descr(byte_order).unwrap(),
            };
            assert_eq!(header.descr, expected_descr);
        }
    }
}

#[test]
fn header_forms_numpy_reads() {
    // Python 2 longs, u'' strings, double quotes, no trailing comma, any key order, -0,
    // whitespace everywhere legal, and no final newline.
    let file = v1(" \t{ \"shape\" :( 2L ,3l, ) ,\n u'fortran_order':True ,'descr':'>u4'}\r\n");
    let header = npy::parse_header(&file).unwrap();
    assert_eq!(
        header.description,
        Description::new(Dtype::U32, vec![2, 3], Order::F, ByteOrder::Big).unwrap()
    );
    let header =
        npy::parse_header(&v1("{'descr': '|b1', 'fortran_order': False, 'shape': (-0,)}")).unwrap();
    assert_eq!(header.description.shape(), &[0]);
    // Byte order: '=' and no prefix are the host's; one-byte types are always little.
    let header =
        npy::parse_header(&v1("{'descr': '=c8', 'fortran_order': False, 'shape': ()}")).unwrap();
    assert_eq!(header.description.byte_order(), ByteOrder::NATIVE);
    let header =
        npy::parse_header(&v1("{'descr': '>i1', 'fortran_order': False, 'shape': ()}")).unwrap();
    assert_eq!(header.description.byte_order(), ByteOrder::Little);
    assert_eq!(header.description.dtype(), Dtype::I8);
    // Trailing data after the header in the prefix is ignored by the header parser.
    let mut file = dict("'<f8'", "False", "()");
    file.extend_from_slice(&2.5f64.to_le_bytes());
    let header = npy::parse_header(&file).unwrap();
    assert_eq!((header.data_offset, header.data_len()), (128, 8));
}

#[test]
fn write_header_exact_bytes() {
    let cases: &[(Description, &str)] = &[
        (
            Description::c_order(Dtype::F64, vec![]).unwrap(),
            "{'descr': '<f8', 'fortran_order': False, 'shape': (), }",
        ),
        (
            Description::new(Dtype::I16, vec![5], Order::C, ByteOrder::Big).unwrap(),
            "{'descr': '>i2', 'fortran_order': False, 'shape': (5,), }                    ",
        ),
        (
            Description::new(Dtype::Bool, vec![2, 300], Order::F, ByteOrder::Little).unwrap(),
            "{'descr': '|b1', 'fortran_order': True, 'shape': (2, 300), }                  ",
        ),
    ];
    for (desc, text) in cases {
        let written = npy::write_header(desc).unwrap();
        let body = &written[10..];
        assert!(body.starts_with(text.as_bytes()), "{}", String::from_utf8_lossy(body));
        let padding = &body[text.len()..];
        assert!(padding.ends_with(b"\n"));
        assert!(padding[..padding.len() - 1].iter().all(|&b| b == b' '));
        assert!((1..=64).contains(&(padding.len() - 1)));
        assert_eq!(written.len() % 64, 0);
        assert_eq!(&written[..8], b"\x93NUMPY\x01\x00");
        assert_eq!(usize::from(u16::from_le_bytes([written[8], written[9]])), written.len() - 10);
    }
}
