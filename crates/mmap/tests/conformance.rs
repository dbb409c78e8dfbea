//! `fixtures/manifest.json` through `open` and `verify`: every valid file opens with its
//! description, attributes and values; every invalid file fails with its listed check.

use std::path::{Path, PathBuf};

use arrfile_format::{ByteOrder, Description, Dtype, Order};
use arrfile_mmap::{ReadArray, open};
use serde_json::{Value, json};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

fn manifest() -> Vec<Value> {
    let text = std::fs::read_to_string(fixtures().join("manifest.json")).unwrap();
    serde_json::from_str::<Value>(&text).unwrap()["files"].as_array().unwrap().clone()
}

fn float(v: f64) -> Value {
    if v.is_nan() {
        json!("nan")
    } else if v.is_infinite() {
        json!(if v > 0.0 { "inf" } else { "-inf" })
    } else {
        json!(v)
    }
}

/// One element's manifest value from its little-endian bytes.
fn value(dtype: Dtype, b: &[u8]) -> Value {
    let f32_at = |i: usize| f32::from_le_bytes(b[i..i + 4].try_into().unwrap());
    let f64_at = |i: usize| f64::from_le_bytes(b[i..i + 8].try_into().unwrap());
    match dtype {
        Dtype::Bool => json!(b[0] != 0),
        Dtype::I8 => json!(b[0] as i8),
        Dtype::U8 | Dtype::F8E4M3FN | Dtype::F8E5M2 => json!(b[0]),
        Dtype::I16 => json!(i16::from_le_bytes(b.try_into().unwrap())),
        Dtype::U16 | Dtype::F16 | Dtype::BF16 => json!(u16::from_le_bytes(b.try_into().unwrap())),
        Dtype::I32 => json!(i32::from_le_bytes(b.try_into().unwrap())),
        Dtype::U32 => json!(u32::from_le_bytes(b.try_into().unwrap())),
        Dtype::I64 => json!(i64::from_le_bytes(b.try_into().unwrap())),
        Dtype::U64 => json!(u64::from_le_bytes(b.try_into().unwrap())),
        Dtype::F32 => float(f64::from(f32_at(0))),
        Dtype::F64 => float(f64_at(0)),
        Dtype::C64 => json!([f32_at(0), f32_at(4)]),
        Dtype::C128 => json!([f64_at(0), f64_at(8)]),
        other => panic!("unexpected dtype {other}"),
    }
}

/// The elements in C (logical) order, whatever the file's order and byte order.
fn logical_values(desc: &Description, payload: &[u8]) -> Vec<Value> {
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
            value(desc.dtype(), &bytes)
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
        assert_eq!(
            Value::Array(logical_values(&expected, array.as_bytes())),
            entry["values"],
            "{name}"
        );
        checked += 1;
    }
    assert!(checked > 60, "checked {checked} fixtures");
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
