//! Property tests of format 1.1's growth: any sequence of appends, cut into writes of any
//! sizes (rows split across writes, bytes or converted copies), and any growing
//! `StreamWriter`, give exactly the file that `create` (mode `w+`) makes of the whole array
//! at once: the same bytes, so the same shape and the same CRC.

use std::path::Path;

use arrfile_format::{ByteOrder, Description, Dtype, Order, crc32};
use arrfile_mmap::{ReadArray, StreamWriter, WriteArray};
use proptest::prelude::*;

/// The whole array's file, made by `create` (`w+`): the reference.
fn create_whole(path: &Path, description: Description, payload: &[u8]) -> Vec<u8> {
    let mut new = arrfile_mmap::create(path, description, None).unwrap();
    new.as_bytes_mut().unwrap().copy_from_slice(payload);
    new.finish().unwrap();
    std::fs::read(path).unwrap()
}

fn description(
    dtype: Dtype,
    order: Order,
    byte_order: ByteOrder,
    trailing: &[u64],
    rows: u64,
) -> Description {
    let shape: Vec<u64> = match order {
        Order::C => std::iter::once(rows).chain(trailing.iter().copied()).collect(),
        Order::F => trailing.iter().copied().chain(std::iter::once(rows)).collect(),
    };
    Description::new(dtype, shape, order, byte_order).unwrap().stored_as(byte_order)
}

/// Bytes of `len` that are valid for `dtype` (bools are 0 or 1).
fn payload(len: usize, seed: u64, dtype: Dtype) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let byte = state.to_le_bytes()[2];
            if dtype == Dtype::Bool { byte & 1 } else { byte }
        })
        .collect()
}

/// Splits `len` at the given fractions (per mille), sorted.
fn cuts(len: usize, per_mille: &[u16]) -> Vec<usize> {
    let mut cuts: Vec<usize> = per_mille.iter().map(|&p| len * usize::from(p) / 1000).collect();
    cuts.push(0);
    cuts.push(len);
    cuts.sort_unstable();
    cuts
}

/// How one append writes its bytes.
#[derive(Clone, Copy, Debug)]
enum Method {
    /// `write_bytes`, in the file's byte order.
    Bytes,
    /// `copy_from` of the bytes in the other byte order, converted on the way.
    CopyConverted,
}

fn dtypes() -> impl Strategy<Value = Dtype> {
    prop::sample::select(vec![
        Dtype::U8,
        Dtype::Bool,
        Dtype::I16,
        Dtype::F16,
        Dtype::U32,
        Dtype::F64,
        Dtype::C64,
        Dtype::C128,
    ])
}

fn layouts() -> impl Strategy<Value = (Order, ByteOrder)> {
    (prop::bool::ANY, prop::bool::ANY).prop_map(|(f, big)| {
        (if f { Order::F } else { Order::C }, if big { ByteOrder::Big } else { ByteOrder::Little })
    })
}

fn appends() -> impl Strategy<Value = Vec<(u64, Vec<u16>, bool)>> {
    prop::collection::vec(
        (0u64..7, prop::collection::vec(0u16..=1000, 0..4), prop::bool::ANY),
        1..5,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn any_sequence_of_appends_equals_the_whole_array(
        dtype in dtypes(),
        (order, byte_order) in layouts(),
        trailing in prop::collection::vec(1u64..4, 0..3),
        base_rows in 0u64..5,
        appends in appends(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("grown.arr");
        let base = description(dtype, order, byte_order, &trailing, base_rows);
        let row_len = usize::try_from(base.row_len()).unwrap();
        let total_rows = base_rows + appends.iter().map(|a| a.0).sum::<u64>();
        let whole = payload(row_len * usize::try_from(total_rows).unwrap(), total_rows + 1, dtype);
        let base_len = usize::try_from(base.data_len()).unwrap();
        // The base through a StreamWriter in pieces, the appends each in its own session.
        let mut writer = StreamWriter::create(&path, base.clone(), None).unwrap();
        writer.write_bytes(&whole[..base_len / 2]).unwrap();
        writer.write_bytes(&whole[base_len / 2..base_len]).unwrap();
        writer.finish().unwrap();
        let mut start = base_len;
        for (rows, per_mille, convert) in &appends {
            let bytes = &whole[start..start + row_len * usize::try_from(*rows).unwrap()];
            let mut appender = arrfile_mmap::append(&path).unwrap();
            let method = if *convert { Method::CopyConverted } else { Method::Bytes };
            let unit = base.dtype().swap_unit();
            let pieces = cuts(bytes.len(), per_mille);
            for pair in pieces.windows(2) {
                let piece = &bytes[pair[0]..pair[1]];
                match method {
                    Method::Bytes => appender.write_bytes(piece).unwrap(),
                    Method::CopyConverted => {
                        // Cut on element boundaries, so that each piece converts by itself.
                        let (from, to) = (pair[0] / unit * unit, pair[1] / unit * unit);
                        let mut other = bytes[from..to].to_vec();
                        let source = match byte_order { ByteOrder::Little => ByteOrder::Big, ByteOrder::Big => ByteOrder::Little };
                        if base.swap_unit_from(source).is_some() {
                            other.chunks_mut(unit).for_each(<[u8]>::reverse);
                        }
                        let copied = appender.copy_from(&other[..], source, |_| {}).unwrap();
                        prop_assert_eq!(copied, other.len() as u64);
                    }
                }
            }
            prop_assert_eq!(appender.bytes_written(), bytes.len() as u64);
            prop_assert_eq!(appender.rows_written(), *rows);
            appender.commit().unwrap();
            start += bytes.len();
        }
        let grown = description(dtype, order, byte_order, &trailing, total_rows);
        let reference = create_whole(&dir.path().join("whole.arr"), grown.clone(), &whole);
        let appended = std::fs::read(&path).unwrap();
        prop_assert!(appended == reference, "the appended file differs from the whole array's");
        let array = arrfile_mmap::open(&path).unwrap();
        prop_assert_eq!(array.description(), &grown);
        prop_assert_eq!(array.header().checksum().crc_field(), crc32(&whole));
        prop_assert!(array.verify().is_valid());
    }

    #[test]
    fn a_growing_stream_writer_equals_the_whole_array(
        dtype in dtypes(),
        (order, byte_order) in layouts(),
        trailing in prop::collection::vec(1u64..5, 0..3),
        rows in 0u64..40,
        per_mille in prop::collection::vec(0u16..=1000, 0..6),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("growing.arr");
        let grown = description(dtype, order, byte_order, &trailing, rows);
        let whole = payload(usize::try_from(grown.data_len()).unwrap(), rows + 7, dtype);
        let mut writer = StreamWriter::create_growing(&path, dtype, grown.trailing_shape(), order, grown.byte_order(), None).unwrap();
        for pair in cuts(whole.len(), &per_mille).windows(2) {
            writer.write_bytes(&whole[pair[0]..pair[1]]).unwrap();
        }
        let header = writer.finish().unwrap();
        prop_assert_eq!(header.description(), &grown);
        let reference = create_whole(&dir.path().join("whole.arr"), grown, &whole);
        prop_assert!(std::fs::read(&path).unwrap() == reference, "the growing writer's file differs");
    }
}
