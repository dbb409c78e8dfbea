//! Regression: attribute floats read back exactly as written.
//!
//! Found by the `roundtrip` fuzz target: `3.4708238250180886e-85` was written (shortest
//! round-trip digits) and read back as `3.470823825018089e-85`, one unit in the last place
//! off, because serde_json's default float parser is not correctly rounded. The format crate
//! now enables serde_json's `float_roundtrip` feature.

use arrfile_format::{Alignment, Attributes, Description, Dtype, Header, Prefix};
use serde_json::{Number, Value};

/// Writes `values` as attributes and reads them back.
fn round_trip(values: &[f64]) -> Vec<f64> {
    let mut attrs = Attributes::new();
    let numbers: Vec<Value> =
        values.iter().filter_map(|&v| Number::from_f64(v)).map(Value::Number).collect();
    attrs.insert("x".into(), Value::Array(numbers));
    let desc = Description::c_order(Dtype::U8, vec![1]).unwrap();
    let prefix = Prefix::new(desc, Some(&attrs), Alignment::PAGE).unwrap();
    let bytes = prefix.to_bytes();
    let header = Header::parse(&bytes, prefix.header().file_len()).unwrap();
    let read = header.check_prefix(&bytes).unwrap().unwrap();
    read["x"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect()
}

#[test]
fn the_value_the_fuzzer_found_reads_back_exactly() {
    let value = 3.470_823_825_018_088_6e-85;
    assert_eq!(round_trip(&[value])[0].to_bits(), value.to_bits());
}

#[test]
fn finite_floats_read_back_exactly() {
    // Deterministic bit patterns over the whole range of finite f64 (xorshift64).
    let mut state = 0x9E37_79B9_7F4A_7C15_u64;
    let values: Vec<f64> = std::iter::from_fn(|| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        Some(f64::from_bits(state))
    })
    .filter(|v| v.is_finite())
    .take(20_000)
    .collect();
    let read = round_trip(&values);
    assert_eq!(read.len(), values.len());
    for (written, read) in values.iter().zip(&read) {
        assert_eq!(read.to_bits(), written.to_bits(), "{written:e} read back as {read:e}");
    }
}
