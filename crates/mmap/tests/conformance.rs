//! `fixtures/manifest.json` through `open` and `verify`: every valid file opens with its
//! description, attributes and values; every invalid file fails with its listed check. And
//! every entry through the rest of the crate (`inspect`, `open_copy`, `ArrayReader`,
//! `verify_file`, `recover` and `r+` on a copy, compared byte for byte), with format 1.1's
//! fields: `reader_1_0`, `uncommitted_len`, `recovered_from`, `appended_to`.

use std::path::{Path, PathBuf};

use arrfile_format::{APPEND_IN_PROGRESS, ByteOrder, Description, Dtype, Order, Verification};
use arrfile_mmap::{Options, ReadArray, Recovery, open};
use serde_json::{Value, json};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

fn manifest() -> Vec<Value> {
    let text = std::fs::read_to_string(fixtures().join("manifest.json")).unwrap();
    serde_json::from_str::<Value>(&text).unwrap()["files"].as_array().unwrap().clone()
}

/// A binary32 or binary64 component against the manifest (spec §10.4): a number is rounded
/// to the component's format and the bit patterns compared (so `-0.0` is not `0.0`);
/// `"nan"` is the quiet NaN of that format, `"nan:0x…"` the NaN of those bits.
fn float_matches(bits: u64, width: usize, expected: &Value) -> bool {
    let (quiet_nan, inf) = if width == 4 {
        (0x7FC0_0000, u64::from(f32::INFINITY.to_bits()))
    } else {
        (0x7FF8_0000_0000_0000, f64::INFINITY.to_bits())
    };
    let sign = if width == 4 { 1 << 31 } else { 1 << 63 };
    let want = match expected {
        Value::Number(n) => {
            let v = n.as_f64().unwrap();
            if width == 4 { u64::from((v as f32).to_bits()) } else { v.to_bits() }
        }
        Value::String(s) => match s.as_str() {
            "nan" => quiet_nan,
            "inf" => inf,
            "-inf" => inf | sign,
            other => {
                let hex = other.strip_prefix("nan:0x").unwrap_or_else(|| panic!("{other}"));
                assert_eq!(hex.len(), width * 2, "{other}");
                u64::from_str_radix(hex, 16).unwrap()
            }
        },
        other => panic!("not a float in the manifest: {other}"),
    };
    bits == want
}

/// Whether one element (its little-endian bytes) is the manifest's value.
fn element_matches(dtype: Dtype, b: &[u8], expected: &Value) -> bool {
    let le = |b: &[u8]| b.iter().rev().fold(0u64, |acc, &byte| acc << 8 | u64::from(byte));
    let int = |v: i64| expected.as_i64() == Some(v) && expected.is_number();
    match dtype {
        Dtype::Bool => *expected == json!(b[0] != 0),
        Dtype::I8 => int(i64::from(b[0] as i8)),
        Dtype::I16 => int(i64::from(i16::from_le_bytes(b.try_into().unwrap()))),
        Dtype::I32 => int(i64::from(i32::from_le_bytes(b.try_into().unwrap()))),
        Dtype::I64 => int(i64::from_le_bytes(b.try_into().unwrap())),
        Dtype::U8 | Dtype::U16 | Dtype::U32 | Dtype::U64 => expected.as_u64() == Some(le(b)),
        // 16- and 8-bit floats are listed by their bit patterns.
        Dtype::F16 | Dtype::BF16 | Dtype::F8E4M3FN | Dtype::F8E5M2 => {
            expected.as_u64() == Some(le(b))
        }
        Dtype::F32 | Dtype::F64 => float_matches(le(b), b.len(), expected),
        Dtype::C64 | Dtype::C128 => {
            let half = b.len() / 2;
            let pair = expected.as_array().unwrap();
            pair.len() == 2
                && float_matches(le(&b[..half]), half, &pair[0])
                && float_matches(le(&b[half..]), half, &pair[1])
        }
        other => panic!("unexpected dtype {other}"),
    }
}

/// The elements' little-endian bytes in C (logical) order, whatever the file's order and
/// byte order.
fn logical_elements(desc: &Description, payload: &[u8]) -> Vec<Vec<u8>> {
    let size = desc.dtype().itemsize();
    let shape = desc.shape();
    let count = desc.element_count() as usize;
    (0..count)
        .map(|c_index| {
            let storage = match desc.order() {
                Order::C => c_index,
                Order::F => {
                    let (mut rest, mut f_index, mut stride) = (c_index as u64, 0, 1);
                    let mut index = vec![0; shape.len()];
                    for axis in (0..shape.len()).rev() {
                        index[axis] = rest % shape[axis];
                        rest /= shape[axis];
                    }
                    for axis in 0..shape.len() {
                        f_index += index[axis] * stride;
                        stride *= shape[axis];
                    }
                    f_index as usize
                }
            };
            let mut bytes = payload[storage * size..(storage + 1) * size].to_vec();
            if desc.byte_order() == ByteOrder::Big {
                bytes.chunks_mut(desc.dtype().swap_unit()).for_each(<[u8]>::reverse);
            }
            bytes
        })
        .collect()
}

#[test]
fn manifest_through_open_and_verify() {
    let mut checked = 0;
    for entry in manifest() {
        let path = fixtures().join(entry["path"].as_str().unwrap());
        let name = entry["path"].as_str().unwrap();
        if entry["valid"] == json!(false) {
            let err = open(&path).err().unwrap_or_else(|| panic!("{name} opened"));
            let kind = err.parse_error().unwrap_or_else(|| panic!("{name}: {err}")).kind();
            assert_eq!(kind.as_str(), entry["error"], "{name}");
            assert!(err.to_string().starts_with(&path.display().to_string()), "{err}");
            checked += 1;
            continue;
        }
        let array = open(&path).unwrap_or_else(|e| panic!("{e}"));
        let expected: Description = serde_json::from_value(entry["description"].clone()).unwrap();
        assert_eq!(array.description(), &expected, "{name}");
        let attributes = array.attributes().cloned().map(Value::Object).unwrap_or(Value::Null);
        assert_eq!(attributes, entry["attributes"], "{name}");
        assert_eq!(array.header().data_offset(), entry["data_offset"].as_u64().unwrap());
        assert_eq!(json!(array.checksum_state()), entry["checksum_state"], "{name}");
        assert_eq!(array.verify().kind_name(), entry["verify"], "{name}");
        let elements = logical_elements(&expected, array.as_bytes());
        let values = entry["values"].as_array().unwrap();
        assert_eq!(elements.len(), values.len(), "{name}");
        for (index, (element, value)) in elements.iter().zip(values).enumerate() {
            assert!(
                element_matches(expected.dtype(), element, value),
                "{name}: element {index} is {element:02x?}, the manifest says {value}"
            );
        }
        checked += 1;
    }
    assert!(checked > 60, "checked {checked} fixtures");
}

/// What recovery makes of a file (spec §11.4), computed from its bytes: cut at the committed
/// end, the header with `APPEND_IN_PROGRESS` cleared; a file without the flag unchanged.
fn recovered_bytes(bytes: &[u8]) -> Vec<u8> {
    let header = arrfile_format::parse(bytes).unwrap().header;
    if !header.append_in_progress() {
        return bytes.to_vec();
    }
    let mut out = bytes[..usize::try_from(header.file_len()).unwrap()].to_vec();
    out[..640].copy_from_slice(&header.end_append().to_bytes());
    out
}

/// Every entry through every reader of the crate, and recovery and `r+` on a copy: a valid
/// file reads the same through each (a file mid-append as its committed array), recovery
/// cuts exactly `uncommitted_len` bytes and gives the `recovered_from` fixture's bytes, an
/// appender gives the `appended_to` fixture's bytes; an invalid file fails each the same way
/// and recovery leaves it untouched.
#[test]
fn manifest_through_every_reader_recovery_and_r_plus() {
    let dir = tempfile::tempdir().unwrap();
    let entries = manifest();
    let mut checked = 0;
    let mut mid_append = 0;
    for (index, entry) in entries.iter().enumerate() {
        let name = entry["path"].as_str().unwrap();
        let path = fixtures().join(name);
        let bytes = std::fs::read(&path).unwrap();
        let copy = |suffix: &str| {
            let copy = dir.path().join(format!("{index}-{suffix}.arr"));
            std::fs::write(&copy, &bytes).unwrap();
            copy
        };
        // reader_1_0: a 1.0 reader refuses these at R6, by the bit this reader knows.
        if let Some(reader_1_0) = entry.get("reader_1_0") {
            assert_eq!(reader_1_0["error"], "unsupported_required_feature", "{name}");
            assert_eq!(bytes[16..24], APPEND_IN_PROGRESS.to_le_bytes(), "{name}");
        }
        if entry["valid"] == json!(false) {
            let expected = entry["error"].as_str().unwrap();
            let kind = |e: arrfile_mmap::Error| {
                e.parse_error().map(|p| p.kind().as_str()).unwrap_or("not a parse error")
            };
            assert_eq!(kind(arrfile_mmap::inspect(&path).unwrap_err()), expected, "{name}");
            assert_eq!(kind(arrfile_mmap::open_copy(&path).unwrap_err()), expected, "{name}");
            assert_eq!(kind(arrfile_mmap::verify_file(&path).unwrap_err()), expected, "{name}");
            let recovered = copy("recover");
            assert_eq!(kind(arrfile_mmap::recover(&recovered).unwrap_err()), expected, "{name}");
            assert_eq!(
                std::fs::read(&recovered).unwrap(),
                bytes,
                "{name}: recovery changed an invalid file"
            );
            assert_eq!(
                kind(arrfile_mmap::open_mut(copy("rplus")).unwrap_err()),
                expected,
                "{name}"
            );
            checked += 1;
            continue;
        }
        let array = open(&path).unwrap();
        let header = array.header().clone();
        // Mapped and read: exactly the committed payload.
        assert_eq!(array.as_bytes().len() as u64, header.data_len(), "{name}");
        assert_eq!(json!(header.data_len()), entry["data_len"], "{name}");
        assert_eq!(json!(header.checksum().crc_field()), entry["payload_crc"], "{name}");
        let (inspected, attributes) = arrfile_mmap::inspect(&path).unwrap();
        assert_eq!(inspected, header, "{name}");
        assert_eq!(
            attributes.map(Value::Object).unwrap_or(Value::Null),
            entry["attributes"],
            "{name}"
        );
        let cow = arrfile_mmap::open_copy(&path).unwrap();
        assert_eq!(cow.as_bytes(), array.as_bytes(), "{name}");
        let reader = Options::new().open_reader(&path).unwrap();
        assert_eq!(reader.header(), &header, "{name}");
        let mut payload = vec![0; array.as_bytes().len()];
        reader.read_payload_at(0, &mut payload).unwrap();
        assert_eq!(payload, array.as_bytes(), "{name}");
        let verified = arrfile_mmap::verify_file(&path).unwrap();
        assert_eq!(verified.kind_name(), entry["verify"], "{name}");
        assert_eq!(cow.verify(), verified, "{name}");
        if let Verification::Valid { crc } = verified {
            assert_eq!(json!(crc), entry["payload_crc"], "{name}");
        }
        // uncommitted_len: the bytes after the committed end, which recovery cuts.
        let tail = entry.get("uncommitted_len").map(|t| t.as_u64().unwrap());
        assert_eq!(header.append_in_progress(), tail.is_some(), "{name}");
        if let Some(tail) = tail {
            mid_append += 1;
            assert_eq!(bytes.len() as u64, header.file_len() + tail, "{name}");
        }
        drop((array, cow, reader));
        let expected = recovered_bytes(&bytes);
        let recovered = copy("recover");
        let recovery = arrfile_mmap::recover(&recovered).unwrap();
        match tail {
            Some(tail) => assert_eq!(recovery, Recovery::RolledBack { bytes_cut: tail }, "{name}"),
            None => assert_eq!(recovery, Recovery::NothingToDo, "{name}"),
        }
        assert_eq!(std::fs::read(&recovered).unwrap(), expected, "{name}");
        assert_eq!(arrfile_mmap::recover(&recovered).unwrap(), Recovery::NothingToDo, "{name}");
        assert_eq!(std::fs::read(&recovered).unwrap(), expected, "{name}: recovery is idempotent");
        // r+ rolls a dead append back on open, and otherwise changes nothing by opening.
        let rplus = copy("rplus");
        let edit = arrfile_mmap::open_mut(&rplus).unwrap();
        assert!(!edit.header().append_in_progress(), "{name}");
        drop(edit);
        assert_eq!(std::fs::read(&rplus).unwrap(), expected, "{name}");
        // recovered_from: this fixture is the recovery of that one.
        if let Some(from) = entry.get("recovered_from") {
            let from = fixtures().join(from.as_str().unwrap());
            let target = dir.path().join(format!("{index}-from.arr"));
            std::fs::copy(&from, &target).unwrap();
            assert!(arrfile_mmap::recover(&target).unwrap().changed_the_file(), "{name}");
            assert_eq!(std::fs::read(&target).unwrap(), bytes, "{name}");
        }
        // appended_to: this fixture is that one with its rows appended and committed (a dead
        // appender's tail rolled back first).
        if let Some(to) = entry.get("appended_to") {
            let to = fixtures().join(to.as_str().unwrap());
            let target = dir.path().join(format!("{index}-to.arr"));
            std::fs::copy(&to, &target).unwrap();
            let base = arrfile_format::parse(&std::fs::read(&to).unwrap()).unwrap().header;
            let rows = &bytes[usize::try_from(base.file_len()).unwrap()..];
            let mut appender = arrfile_mmap::append(&target).unwrap();
            for piece in rows.chunks(5) {
                appender.write_bytes(piece).unwrap();
            }
            let grown = appender.commit().unwrap();
            assert_eq!(grown, header, "{name}");
            assert_eq!(std::fs::read(&target).unwrap(), bytes, "{name}");
        }
        checked += 1;
    }
    assert_eq!(checked, entries.len());
    assert!(mid_append >= 3, "{mid_append} files mid-append");
}

#[test]
fn big_endian_fixture_refuses_a_view_and_converts_in_to_vec() {
    let array = open(fixtures().join("valid/big_endian_f64.arr")).unwrap();
    let err = array.view::<f64>().unwrap_err();
    assert!(matches!(
        err.kind(),
        arrfile_mmap::ErrorKind::View(arrfile_mmap::ViewError::ByteOrderMismatch {
            file: ByteOrder::Big
        })
    ));
    let values = array.to_vec::<f64>().unwrap();
    assert_eq!(values[0], 1e10);
    assert!(values[1].is_nan());
    assert_eq!(values[2], f64::INFINITY);
    assert_eq!(values[5], 5.0 * 1.5e-3 + 1e10);
    // Complex numbers swap each component, not the pair.
    let c = open(fixtures().join("valid/big_endian_c64.arr")).unwrap();
    assert_eq!(
        c.to_vec::<[f32; 2]>().unwrap(),
        vec![[0.0, -1.0], [0.5, -1.25], [1.0, -1.5], [1.5, -1.75]]
    );
}

#[test]
fn typed_views_of_every_native_dtype() {
    let open_dtype = |name: &str| open(fixtures().join(format!("valid/dtype_{name}.arr"))).unwrap();
    assert_eq!(open_dtype("i16").view::<i16>().unwrap()[1], -1194);
    assert_eq!(open_dtype("u64").view::<u64>().unwrap()[0], 17);
    assert_eq!(open_dtype("f16").view::<half::f16>().unwrap()[0], half::f16::ONE);
    assert_eq!(open_dtype("bf16").view::<half::bf16>().unwrap()[0], half::bf16::ONE);
    assert_eq!(open_dtype("c128").view::<[f64; 2]>().unwrap()[1], [2.125, -3.0]);
    assert_eq!(
        open_dtype("bool").to_bools().unwrap(),
        vec![true, false, false, true, false, false]
    );
    // A mismatch is a typed error, never a panic.
    let err = open_dtype("f32").view::<f64>().unwrap_err();
    assert_eq!(
        err.to_string().rsplit(": ").next().unwrap(),
        "the file holds f32, a view of f64 was asked for"
    );
    assert!(open_dtype("u8").to_bools().is_err());
}

#[test]
fn one_byte_types_read_the_same_in_either_byte_order() {
    let big = open(fixtures().join("valid/byte_order_1_u8.arr")).unwrap();
    let little = open(fixtures().join("valid/dtype_u8.arr")).unwrap();
    assert_eq!(big.description().byte_order(), ByteOrder::Big);
    assert_eq!(big.view::<u8>().unwrap(), little.view::<u8>().unwrap());
}

#[test]
fn bool_bytes_other_than_0_or_1_open_and_are_reported_by_to_bools() {
    let array = open(fixtures().join("valid/bool_bytes_not_0_or_1.arr")).unwrap();
    assert_eq!(array.as_bytes(), [1, 0, 2, 0xFF]);
    let err = array.to_bools().unwrap_err();
    assert!(matches!(
        err.kind(),
        arrfile_mmap::ErrorKind::View(arrfile_mmap::ViewError::InvalidBool { index: 2, value: 2 })
    ));
}

/// The valid files too large to commit (R15's and R18's bounds exactly), built as the
/// manifest's `built_by_tests` describes them: `{"pad":"x…x"}` and the payload at `data_offset`.
#[test]
fn files_built_by_the_tests_open() {
    let text = std::fs::read_to_string(fixtures().join("manifest.json")).unwrap();
    let manifest = serde_json::from_str::<Value>(&text).unwrap();
    let entries = manifest["built_by_tests"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    let dir = tempfile::tempdir().unwrap();
    for entry in entries {
        let name = entry["name"].as_str().unwrap();
        let pad_len = usize::try_from(entry["pad_len"].as_u64().unwrap()).unwrap();
        let data_offset = usize::try_from(entry["data_offset"].as_u64().unwrap()).unwrap();
        let payload: Vec<u8> = serde_json::from_value(entry["values"].clone()).unwrap();
        let mut attrs = arrfile_format::Attributes::new();
        attrs.insert("pad".into(), json!("x".repeat(pad_len)));
        let desc: Description = serde_json::from_value(entry["description"].clone()).unwrap();
        let prefix =
            arrfile_format::Prefix::new(desc, Some(&attrs), arrfile_format::Alignment::PAGE)
                .unwrap()
                .with_checksum(arrfile_format::PayloadChecksum::Valid(arrfile_format::crc32(
                    &payload,
                )));
        // The writer's recommended offset, moved to the entry's.
        let mut bytes = prefix.to_bytes();
        bytes.resize(data_offset, 0);
        bytes.extend_from_slice(&payload);
        bytes[56..64].copy_from_slice(&(data_offset as u64).to_le_bytes());
        bytes[12..16].fill(0);
        let header_crc = arrfile_format::crc32(&bytes[..640]);
        bytes[12..16].copy_from_slice(&header_crc.to_le_bytes());
        let path = dir.path().join(format!("{name}.arr"));
        std::fs::write(&path, bytes).unwrap();
        let array = open(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(json!(array.header().metadata_len()), entry["metadata_len"], "{name}");
        assert_eq!(json!(array.header().data_offset()), entry["data_offset"], "{name}");
        assert_eq!(array.attributes().unwrap()["pad"].as_str().unwrap().len(), pad_len);
        assert_eq!(array.as_bytes(), payload);
        assert_eq!(array.verify().kind_name(), entry["verify"], "{name}");
    }
}

#[cfg(feature = "ndarray")]
#[test]
fn ndarray_views_have_the_files_order() {
    let c = open(fixtures().join("valid/dtype_f32.arr")).unwrap();
    let f = open(fixtures().join("valid/f_order_f32.arr")).unwrap();
    let c_view = c.array_view::<f32>().unwrap();
    let f_view = f.array_view::<f32>().unwrap();
    assert_eq!(c_view.shape(), &[2, 3]);
    assert_eq!(f_view.shape(), &[3, 4]);
    // Logical element [i][j] is C index i*4+j: value (i*4+j)*0.5-1.25 in both layouts.
    for i in 0..3 {
        for j in 0..4 {
            assert_eq!(f_view[[i, j]], (i * 4 + j) as f32 * 0.5 - 1.25);
        }
    }
    assert_eq!(c_view[[1, 2]], 5.0 * 0.5 - 1.25);
    assert!(f_view.t().is_standard_layout());
}
