//! The conformance suite: `fixtures/` is exactly what the generator makes, and every file in
//! `fixtures/manifest.json` parses to its listed description or fails with its listed error.
//!
//! Regenerate with `ARRFILE_REGENERATE_FIXTURES=1 cargo test -p arrfile-format --test conformance`.

#[path = "fixtures/generate.rs"]
mod generate;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use arrfile_format::raw::RawHeader;
use arrfile_format::{ChecksumState, Description, EncodeError, ParseErrorKind, parse};
use serde_json::{Value, json};
use zerocopy::FromBytes;
use zerocopy::byteorder::little_endian::{U32, U64};

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

fn regenerate() -> bool {
    std::env::var_os("ARRFILE_REGENERATE_FIXTURES").is_some_and(|v| v == "1")
}

const GENERATED_DIRS: [&str; 3] = ["valid", "invalid", "corrupt"];

#[test]
fn fixtures_are_exactly_what_the_generator_makes() {
    let dir = fixtures_dir();
    let fixtures = generate::all();
    let manifest = generate::manifest(&fixtures);
    if regenerate() {
        for sub in GENERATED_DIRS {
            let _ = std::fs::remove_dir_all(dir.join(sub));
            std::fs::create_dir_all(dir.join(sub)).unwrap();
        }
        for fixture in &fixtures {
            std::fs::write(dir.join(&fixture.path), &fixture.bytes).unwrap();
        }
        std::fs::write(dir.join("manifest.json"), &manifest).unwrap();
    }
    let on_disk =
        std::fs::read_to_string(dir.join("manifest.json")).expect("fixtures/manifest.json");
    assert_eq!(on_disk, manifest, "fixtures/manifest.json is stale; regenerate (see module docs)");
    let mut expected_paths = BTreeSet::new();
    for fixture in &fixtures {
        let bytes = std::fs::read(dir.join(&fixture.path))
            .unwrap_or_else(|e| panic!("{}: {e}; regenerate the fixtures", fixture.path));
        assert!(bytes == fixture.bytes, "{} differs from the generator's bytes", fixture.path);
        expected_paths.insert(fixture.path.clone());
    }
    for sub in GENERATED_DIRS {
        for entry in std::fs::read_dir(dir.join(sub)).unwrap() {
            let name = format!("{sub}/{}", entry.unwrap().file_name().to_string_lossy());
            assert!(expected_paths.contains(&name), "{name} is not made by the generator");
        }
    }
}

#[test]
fn spec_hexdump_is_the_smallest_fixture() {
    let fixtures = generate::all();
    let smallest = fixtures.iter().find(|f| f.path == "valid/smallest.arr").unwrap();
    let dump = generate::hexdump_header(&smallest.bytes);
    let spec_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../spec/arrfile-v1.md");
    let spec = std::fs::read_to_string(&spec_path).unwrap();
    let (begin, end) = ("<!-- hexdump:begin -->\n```\n", "```\n<!-- hexdump:end -->");
    let start = spec.find(begin).expect("hexdump begin marker") + begin.len();
    let stop = spec.find(end).expect("hexdump end marker");
    if regenerate() {
        let updated = format!("{}{}{}", &spec[..start], dump, &spec[stop..]);
        std::fs::write(&spec_path, updated).unwrap();
        return;
    }
    assert_eq!(&spec[start..stop], dump, "the spec's hex dump is stale; regenerate");
    assert_eq!(smallest.bytes.len(), 4097);
}

fn full_manifest() -> Value {
    let text = std::fs::read_to_string(fixtures_dir().join("manifest.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn manifest() -> Vec<Value> {
    full_manifest()["files"].as_array().unwrap().clone()
}

/// The valid files too large to commit (R15's and R18's bounds exactly) parse as the
/// manifest's `built_by_tests` lists them; one byte more of metadata is refused.
#[test]
fn files_built_by_the_tests_parse_as_listed() {
    let manifest = full_manifest();
    let entries = manifest["built_by_tests"].as_array().unwrap();
    let names: Vec<&str> = entries.iter().map(|e| e["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["padding_1_mib_minus_1", "metadata_16_mib"]);
    for entry in entries {
        let name = entry["name"].as_str().unwrap();
        let file = generate::built_by_tests(name);
        let parsed = parse(&file).unwrap_or_else(|e| panic!("{name}: {e}"));
        let header = &parsed.header;
        let expected: Description = serde_json::from_value(entry["description"].clone()).unwrap();
        assert_eq!(header.description(), &expected, "{name}");
        assert_eq!(json!(header.metadata_len()), entry["metadata_len"], "{name}");
        assert_eq!(json!(header.data_offset()), entry["data_offset"], "{name}");
        assert_eq!(json!(header.data_len()), entry["data_len"], "{name}");
        assert_eq!(json!(header.checksum().crc_field()), entry["payload_crc"], "{name}");
        assert_eq!(parsed.verify().kind_name(), entry["verify"], "{name}");
        let pad = parsed.attributes.as_ref().unwrap()["pad"].as_str().unwrap();
        assert_eq!(json!(pad.len()), entry["pad_len"], "{name}");
        assert!(pad.bytes().all(|b| b == b'x'), "{name}");
        assert_eq!(json!(parsed.payload), entry["values"], "{name}");
    }
    assert_eq!(entries[0]["data_offset"].as_u64(), Some(640 + 3457 + (1 << 20) - 1));
    assert_eq!(entries[1]["metadata_len"].as_u64(), Some(16 << 20));

    // One more byte of metadata (the padding after it still fits): R15 fails.
    let mut file = generate::built_by_tests("metadata_16_mib");
    let metadata_end = 640 + (16 << 20);
    file.insert(648, b'x');
    file.remove(metadata_end + 1);
    let metadata_crc = arrfile_format::crc32(&file[640..=metadata_end]);
    let (raw, _) = RawHeader::mut_from_prefix(&mut file).unwrap();
    raw.metadata_len = U64::new((16 << 20) + 1);
    raw.metadata_crc = U32::new(metadata_crc);
    raw.header_crc = U32::new(raw.compute_header_crc());
    assert_eq!(parse(&file).unwrap_err().kind(), ParseErrorKind::MetadataTooLarge);
    let mut attrs = arrfile_format::Attributes::new();
    attrs.insert("pad".into(), json!("x".repeat((16 << 20) - 9)));
    assert!(matches!(
        arrfile_format::encode_attributes(&attrs),
        Err(EncodeError::MetadataTooLarge { len }) if len == (16 << 20) + 1
    ));
}

#[test]
fn every_manifest_entry_parses_as_listed() {
    let entries = manifest();
    assert!(entries.len() > 50, "the manifest lists {} files", entries.len());
    for entry in entries {
        let path = entry["path"].as_str().unwrap();
        let bytes = std::fs::read(fixtures_dir().join(path)).unwrap();
        let result = parse(&bytes);
        if entry["valid"] == Value::Bool(false) {
            let err = result.expect_err(path);
            assert_eq!(err.kind().as_str(), entry["error"], "{path}: {err}");
            continue;
        }
        let parsed = result.unwrap_or_else(|e| panic!("{path}: {e}"));
        let expected: Description = serde_json::from_value(entry["description"].clone()).unwrap();
        let header = &parsed.header;
        assert_eq!(header.description(), &expected, "{path}");
        assert_eq!(header.data_offset(), entry["data_offset"].as_u64().unwrap(), "{path}");
        assert_eq!(header.data_len(), entry["data_len"].as_u64().unwrap(), "{path}");
        let state: ChecksumState = serde_json::from_value(entry["checksum_state"].clone()).unwrap();
        assert_eq!(header.checksum_state(), state, "{path}");
        assert_eq!(
            u64::from(header.checksum().crc_field()),
            entry["payload_crc"].as_u64().unwrap()
        );
        let attributes = parsed.attributes.clone().map(Value::Object).unwrap_or(Value::Null);
        assert_eq!(attributes, entry["attributes"], "{path}");
        assert_eq!(parsed.verify().kind_name(), entry["verify"], "{path}");
        assert_eq!(parsed.payload.len() as u64, header.data_len());
    }
}

#[test]
fn every_error_kind_has_an_invalid_fixture() {
    let listed: BTreeSet<String> = manifest()
        .iter()
        .filter(|e| e["valid"] == Value::Bool(false))
        .map(|e| e["error"].as_str().unwrap().to_owned())
        .collect();
    for kind in arrfile_format::ParseErrorKind::ALL {
        assert!(listed.contains(kind.as_str()), "no invalid fixture for {kind}");
    }
}

/// Format 1.1: every entry that a 1.0 reader must treat differently (`reader_1_0`) is one a
/// 1.0 reader refuses at R6, after R1–R5 pass, and a file mid-append holds exactly
/// `uncommitted_len` bytes after its committed payload.
#[test]
fn entries_for_1_0_readers_fail_r6_after_r1_to_r5() {
    let mut seen = 0;
    for entry in manifest() {
        let path = entry["path"].as_str().unwrap();
        let bytes = std::fs::read(fixtures_dir().join(path)).unwrap();
        let Some(reader_1_0) = entry.get("reader_1_0") else { continue };
        seen += 1;
        assert_eq!(reader_1_0["check"], "R6", "{path}");
        let (raw, _) = RawHeader::ref_from_prefix(&bytes).unwrap();
        assert_eq!(raw.magic, arrfile_format::MAGIC, "{path}");
        assert_eq!(raw.version_major.get(), 1, "{path}");
        assert_eq!(raw.header_crc.get(), raw.compute_header_crc(), "{path}");
        assert_eq!(raw.required_features.get(), arrfile_format::APPEND_IN_PROGRESS, "{path}");
        if let Some(tail) = entry["uncommitted_len"].as_u64() {
            let header = parse(&bytes).unwrap().header;
            assert!(header.append_in_progress(), "{path}");
            assert_eq!(bytes.len() as u64, header.file_len() + tail, "{path}");
        }
    }
    assert_eq!(seen, 6);
}

fn fixture(path: &str) -> Vec<u8> {
    std::fs::read(fixtures_dir().join(path)).unwrap()
}

/// Recovery (spec §11.4) of `append_in_progress` cuts the uncommitted rows and clears the bit,
/// which gives `append_recovered` byte for byte; so does a second recovery (idempotence).
#[test]
fn recovering_the_mid_append_fixture_gives_the_recovered_one() {
    let mid = fixture("valid/append_in_progress.arr");
    let header = parse(&mid).unwrap().header;
    let mut recovered = mid[..header.file_len() as usize].to_vec();
    recovered[..640].copy_from_slice(&header.end_append().to_bytes());
    assert_eq!(recovered, fixture("valid/append_recovered.arr"));
    let again = parse(&recovered).unwrap().header.end_append().to_bytes();
    assert_eq!(&again[..], &recovered[..640]);
}

/// Committing an append (spec §11.3) to `append_in_progress`: the new rows after the
/// committed payload, then one header with the grown shape and the CRC combined from the old
/// CRC and the new rows' (the old rows are not read) gives `append_committed`, which is the
/// file a writer makes of the whole array at once.
#[test]
fn committing_rows_to_the_mid_append_fixture_gives_the_committed_one() {
    let mid = fixture("valid/append_in_progress.arr");
    let committed = fixture("valid/append_committed.arr");
    let header = parse(&mid).unwrap().header;
    let rows = &committed[header.file_len() as usize..];
    let old_crc = header.checksum();
    let new_crc = old_crc.appended(arrfile_format::crc32(rows), rows.len() as u64);
    let outer = header.shape()[0] + rows.len() as u64 / header.description().row_len();
    let grown = header.committed_append(outer, new_crc).unwrap();
    let mut file = mid[..header.file_len() as usize].to_vec();
    file.extend_from_slice(rows);
    file[..640].copy_from_slice(&grown.to_bytes());
    assert_eq!(file, committed);
}
