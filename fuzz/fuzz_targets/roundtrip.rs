//! Round trips from an arbitrary description: (1) the prefix a writer encodes (`Prefix`)
//! parses back to the same header and attributes; (2) a small file written by `create`
//! (mode `w+`) or `StreamWriter` reads back equal and verifies, and an `r+` edit leaves it
//! either *being modified* or committed with a fresh, valid checksum.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use arbitrary::Arbitrary;
use arrfile_format::{
    Alignment, Attributes, ByteOrder, ChecksumState, Description, Dtype, EncodeError, Header,
    MAX_ATTRIBUTE_DEPTH, Order, PayloadChecksum, Prefix, crc32,
};
use arrfile_mmap::{Options, ReadArray, WriteArray};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

/// The largest payload written to disk per input.
const MAX_FILE_PAYLOAD: u64 = 256 << 10;

#[derive(Arbitrary, Debug)]
enum Json {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl Json {
    fn to_value(&self) -> Value {
        match self {
            Json::Null => Value::Null,
            Json::Bool(b) => Value::Bool(*b),
            Json::Int(i) => Value::from(*i),
            Json::UInt(u) => Value::from(*u),
            // NaN and infinities are not JSON numbers.
            Json::Float(f) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
            Json::Str(s) => Value::String(s.clone()),
            Json::Array(items) => Value::Array(items.iter().map(Json::to_value).collect()),
            Json::Object(entries) => Value::Object(object(entries)),
        }
    }
}

fn object(entries: &[(String, Json)]) -> Attributes {
    entries.iter().map(|(k, v)| (k.clone(), v.to_value())).collect()
}

fn depth(value: &Value) -> usize {
    match value {
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Value::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

#[derive(Arbitrary, Debug)]
enum Checksum {
    Absent,
    Valid(u32),
    BeingModified,
}

#[derive(Arbitrary, Debug)]
enum Writer {
    /// `create`, fill the mapped payload, `finish`.
    Create,
    /// `StreamWriter` fed in chunks of these sizes (cycled; 0 means 1).
    Stream(Vec<u16>),
}

#[derive(Arbitrary, Debug)]
struct FileCase {
    /// Dimensions of the file's array (small, so that the file stays small).
    shape: Vec<u8>,
    writer: Writer,
    /// Seed of the payload bytes.
    seed: u64,
    /// 4096 << (this % 5): 4 KiB to 64 KiB.
    align: u8,
    /// An `r+` edit afterwards: (element index, xor mask, commit?).
    edit: Option<(u32, u8, bool)>,
}

#[derive(Arbitrary, Debug)]
struct Input {
    dtype: u8,
    shape: Vec<u64>,
    fortran: bool,
    big_endian: bool,
    attributes: Option<Vec<(String, Json)>>,
    /// 4096 << (this % 9): every alignment `Alignment::new` accepts.
    align: u8,
    checksum: Checksum,
    file: Option<FileCase>,
}

fn scratch() -> &'static PathBuf {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let dir = DIR.get_or_init(|| tempfile::tempdir().expect("a temporary directory"));
        dir.path().join("roundtrip.arr")
    })
}

fuzz_target!(|input: Input| {
    let dtype = Dtype::ALL[usize::from(input.dtype) % Dtype::ALL.len()];
    let order = if input.fortran { Order::F } else { Order::C };
    let byte_order = if input.big_endian { ByteOrder::Big } else { ByteOrder::Little };
    let Ok(description) = Description::new(dtype, input.shape.clone(), order, byte_order) else {
        return;
    };
    let attributes = input.attributes.as_deref().map(object);
    let alignment = Alignment::new(4096 << (input.align % 9)).expect("a valid alignment");

    // (1) The prefix round trip, for any description (data_len up to 2^62).
    let prefix = match Prefix::new(description.clone(), attributes.as_ref(), alignment) {
        Ok(prefix) => prefix,
        Err(EncodeError::ReservedAttributeKey { key }) => {
            assert!(key.starts_with("arrfile."));
            return;
        }
        Err(EncodeError::MetadataTooDeep { depth: found }) => {
            let attrs = attributes.as_ref().expect("only attributes can be too deep");
            assert!(found > MAX_ATTRIBUTE_DEPTH);
            assert_eq!(found, 1 + attrs.values().map(depth).max().unwrap_or(0));
            return;
        }
        Err(e) => panic!("unexpected encoding error {e}"),
    };
    let checksum = match input.checksum {
        Checksum::Absent => PayloadChecksum::Absent,
        Checksum::Valid(crc) => PayloadChecksum::Valid(crc),
        Checksum::BeingModified => PayloadChecksum::BeingModified,
    };
    let prefix = prefix.with_checksum(checksum);
    let header = prefix.header();
    let bytes = prefix.to_bytes();
    assert_eq!(bytes.len() as u64, header.data_offset());
    assert_eq!(header.data_offset() % alignment.get(), 0);
    assert!(header.data_offset() - (640 + header.metadata_len()) < alignment.get());
    assert_eq!(&bytes[..640], &prefix.header_bytes()[..]);
    let parsed = Header::parse(&bytes, header.file_len()).expect("a written header parses");
    assert_eq!(&parsed, header);
    assert_eq!(parsed.description(), &description);
    assert_eq!(parsed.checksum(), checksum);
    let parsed_attributes = parsed.check_prefix(&bytes).expect("a written prefix checks");
    assert_eq!(parsed_attributes, attributes, "attributes round trip");

    // (2) A small file through the library's writers and readers.
    if let Some(case) = input.file {
        write_and_read(dtype, order, byte_order, attributes.as_ref(), &case);
    }
});

fn write_and_read(
    dtype: Dtype,
    order: Order,
    byte_order: ByteOrder,
    attributes: Option<&Attributes>,
    case: &FileCase,
) {
    let shape: Vec<u64> = case.shape.iter().map(|&d| u64::from(d)).collect();
    let Ok(description) = Description::new(dtype, shape, order, byte_order) else { return };
    if description.data_len() > MAX_FILE_PAYLOAD {
        return;
    }
    let alignment = Alignment::new(4096 << (case.align % 5)).expect("a valid alignment");
    let len = usize::try_from(description.data_len()).expect("small");
    let mut state = case.seed | 1;
    let payload: Vec<u8> = (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect();

    let path = scratch();
    let options = Options::new().alignment(alignment);
    let header = match &case.writer {
        Writer::Create => {
            let mut new = options.create(path, description.clone(), attributes).expect("create");
            new.as_bytes_mut().expect("a w+ payload").copy_from_slice(&payload);
            new.finish().expect("finish")
        }
        Writer::Stream(chunks) => {
            let mut writer = options.stream(path, description.clone(), attributes).expect("stream");
            let mut rest = &payload[..];
            let mut sizes = chunks.iter().cycle();
            while !rest.is_empty() {
                let size = sizes.next().map_or(rest.len(), |&s| usize::from(s).max(1));
                let (chunk, tail) = rest.split_at(size.min(rest.len()));
                writer.write_bytes(chunk).expect("write_bytes");
                rest = tail;
            }
            writer.finish().expect("finish")
        }
    };
    assert_eq!(header.checksum(), PayloadChecksum::Valid(crc32(&payload)));

    let array = arrfile_mmap::open(path).expect("open what was written");
    assert_eq!(array.header(), &header);
    assert_eq!(array.description(), &description);
    assert_eq!(array.attributes(), attributes);
    assert_eq!(array.as_bytes(), &payload[..]);
    assert!(array.verify().is_valid());
    let on_disk = std::fs::read(path).expect("read back");
    assert_eq!(on_disk.len() as u64, header.file_len());
    assert_eq!(
        arrfile_format::parse(&on_disk).expect("parse what was written").payload,
        &payload[..]
    );
    drop(array);

    // r+: an edit leaves the file honest, committed or not.
    if let Some((index, mask, commit)) = case.edit {
        if len == 0 {
            return;
        }
        let index = usize::try_from(index).expect("u32 fits") % len;
        let mut edit = arrfile_mmap::open_mut(path).expect("open_mut");
        edit.as_bytes_mut().expect("an r+ payload")[index] ^= mask;
        let expected_state = if commit {
            let crc = edit.commit().expect("commit");
            let mut changed = payload.clone();
            changed[index] ^= mask;
            assert_eq!(crc, crc32(&changed));
            ChecksumState::Valid
        } else {
            ChecksumState::BeingModified
        };
        drop(edit);
        let array = arrfile_mmap::open(path).expect("open after r+");
        assert_eq!(array.checksum_state(), expected_state);
        assert_eq!(array.as_bytes()[index], payload[index] ^ mask);
        match expected_state {
            ChecksumState::Valid => assert!(array.verify().is_valid()),
            _ => assert_eq!(array.verify().kind_name(), "not_verifiable"),
        }
    }
}
