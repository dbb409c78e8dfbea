//! Everything before the payload: header, metadata and padding. Encoding for writers, and
//! reader checks R21–R24, which read the metadata and padding.

use serde_json::{Map, Value};

use crate::{
    Description, EncodeError, HEADER_LEN, Header, MAX_METADATA_LEN, ParseError, PayloadChecksum,
};

/// User attributes: the metadata block's JSON object.
pub type Attributes = Map<String, Value>;

/// The deepest nesting of the metadata object, which is level 1 (spec §7.1): writers nest
/// at most this deep and readers refuse deeper metadata (R23).
pub const MAX_ATTRIBUTE_DEPTH: usize = 64;

/// The alignment of the payload offset: a power of two from 4096 to 2^20.
///
/// ```
/// use arrfile_format::Alignment;
/// assert_eq!(Alignment::new(65536).unwrap().get(), 65536);
/// assert!(Alignment::new(1000).is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Alignment(u64);

impl Alignment {
    /// 4096: the spec's minimum, the page size of x86-64.
    pub const PAGE: Alignment = Alignment(crate::MIN_ALIGNMENT);
    /// 65536: 64 KiB pages (aarch64 servers, ppc64le) and Windows' allocation granularity.
    pub const LARGE_PAGE: Alignment = Alignment(65536);

    /// An alignment, if `bytes` is a power of two from 4096 to 2^20.
    ///
    /// # Errors
    /// [`EncodeError::InvalidAlignment`].
    pub fn new(bytes: u64) -> Result<Alignment, EncodeError> {
        if bytes.is_power_of_two() && (crate::MIN_ALIGNMENT..=crate::MAX_PADDING).contains(&bytes) {
            Ok(Alignment(bytes))
        } else {
            Err(EncodeError::InvalidAlignment { alignment: bytes })
        }
    }

    /// The alignment in bytes.
    pub fn get(self) -> u64 {
        self.0
    }
}

impl Default for Alignment {
    fn default() -> Self {
        Alignment::PAGE
    }
}

/// The bytes a writer puts before the payload: header, metadata and zero padding.
///
/// ```
/// use arrfile_format::{Alignment, Attributes, Description, Dtype, PayloadChecksum, Prefix, parse};
/// let desc = Description::c_order(Dtype::F32, vec![2, 3]).unwrap();
/// let mut attrs = Attributes::new();
/// attrs.insert("units".into(), "kelvin".into());
/// let payload = [0u8; 24];
/// let prefix = Prefix::new(desc, Some(&attrs), Alignment::PAGE)
///     .unwrap()
///     .with_checksum(PayloadChecksum::Valid(arrfile_format::crc32(&payload)));
/// let mut file = prefix.to_bytes();
/// file.extend_from_slice(&payload);
/// let parsed = parse(&file).unwrap();
/// assert_eq!(parsed.attributes, Some(attrs));
/// assert!(parsed.verify().is_valid());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Prefix {
    header: Header,
    metadata: Vec<u8>,
}

impl Prefix {
    /// The prefix of a new file: metadata serialised compactly with sorted keys, the payload
    /// at the smallest multiple of `alignment` after it, checksum state *absent*.
    ///
    /// # Errors
    /// [`EncodeError`] for reserved keys, attributes too large or too deep.
    pub fn new(
        description: Description,
        attributes: Option<&Attributes>,
        alignment: Alignment,
    ) -> Result<Prefix, EncodeError> {
        let metadata = match attributes {
            None => Vec::new(),
            Some(attrs) => encode_attributes(attrs)?,
        };
        let metadata_len = metadata.len() as u64;
        let metadata_end = HEADER_LEN as u64 + metadata_len;
        let data_offset = metadata_end.next_multiple_of(alignment.get());
        let header =
            Header::for_new_file(description, metadata_len, crate::crc32(&metadata), data_offset);
        Ok(Prefix { header, metadata })
    }

    /// The same prefix with another payload checksum.
    pub fn with_checksum(mut self, checksum: PayloadChecksum) -> Prefix {
        self.header = self.header.with_checksum(checksum);
        self
    }

    /// The header this prefix encodes.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The metadata bytes (empty when there are no attributes).
    pub fn metadata(&self) -> &[u8] {
        &self.metadata
    }

    /// The 640 header bytes alone, for rewriting the header of an existing file.
    pub fn header_bytes(&self) -> [u8; HEADER_LEN] {
        self.header.to_bytes()
    }

    /// All `data_offset` bytes before the payload.
    pub fn to_bytes(&self) -> Vec<u8> {
        // data_offset < 18 MiB, so it fits in usize on every supported target.
        let len = usize::try_from(self.header.data_offset()).unwrap_or(usize::MAX);
        let mut out = Vec::with_capacity(len);
        out.extend_from_slice(&self.header.to_bytes());
        out.extend_from_slice(&self.metadata);
        out.resize(len, 0);
        out
    }
}

/// Serialises attributes as the spec recommends: compact, keys sorted by their UTF-8 bytes.
///
/// # Errors
/// [`EncodeError`] for reserved keys, attributes over 16 MiB or nested over 64 deep.
pub fn encode_attributes(attributes: &Attributes) -> Result<Vec<u8>, EncodeError> {
    if let Some(key) = attributes.keys().find(|key| key.starts_with("arrfile.")) {
        return Err(EncodeError::ReservedAttributeKey { key: key.clone() });
    }
    let depth = object_depth(attributes);
    if depth > MAX_ATTRIBUTE_DEPTH {
        return Err(EncodeError::MetadataTooDeep { depth });
    }
    // serde_json's Map is a BTreeMap (no `preserve_order`), so keys come out sorted; a
    // `Value` always serialises.
    let bytes = serde_json::to_vec(attributes).unwrap_or_default();
    if bytes.len() as u64 > MAX_METADATA_LEN {
        return Err(EncodeError::MetadataTooLarge { len: bytes.len() });
    }
    Ok(bytes)
}

/// The nesting depth of an attribute object, which is level 1 (spec §7.1).
fn object_depth(attributes: &Attributes) -> usize {
    attributes.values().map(depth).max().unwrap_or(0) + 1
}

fn depth(value: &Value) -> usize {
    match value {
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Value::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

impl Header {
    /// Applies reader checks R21–R24 (spec §9) to the bytes before the payload and returns
    /// the attributes, if the file has any.
    ///
    /// `prefix` is the file's first `data_offset` bytes, or more; a shorter slice fails as
    /// [`ParseError::TruncatedPayload`].
    ///
    /// # Errors
    /// The first failing check, as a [`ParseError`].
    pub fn check_prefix(&self, prefix: &[u8]) -> Result<Option<Attributes>, ParseError> {
        let data_offset = usize::try_from(self.data_offset()).unwrap_or(usize::MAX);
        let Some(prefix) = prefix.get(..data_offset) else {
            return Err(ParseError::TruncatedPayload {
                expected: self.file_len(),
                len: prefix.len() as u64,
            });
        };
        // Bounded by R15 and R17: the metadata lies within the prefix.
        let metadata_end = HEADER_LEN + usize::try_from(self.metadata_len()).unwrap_or(usize::MAX);
        let metadata = &prefix[HEADER_LEN..metadata_end];
        // R21.
        let computed = crate::crc32(metadata);
        if computed != self.metadata_crc() {
            return Err(ParseError::MetadataChecksumMismatch {
                stored: self.metadata_crc(),
                computed,
            });
        }
        let attributes = if metadata.is_empty() { None } else { Some(parse_attributes(metadata)?) };
        // R24.
        let padding = &prefix[metadata_end..];
        if let Some(index) = padding.iter().position(|&b| b != 0) {
            return Err(ParseError::NonZeroPadding {
                offset: (metadata_end + index) as u64,
                value: padding[index],
            });
        }
        Ok(attributes)
    }
}

/// R22 and R23: the metadata bytes as a JSON object nested at most 64 levels deep.
fn parse_attributes(metadata: &[u8]) -> Result<Attributes, ParseError> {
    let text = std::str::from_utf8(metadata)
        .map_err(|e| ParseError::MetadataNotUtf8 { valid_up_to: e.valid_up_to() })?;
    // serde_json refuses nesting beyond 128 levels, so `object_depth` recurses little.
    let value: Value = serde_json::from_str(text)
        .map_err(|e| ParseError::MetadataNotObject { reason: e.to_string() })?;
    match value {
        Value::Object(map) if object_depth(&map) > MAX_ATTRIBUTE_DEPTH => {
            Err(ParseError::MetadataNotObject {
                reason: format!(
                    "nested {} levels deep, more than the {MAX_ATTRIBUTE_DEPTH} allowed",
                    object_depth(&map)
                ),
            })
        }
        Value::Object(map) => Ok(map),
        other => Err(ParseError::MetadataNotObject {
            reason: format!("the top level is {}, expected an object", json_kind(&other)),
        }),
    }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Checks R1–R24 over a whole file held in memory; the caps of R15 and R18 hold whatever the
/// bytes claim.
///
/// ```
/// use arrfile_format::{parse, ParseErrorKind};
/// let err = parse(b"PK\x03\x04 not an arrfile").unwrap_err();
/// assert_eq!(err.kind(), ParseErrorKind::BadMagic);
/// ```
///
/// # Errors
/// The first failing check, as a [`ParseError`].
pub fn parse(file: &[u8]) -> Result<ParsedFile<'_>, ParseError> {
    let header = Header::parse(file, file.len() as u64)?;
    let attributes = header.check_prefix(file)?;
    // R19 made data_offset + data_len at most the length of `file`; bytes after it are an
    // append's uncommitted rows, which are not part of the array.
    let data_offset = usize::try_from(header.data_offset()).unwrap_or(usize::MAX);
    let data_end = usize::try_from(header.file_len()).unwrap_or(usize::MAX);
    let payload = file.get(data_offset..data_end).unwrap_or_default();
    Ok(ParsedFile { header, attributes, payload })
}

/// A file that passed every reader check, borrowing its payload.
#[derive(Clone, Debug, PartialEq)]
pub struct ParsedFile<'a> {
    /// The header.
    pub header: Header,
    /// The attributes, if the file has a metadata block.
    pub attributes: Option<Attributes>,
    /// The payload bytes.
    pub payload: &'a [u8],
}

impl ParsedFile<'_> {
    /// Verifies the payload against the header's checksum (spec §8).
    pub fn verify(&self) -> crate::Verification {
        self.header.checksum().verify_against(crate::crc32(self.payload))
    }
}
