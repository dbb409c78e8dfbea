//! numpy's `descr` strings and the dtype table.

use arrfile_format::{ByteOrder, Dtype};

use super::error::{NpyError, quote};

/// What a `descr` string is, before an override is applied.
enum Kind {
    /// A dtype of the table.
    Typed(Dtype),
    /// Raw bytes of this size: `V<n>`, or `f1` (what ml_dtypes 0.6 writes for float8_e5m2,
    /// and which numpy itself cannot load).
    Untyped(u64),
}

/// Resolves `descr` to a dtype and byte order, with the caller's override for untyped data.
///
/// Byte order: `<` little, `>` big; `=`, `|` or no prefix mean the host's, as in numpy. A
/// one-byte dtype is always [`ByteOrder::Little`], whatever the prefix, so that equal arrays
/// have equal descriptions.
pub(crate) fn resolve(
    descr: &str,
    dtype_override: Option<Dtype>,
) -> Result<(Dtype, ByteOrder), NpyError> {
    let (explicit, body) = match descr.split_at_checked(1) {
        Some(("<", body)) => (Some(ByteOrder::Little), body),
        Some((">", body)) => (Some(ByteOrder::Big), body),
        Some(("=" | "|", body)) => (None, body),
        _ => (None, descr),
    };
    let quoted = || quote(descr);
    let dtype = match classify(body).ok_or_else(|| refusal(body, quoted()))? {
        Kind::Typed(found) => match dtype_override {
            Some(wanted) if wanted != found => {
                return Err(NpyError::OverrideConflict {
                    descr: quoted(),
                    found,
                    dtype_override: wanted,
                });
            }
            _ => found,
        },
        Kind::Untyped(itemsize) => match dtype_override {
            None => return Err(NpyError::UntypedDescr { descr: quoted(), itemsize }),
            Some(wanted) if u64::try_from(wanted.itemsize()).ok() == Some(itemsize) => wanted,
            Some(wanted) => {
                return Err(NpyError::OverrideSizeMismatch {
                    descr: quoted(),
                    itemsize,
                    dtype_override: wanted,
                });
            }
        },
    };
    let byte_order = if dtype.has_byte_order() {
        explicit.unwrap_or(ByteOrder::NATIVE)
    } else {
        ByteOrder::Little
    };
    Ok((dtype, byte_order))
}

/// The dtype or raw size `body` (a descr without its byte-order prefix) names, if any.
fn classify(body: &str) -> Option<Kind> {
    if body == "f1" {
        return Some(Kind::Untyped(1));
    }
    if let Some(size) = body.strip_prefix('V') {
        // Digits only: `str::parse` would also take a leading '+'.
        if !size.is_empty() && size.bytes().all(|byte| byte.is_ascii_digit()) {
            return size.parse::<u64>().ok().filter(|&size| size > 0).map(Kind::Untyped);
        }
        return None;
    }
    // With a prefix, `Dtype::lookup` reads numpy's type strings only (`i8` is int64).
    let (dtype, _) = Dtype::lookup(&format!("<{body}"))?;
    Some(Kind::Typed(dtype))
}

/// Why a descr that names no dtype is refused.
fn refusal(body: &str, descr: String) -> NpyError {
    match body.bytes().next() {
        Some(b'O') => NpyError::ObjectDtype { descr },
        Some(b'U' | b'S' | b'a') => NpyError::StringDtype { descr },
        Some(b'M' | b'm') => NpyError::DatetimeDtype { descr },
        _ => NpyError::UnknownDescr { descr },
    }
}

/// The descr written for `dtype`: numpy's own where it has one; `<V2` (`>V2`) for bfloat16,
/// as `np.save` writes ml_dtypes' bfloat16; `|V1` for both fp8 types (numpy's spelling of one
/// raw byte, which `np.load` reads; ml_dtypes 0.6 writes `<V1` for float8_e4m3fn and `<f1`
/// for float8_e5m2, which `np.load` cannot read).
pub(crate) fn descr_for(dtype: Dtype, byte_order: ByteOrder) -> Result<String, NpyError> {
    if let Some(descr) = dtype.numpy_descr(byte_order) {
        return Ok(descr);
    }
    match dtype {
        Dtype::BF16 => Ok(match byte_order {
            ByteOrder::Little => "<V2",
            ByteOrder::Big => ">V2",
        }
        .to_owned()),
        Dtype::F8E4M3FN | Dtype::F8E5M2 => Ok("|V1".to_owned()),
        other => Err(NpyError::NoNumpyDescr { dtype: other }),
    }
}
