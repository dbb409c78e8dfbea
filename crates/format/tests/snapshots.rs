//! insta snapshots of headers as JSON: the shape of `arrfile info --json` and of manifests.

use arrfile_format::{
    Alignment, Attributes, ByteOrder, Description, Dtype, Order, PayloadChecksum, Prefix,
};

fn header_json(
    desc: Description,
    attrs: Option<Attributes>,
    checksum: PayloadChecksum,
) -> serde_json::Value {
    let prefix =
        Prefix::new(desc, attrs.as_ref(), Alignment::PAGE).unwrap().with_checksum(checksum);
    serde_json::to_value(prefix.header()).unwrap()
}

#[test]
fn f32_matrix() {
    let desc = Description::c_order(Dtype::F32, vec![1_000_000, 100]).unwrap();
    insta::assert_json_snapshot!(header_json(desc, None, PayloadChecksum::Valid(0xDEAD_BEEF)));
}

#[test]
fn big_endian_fortran_with_attributes() {
    let desc = Description::new(Dtype::C128, vec![3, 0, 5], Order::F, ByteOrder::Big).unwrap();
    let mut attrs = Attributes::new();
    attrs.insert("units".into(), "m/s".into());
    insta::assert_json_snapshot!(header_json(desc, Some(attrs), PayloadChecksum::BeingModified));
}

#[test]
fn zero_d_bf16() {
    let desc = Description::c_order(Dtype::BF16, vec![]).unwrap();
    insta::assert_json_snapshot!(header_json(desc, None, PayloadChecksum::Absent));
}

#[test]
fn description_json() {
    let desc = Description::new(Dtype::F8E4M3FN, vec![2, 2], Order::F, ByteOrder::Little).unwrap();
    insta::assert_json_snapshot!(desc);
}
