//! One test per `ParseError` variant: the exact error, with what was found, for a file that
//! breaks exactly that reader check.

use arrfile_format::raw::RawHeader;
use arrfile_format::{
    Alignment, Description, Dtype, EncodeError, ParseError, ParseErrorKind, PayloadChecksum,
    Prefix, crc32, parse,
};
use zerocopy::FromBytes;
use zerocopy::byteorder::little_endian::{U16, U32, U64};

/// A valid file: `u8[4]` = 1 2 3 4, no metadata, valid checksum.
fn valid() -> Vec<u8> {
    let payload = [1u8, 2, 3, 4];
    let desc = Description::c_order(Dtype::U8, vec![4]).unwrap();
    let prefix = Prefix::new(desc, None, Alignment::PAGE)
        .unwrap()
        .with_checksum(PayloadChecksum::Valid(crc32(&payload)));
    let mut file = prefix.to_bytes();
    file.extend_from_slice(&payload);
    file
}

fn edit(mut file: Vec<u8>, keep_crc: bool, f: impl FnOnce(&mut RawHeader)) -> Vec<u8> {
    let (raw, _) = RawHeader::mut_from_prefix(&mut file).unwrap();
    f(raw);
    if !keep_crc {
        raw.header_crc = U32::new(raw.compute_header_crc());
    }
    file
}

fn patched(f: impl FnOnce(&mut RawHeader)) -> Vec<u8> {
    edit(valid(), false, f)
}

fn err(file: &[u8]) -> ParseError {
    parse(file).expect_err("the file must be refused")
}

/// A file whose metadata block holds `bytes`, with a correct metadata CRC.
fn with_metadata(bytes: &[u8]) -> Vec<u8> {
    let mut file = valid()[..640].to_vec();
    file.extend_from_slice(bytes);
    let offset = (640 + bytes.len() as u64).next_multiple_of(4096);
    file.resize(offset as usize, 0);
    file.extend_from_slice(&[1, 2, 3, 4]);
    edit(file, false, |raw| {
        raw.metadata_len = U64::new(bytes.len() as u64);
        raw.metadata_crc = U32::new(crc32(bytes));
        raw.data_offset = U64::new(offset);
    })
}

#[test]
fn valid_file_parses() {
    let file = valid();
    let parsed = parse(&file).unwrap();
    assert_eq!(parsed.payload, &[1, 2, 3, 4]);
    assert!(parsed.verify().is_valid());
}

#[test]
fn bad_magic() {
    let mut file = valid();
    file[1] = b'N';
    assert_eq!(err(&file), ParseError::BadMagic { found: b"\x89NRR\r\n\x1a\n".to_vec() });
    // A short file that is not a prefix of the magic is also bad magic, not truncation.
    assert_eq!(err(b"\x93NUM"), ParseError::BadMagic { found: b"\x93NUM".to_vec() });
}

#[test]
fn truncated_header() {
    assert_eq!(err(&[]), ParseError::TruncatedHeader { expected: 12, len: 0 });
    assert_eq!(err(&valid()[..11]), ParseError::TruncatedHeader { expected: 12, len: 11 });
    assert_eq!(err(&valid()[..639]), ParseError::TruncatedHeader { expected: 640, len: 639 });
}

#[test]
fn unsupported_version() {
    let file = patched(|raw| raw.version_major = U16::new(2));
    assert_eq!(err(&file), ParseError::UnsupportedVersion { major: 2, minor: 0 });
    // The version is checked before the length: a short v2 file is refused for its version.
    assert_eq!(err(&file[..100]), ParseError::UnsupportedVersion { major: 2, minor: 0 });
}

#[test]
fn header_checksum_mismatch() {
    let original = RawHeader::read_from_prefix(&valid()).unwrap().0.header_crc.get();
    let file = edit(valid(), true, |raw| raw.shape[0] = U64::new(5));
    let computed = RawHeader::read_from_prefix(&file).unwrap().0.compute_header_crc();
    assert_eq!(err(&file), ParseError::HeaderChecksumMismatch { stored: original, computed });
}

#[test]
fn unsupported_required_feature() {
    let file = patched(|raw| raw.required_features = U64::new(0b101));
    assert_eq!(err(&file), ParseError::UnsupportedRequiredFeature { bits: 0b100 });
}

#[test]
fn unknown_optional_feature_is_accepted() {
    let file = patched(|raw| raw.optional_features = U64::new(u64::MAX));
    assert_eq!(parse(&file).unwrap().header.optional_features(), u64::MAX);
}

#[test]
fn too_many_dimensions() {
    assert_eq!(err(&patched(|raw| raw.ndim = 65)), ParseError::TooManyDimensions { ndim: 65 });
    assert_eq!(err(&patched(|raw| raw.ndim = 255)), ParseError::TooManyDimensions { ndim: 255 });
}

#[test]
fn nonzero_reserved() {
    type Edit = fn(&mut RawHeader);
    let cases: [(usize, Edit); 4] = [
        (39, |raw| raw.reserved_38[1] = 7),
        (72, |raw| raw.append_base_len = U64::new(7)),
        (127, |raw| raw.reserved_80[47] = 7),
        (136, |raw| raw.shape[1] = U64::new(7)),
    ];
    for (offset, f) in cases {
        assert_eq!(err(&patched(f)), ParseError::NonZeroReserved { offset, value: 7 });
    }
}

#[test]
fn unknown_dtype() {
    for code in [0, 18, 0xFFFF] {
        let file = patched(|raw| raw.dtype = U16::new(code));
        assert_eq!(err(&file), ParseError::UnknownDtype { code });
    }
}

#[test]
fn invalid_byte_order() {
    assert_eq!(err(&patched(|raw| raw.byte_order = 2)), ParseError::InvalidByteOrder { value: 2 });
}

#[test]
fn invalid_order() {
    assert_eq!(err(&patched(|raw| raw.order = 9)), ParseError::InvalidOrder { value: 9 });
}

#[test]
fn invalid_checksum_state() {
    let crc = crc32(&[1, 2, 3, 4]);
    let file = patched(|raw| raw.checksum_state = 3);
    assert_eq!(err(&file), ParseError::InvalidChecksumState { state: 3, crc });
    let file = patched(|raw| raw.checksum_state = 2);
    assert_eq!(err(&file), ParseError::InvalidChecksumState { state: 2, crc });
}

#[test]
fn size_overflow() {
    // 2^64 - 1 elements of one byte.
    let file = patched(|raw| {
        raw.ndim = 2;
        raw.shape[0] = U64::new(u64::MAX);
        raw.shape[1] = U64::new(1);
    });
    let expected = ParseError::SizeOverflow { dtype: Dtype::U8, shape: vec![u64::MAX, 1] };
    assert_eq!(err(&file), expected);
    // 64 dimensions of 2^63.
    let file = patched(|raw| {
        raw.ndim = 64;
        raw.shape.iter_mut().for_each(|d| *d = U64::new(1 << 63));
    });
    assert_eq!(err(&file).kind(), ParseErrorKind::SizeOverflow);
    // A zero dimension does not excuse the others: their strides would overflow.
    let file = patched(|raw| {
        raw.ndim = 3;
        raw.shape[0] = U64::new(0);
        raw.shape[1] = U64::new(1 << 40);
        raw.shape[2] = U64::new(1 << 40);
    });
    assert_eq!(err(&file).kind(), ParseErrorKind::SizeOverflow);
    // Exactly 2^62 bytes is allowed by the bound (and then fails on length).
    let file = patched(|raw| {
        raw.shape[0] = U64::new(1 << 62);
        raw.data_len = U64::new(1 << 62);
    });
    assert_eq!(err(&file).kind(), ParseErrorKind::TruncatedPayload);
}

#[test]
fn data_len_mismatch() {
    let file = patched(|raw| raw.data_len = U64::new(5));
    assert_eq!(err(&file), ParseError::DataLenMismatch { stored: 5, expected: 4 });
}

#[test]
fn metadata_too_large() {
    let file = patched(|raw| raw.metadata_len = U64::new(1 << 32));
    assert_eq!(err(&file), ParseError::MetadataTooLarge { len: 1 << 32 });
    let file = patched(|raw| raw.metadata_len = U64::new(u64::MAX));
    assert_eq!(err(&file), ParseError::MetadataTooLarge { len: u64::MAX });
}

#[test]
fn misaligned_data_offset() {
    let file = patched(|raw| raw.data_offset = U64::new(4095));
    assert_eq!(err(&file), ParseError::MisalignedDataOffset { offset: 4095 });
}

#[test]
fn data_offset_overlaps_metadata() {
    let file = patched(|raw| raw.metadata_len = U64::new(5000));
    let expected = ParseError::DataOffsetOverlapsMetadata { offset: 4096, metadata_end: 5640 };
    assert_eq!(err(&file), expected);
    let file = patched(|raw| raw.data_offset = U64::new(0));
    assert_eq!(err(&file).kind(), ParseErrorKind::DataOffsetOverlapsMetadata);
}

#[test]
fn excessive_padding() {
    let file = patched(|raw| raw.data_offset = U64::new(1 << 20 | 4096));
    assert_eq!(err(&file), ParseError::ExcessivePadding { padding: (1 << 20) + 4096 - 640 });
    let file = patched(|raw| raw.data_offset = U64::new(u64::MAX - 4095));
    assert_eq!(err(&file).kind(), ParseErrorKind::ExcessivePadding);
}

#[test]
fn truncated_payload() {
    let file = valid();
    assert_eq!(err(&file[..4099]), ParseError::TruncatedPayload { expected: 4100, len: 4099 });
    assert_eq!(err(&file[..700]), ParseError::TruncatedPayload { expected: 4100, len: 700 });
}

#[test]
fn trailing_bytes() {
    let mut file = valid();
    file.push(0);
    assert_eq!(err(&file), ParseError::TrailingBytes { expected: 4100, len: 4101 });
}

#[test]
fn metadata_checksum_mismatch() {
    let mut file = with_metadata(b"{\"a\":1}");
    file[642] = b'b';
    let stored = crc32(b"{\"a\":1}");
    let computed = crc32(b"{\"b\":1}");
    assert_eq!(err(&file), ParseError::MetadataChecksumMismatch { stored, computed });
}

#[test]
fn metadata_not_utf8() {
    let file = with_metadata(b"{\"a\":\"\xc3\x28\"}");
    assert_eq!(err(&file), ParseError::MetadataNotUtf8 { valid_up_to: 6 });
}

#[test]
fn metadata_not_object() {
    let refused = [
        &b"[1]"[..],
        b"\"text\"",
        b"null",
        b"{\"a\":}",
        b"{} {}",
        b"{\"a\":1",
        b" ",
        b"\xef\xbb\xbf{}",      // a byte-order mark is not JSON whitespace
        b"{\"a\":NaN}",         // not JSON
        b"{\"a\":1e400}",       // beyond binary64 (spec 7.1)
        b"{\"a\":\"\\ud800\"}", // a lone surrogate
    ];
    for bytes in refused {
        let e = err(&with_metadata(bytes));
        assert_eq!(e.kind(), ParseErrorKind::MetadataNotObject, "{bytes:?}: {e}");
    }
    let e = err(&with_metadata(b"[1]"));
    assert_eq!(
        e.to_string(),
        "metadata is not a JSON object: the top level is an array, expected an object"
    );
    // Duplicate names: the last wins (spec 7.1).
    let file = with_metadata(b"{\"a\":1,\"a\":2}");
    assert_eq!(parse(&file).unwrap().attributes.unwrap()["a"], 2);
    // Whitespace around the object is allowed.
    let file = with_metadata(b" \n{\"a\": [1, 2]}\t ");
    assert_eq!(parse(&file).unwrap().attributes.unwrap()["a"], serde_json::json!([1, 2]));
}

#[test]
fn nonzero_padding() {
    let mut file = valid();
    file[4095] = 0xAA;
    assert_eq!(err(&file), ParseError::NonZeroPadding { offset: 4095, value: 0xAA });
}

#[test]
fn every_kind_has_a_distinct_name() {
    let names: std::collections::BTreeSet<_> =
        ParseErrorKind::ALL.iter().map(|kind| kind.as_str()).collect();
    assert_eq!(names.len(), ParseErrorKind::ALL.len());
}

#[test]
fn error_messages_say_what_was_expected_and_found() {
    let e = err(&patched(|raw| raw.data_offset = U64::new(4095)));
    assert_eq!(e.to_string(), "misaligned data offset: expected a multiple of 4096, found 4095");
    let e = err(&[]);
    assert_eq!(e.to_string(), "truncated header: expected at least 12 bytes, found a file of 0");
}

#[test]
fn encode_errors() {
    let desc = Description::c_order(Dtype::U8, vec![1]).unwrap();
    let mut attrs = arrfile_format::Attributes::new();
    attrs.insert("arrfile.append".into(), 1.into());
    assert_eq!(
        Prefix::new(desc.clone(), Some(&attrs), Alignment::PAGE).unwrap_err(),
        EncodeError::ReservedAttributeKey { key: "arrfile.append".into() }
    );
    let mut deep = serde_json::json!(1);
    for _ in 0..70 {
        deep = serde_json::json!([deep]);
    }
    let mut attrs = arrfile_format::Attributes::new();
    attrs.insert("deep".into(), deep);
    assert_eq!(
        Prefix::new(desc.clone(), Some(&attrs), Alignment::PAGE).unwrap_err(),
        EncodeError::MetadataTooDeep { depth: 71 }
    );
    let mut attrs = arrfile_format::Attributes::new();
    attrs.insert("big".into(), "x".repeat(16 << 20).into());
    assert!(matches!(
        Prefix::new(desc, Some(&attrs), Alignment::PAGE),
        Err(EncodeError::MetadataTooLarge { .. })
    ));
    assert_eq!(
        Alignment::new(8192 + 4096),
        Err(EncodeError::InvalidAlignment { alignment: 12288 })
    );
    assert!(Alignment::new(2048).is_err());
    assert!(Alignment::new(1 << 21).is_err());
}

/// The errors of growing a description or a header (format 1.1): a 0-d array has no axis to
/// grow, and a grown array must stay within the size bound.
#[test]
fn append_errors() {
    use arrfile_format::DescriptionError;
    let scalar = Description::c_order(Dtype::F64, vec![]).unwrap();
    assert_eq!(scalar.with_outer_len(2), Err(DescriptionError::NotAppendable));
    let rows = Description::c_order(Dtype::U8, vec![1, 1 << 31]).unwrap();
    assert_eq!(
        rows.with_outer_len(1 << 32),
        Err(DescriptionError::SizeOverflow { dtype: Dtype::U8, shape: vec![1 << 32, 1 << 31] })
    );
    let header = Prefix::new(rows, None, Alignment::PAGE).unwrap().header().begin_append();
    assert!(header.committed_append(1 << 32, PayloadChecksum::Absent).is_err());
    let grown = header.committed_append(3, PayloadChecksum::Absent).unwrap();
    assert_eq!((grown.shape(), grown.append_in_progress()), (&[3, 1 << 31][..], false));
}
