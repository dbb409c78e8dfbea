//! Property tests: any valid description round-trips through bytes with an aligned payload,
//! and `parse` is total over arbitrary and mutated bytes.

use arrfile_format::{
    Alignment, Attributes, ByteOrder, Description, Dtype, Header, Order, PayloadChecksum, Prefix,
    crc32, parse,
};
use proptest::prelude::*;

fn dtype() -> impl Strategy<Value = Dtype> {
    prop::sample::select(Dtype::ALL.to_vec())
}

fn shape() -> impl Strategy<Value = Vec<u64>> {
    prop_oneof![
        prop::collection::vec(0u64..6, 0..5),
        prop::collection::vec(1u64..3, 0..65),
        prop::collection::vec(prop_oneof![Just(0u64), 1u64..=u64::MAX], 0..4),
    ]
}

fn description() -> impl Strategy<Value = Description> {
    (dtype(), shape(), any::<bool>(), any::<bool>()).prop_filter_map(
        "within the size bound",
        |(dtype, shape, f, big)| {
            let order = if f { Order::F } else { Order::C };
            let byte_order = if big { ByteOrder::Big } else { ByteOrder::Little };
            Description::new(dtype, shape, order, byte_order).ok()
        },
    )
}

fn attributes() -> impl Strategy<Value = Option<Attributes>> {
    prop::option::of(prop::collection::btree_map("[a-z\u{e9}\u{4e2d}]{0,8}", any::<i64>(), 0..5))
        .prop_map(|map| map.map(|m| m.into_iter().map(|(k, v)| (k, v.into())).collect()))
}

fn checksum() -> impl Strategy<Value = PayloadChecksum> {
    prop_oneof![
        Just(PayloadChecksum::Absent),
        Just(PayloadChecksum::BeingModified),
        any::<u32>().prop_map(PayloadChecksum::Valid),
    ]
}

fn alignment() -> impl Strategy<Value = Alignment> {
    (12u32..=20).prop_map(|log| Alignment::new(1 << log).unwrap())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn description_to_bytes_and_back(
        desc in description(),
        attrs in attributes(),
        checksum in checksum(),
        alignment in alignment(),
    ) {
        let prefix = Prefix::new(desc.clone(), attrs.as_ref(), alignment).unwrap().with_checksum(checksum);
        let header = prefix.header();
        prop_assert_eq!(header.data_offset() % alignment.get(), 0);
        prop_assert_eq!(header.data_offset() % 4096, 0);
        prop_assert!(header.data_offset() >= 640 + header.metadata_len());
        let bytes = prefix.to_bytes();
        prop_assert_eq!(bytes.len() as u64, header.data_offset());
        // The header alone, against the length the payload would give the file.
        let parsed = Header::parse(&bytes, header.file_len()).unwrap();
        prop_assert_eq!(&parsed, header);
        prop_assert_eq!(parsed.description(), &desc);
        prop_assert_eq!(parsed.checksum(), checksum);
        prop_assert_eq!(parsed.check_prefix(&bytes).unwrap(), attrs);
    }

    #[test]
    fn small_files_round_trip_whole(desc in description(), attrs in attributes()) {
        prop_assume!(desc.data_len() <= 1 << 16);
        let payload: Vec<u8> = (0..desc.data_len()).map(|i| (i * 31 % 251) as u8).collect();
        let prefix = Prefix::new(desc.clone(), attrs.as_ref(), Alignment::PAGE)
            .unwrap()
            .with_checksum(PayloadChecksum::Valid(crc32(&payload)));
        let mut file = prefix.to_bytes();
        file.extend_from_slice(&payload);
        let parsed = parse(&file).unwrap();
        prop_assert_eq!(parsed.header.description(), &desc);
        prop_assert_eq!(parsed.payload, &payload[..]);
        prop_assert!(parsed.verify().is_valid());
        prop_assert_eq!(parsed.attributes, attrs);
    }
}

proptest! {
    // The fuzz-style smoke of the format issue: at least 100k cases of random bytes.
    #![proptest_config(ProptestConfig { cases: 100_000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn parse_is_total_on_random_bytes(bytes in prop::collection::vec(any::<u8>(), 0..1200)) {
        let _ = parse(&bytes);
        let _ = Header::parse(&bytes, u64::MAX);
        let _ = Header::parse(&bytes, bytes.len() as u64 / 2);
    }
}

fn valid_file() -> Vec<u8> {
    let desc = Description::c_order(Dtype::F32, vec![2, 3]).unwrap();
    let mut attrs = Attributes::new();
    attrs.insert("k".into(), "v".into());
    let payload = [7u8; 24];
    let mut file = Prefix::new(desc, Some(&attrs), Alignment::PAGE)
        .unwrap()
        .with_checksum(PayloadChecksum::Valid(crc32(&payload)))
        .to_bytes();
    file.extend_from_slice(&payload);
    file
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 20_000, failure_persistence: None, ..ProptestConfig::default() })]

    /// Mutations of a valid header: a random byte set, with or without the CRC repaired, so
    /// that the checks after R5 are reached too.
    #[test]
    fn parse_is_total_on_mutated_headers(pos in 0usize..700, value in any::<u8>(), fix_crc in any::<bool>()) {
        let mut file = valid_file();
        file[pos] = value;
        if fix_crc {
            let (raw, _) = <arrfile_format::raw::RawHeader as zerocopy::FromBytes>::mut_from_prefix(&mut file).unwrap();
            raw.header_crc = zerocopy::byteorder::little_endian::U32::new(raw.compute_header_crc());
        }
        if let Ok(parsed) = parse(&file) {
            prop_assert_eq!(parsed.payload.len() as u64, parsed.header.data_len());
        }
    }
}
