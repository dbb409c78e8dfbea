//! Parsing the arguments shared by several commands: dtype, shape, order, attributes.

use std::path::Path;

use arrfile_format::{Attributes, ByteOrder, Dtype, Order};
use serde_json::Value;

use crate::error::CliError;

/// Refuses an existing output unless `--force` was given. (The library checks again when
/// it renames the new file into place, so a file that appears meanwhile is not replaced.)
pub(crate) fn refuse_existing(output: &Path, force: bool) -> Result<(), CliError> {
    if output.exists() && !force {
        return Err(CliError::OutputExists { path: output.to_owned() });
    }
    Ok(())
}

/// `C` or `F`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum OrderArg {
    /// Row-major.
    #[value(name = "C", alias = "c")]
    C,
    /// Column-major (Fortran).
    #[value(name = "F", alias = "f")]
    F,
}

impl From<OrderArg> for Order {
    fn from(arg: OrderArg) -> Order {
        match arg {
            OrderArg::C => Order::C,
            OrderArg::F => Order::F,
        }
    }
}

/// `little` or `big`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ByteOrderArg {
    /// Least significant byte first.
    Little,
    /// Most significant byte first.
    Big,
}

impl From<ByteOrderArg> for ByteOrder {
    fn from(arg: ByteOrderArg) -> ByteOrder {
        match arg {
            ByteOrderArg::Little => ByteOrder::Little,
            ByteOrderArg::Big => ByteOrder::Big,
        }
    }
}

/// A dtype from its spec name or a numpy spelling, and the byte order the spelling implies,
/// checked against `--byte-order`.
pub(crate) fn parse_dtype(
    spelling: &str,
    byte_order: Option<ByteOrderArg>,
) -> Result<(Dtype, Option<ByteOrder>), CliError> {
    let (dtype, implied) = Dtype::lookup(spelling).ok_or_else(|| {
        CliError::Usage(format!(
            "--dtype: expected a dtype such as f32, float32, <f4 or bf16, found {spelling:?} \
             (names: bool i8 i16 i32 i64 u8 u16 u32 u64 f16 bf16 f32 f64 c64 c128 f8_e4m3fn f8_e5m2)"
        ))
    })?;
    let given = byte_order.map(ByteOrder::from);
    match (implied, given) {
        (Some(a), Some(b)) if a != b && dtype.has_byte_order() => Err(CliError::Usage(format!(
            "--dtype {spelling} is {} endian but --byte-order says {}",
            a.name(),
            b.name()
        ))),
        _ => Ok((dtype, given.or(implied))),
    }
}

/// A shape like `1000000,100`, `(3, 4)` or `-1,64`; `""` or `()` is 0-d. `None` stands for
/// the one `-1` dimension, to be inferred.
pub(crate) fn parse_shape(text: &str) -> Result<Vec<Option<u64>>, CliError> {
    let inner = text.trim().trim_start_matches('(').trim_end_matches(')').trim();
    if inner.is_empty() {
        return Ok(Vec::new());
    }
    let dims: Vec<Option<u64>> = inner
        .split([',', 'x', '×'])
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .map(|part| match part {
            "-1" => Ok(None),
            _ => part.parse::<u64>().map(Some).map_err(|_| {
                CliError::Usage(format!(
                    "--shape: expected non-negative integers separated by commas (one may be -1), found {part:?} in {text:?}"
                ))
            }),
        })
        .collect::<Result<_, _>>()?;
    if dims.iter().filter(|d| d.is_none()).count() > 1 {
        return Err(CliError::Usage(format!("--shape: expected at most one -1, found {text:?}")));
    }
    if dims.len() > arrfile_format::MAX_NDIM {
        return Err(CliError::Usage(format!(
            "--shape: expected at most {} dimensions, found {}",
            arrfile_format::MAX_NDIM,
            dims.len()
        )));
    }
    Ok(dims)
}

/// The shape with its `-1` inferred from `available` bytes of `itemsize`-byte elements, as
/// numpy's reshape does; then the exact-size check.
pub(crate) fn resolve_shape(
    dims: &[Option<u64>],
    dtype: Dtype,
    available: u64,
    input: &Path,
) -> Result<Vec<u64>, CliError> {
    let itemsize = dtype.itemsize() as u64;
    let held = available / itemsize;
    let known = dims.iter().flatten().try_fold(1u64, |acc, &d| acc.checked_mul(d));
    let describe = |dims: &[Option<u64>]| {
        let parts: Vec<String> =
            dims.iter().map(|d| d.map_or_else(|| "-1".to_owned(), |d| d.to_string())).collect();
        format!("[{}]", parts.join(", "))
    };
    let shape: Vec<u64> = match dims.iter().position(Option::is_none) {
        None => dims.iter().flatten().copied().collect(),
        Some(axis) => {
            let known = known.filter(|&k| k > 0).ok_or_else(|| {
                CliError::Usage(format!(
                    "--shape {}: -1 cannot be inferred when another dimension is 0",
                    describe(dims)
                ))
            })?;
            if !available.is_multiple_of(itemsize) || !held.is_multiple_of(known) {
                return Err(CliError::invalid(
                    input,
                    format!(
                        "expected a size that shape {} of {dtype} divides, found {available} bytes ({held} elements{})",
                        describe(dims),
                        if available.is_multiple_of(itemsize) {
                            String::new()
                        } else {
                            format!(" and {} stray bytes", available % itemsize)
                        }
                    ),
                ));
            }
            let mut shape: Vec<u64> = dims.iter().map(|d| d.unwrap_or(0)).collect();
            shape[axis] = held / known;
            shape
        }
    };
    let expected = shape.iter().try_fold(itemsize, |acc, &d| acc.checked_mul(d));
    if expected != Some(available) {
        let expected = expected.map_or_else(|| "more than 2^64".to_owned(), |e| e.to_string());
        return Err(CliError::invalid(
            input,
            format!(
                "expected {expected} bytes for shape {shape:?} of {dtype} ({} bytes each), found {available} bytes, which hold {held} elements{}",
                dtype.itemsize(),
                if available.is_multiple_of(itemsize) {
                    String::new()
                } else {
                    format!(" and {} stray bytes", available % itemsize)
                }
            ),
        ));
    }
    Ok(shape)
}

/// `--attr key=value` (the value is JSON if it parses as JSON, else a string) over the
/// object in `--attrs-json FILE`.
pub(crate) fn parse_attributes(
    pairs: &[String],
    json_file: Option<&Path>,
) -> Result<Option<Attributes>, CliError> {
    let mut attributes = match json_file {
        None => None,
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| CliError::io(path, "reading --attrs-json", e))?;
            match serde_json::from_str::<Value>(&text) {
                Ok(Value::Object(map)) => Some(map),
                Ok(_) => {
                    return Err(CliError::invalid(
                        path,
                        "expected a JSON object, found another JSON value",
                    ));
                }
                Err(e) => {
                    return Err(CliError::invalid(
                        path,
                        format!("expected a JSON object, found invalid JSON: {e}"),
                    ));
                }
            }
        }
    };
    for pair in pairs {
        let (key, value) = pair.split_once('=').ok_or_else(|| {
            CliError::Usage(format!("--attr: expected key=value, found {pair:?}"))
        })?;
        let value = serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.to_owned()));
        attributes.get_or_insert_with(Attributes::new).insert(key.to_owned(), value);
    }
    Ok(attributes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        assert_eq!(parse_shape("1000000,100").unwrap(), vec![Some(1_000_000), Some(100)]);
        assert_eq!(parse_shape("(3, -1)").unwrap(), vec![Some(3), None]);
        assert_eq!(parse_shape("()").unwrap(), vec![]);
        assert_eq!(parse_shape("").unwrap(), vec![]);
        assert_eq!(parse_shape("4x5").unwrap(), vec![Some(4), Some(5)]);
        assert!(parse_shape("-1,-1").is_err());
        assert!(parse_shape("3,-2").is_err());
        assert!(parse_shape("3,a").is_err());
    }

    #[test]
    fn inferring_a_dimension() {
        let p = Path::new("x.dat");
        assert_eq!(resolve_shape(&[None, Some(100)], Dtype::F32, 4000, p).unwrap(), vec![10, 100]);
        assert_eq!(resolve_shape(&[Some(3), Some(0)], Dtype::F32, 0, p).unwrap(), vec![3, 0]);
        assert_eq!(resolve_shape(&[], Dtype::F64, 8, p).unwrap(), Vec::<u64>::new());
        let e = resolve_shape(&[None, Some(3)], Dtype::F32, 40, p).unwrap_err();
        assert_eq!(
            e.to_string(),
            "x.dat: expected a size that shape [-1, 3] of f32 divides, found 40 bytes (10 elements)"
        );
        let e =
            resolve_shape(&[Some(1_000_000), Some(100)], Dtype::F32, 399_999_996, p).unwrap_err();
        assert_eq!(
            e.to_string(),
            "x.dat: expected 400000000 bytes for shape [1000000, 100] of f32 (4 bytes each), found 399999996 bytes, which hold 99999999 elements"
        );
        assert!(resolve_shape(&[None, Some(0)], Dtype::F32, 0, p).is_err());
        assert!(resolve_shape(&[Some(u64::MAX), Some(4)], Dtype::F32, 16, p).is_err());
    }

    #[test]
    fn dtypes_and_byte_orders() {
        assert_eq!(parse_dtype(">f4", None).unwrap(), (Dtype::F32, Some(ByteOrder::Big)));
        assert_eq!(
            parse_dtype("float32", Some(ByteOrderArg::Big)).unwrap(),
            (Dtype::F32, Some(ByteOrder::Big))
        );
        assert!(parse_dtype("<f4", Some(ByteOrderArg::Big)).is_err());
        assert!(parse_dtype("object", None).is_err());
    }

    #[test]
    fn attributes() {
        let attrs =
            parse_attributes(&["units=K".into(), "scale=0.5".into(), "id=007".into()], None)
                .unwrap()
                .unwrap();
        assert_eq!(attrs["units"], "K");
        assert_eq!(attrs["scale"], 0.5);
        assert_eq!(attrs["id"], "007");
        assert!(parse_attributes(&["novalue".into()], None).is_err());
        assert_eq!(parse_attributes(&[], None).unwrap(), None);
    }
}
