//! Property test: a payload written in chunks of any sizes gives the same file as one write.

use arrfile_format::{Description, Dtype, crc32};
use arrfile_mmap::{ReadArray, StreamWriter, open};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn chunked_writes_equal_the_whole(len in 0usize..3_000_000, cuts in prop::collection::vec(0usize..3_000_000, 0..8)) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.arr");
        let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (len + 1)).collect();
        cuts.push(0);
        cuts.push(len);
        cuts.sort_unstable();
        let mut writer = StreamWriter::create(&path, Description::c_order(Dtype::U8, vec![len as u64]).unwrap(), None).unwrap();
        for pair in cuts.windows(2) {
            writer.write_bytes(&payload[pair[0]..pair[1]]).unwrap();
        }
        let header = writer.finish().unwrap();
        prop_assert_eq!(header.checksum().crc_field(), crc32(&payload));
        let array = open(&path).unwrap();
        prop_assert_eq!(array.as_bytes(), &payload[..]);
        prop_assert!(array.verify().is_valid());
    }
}
