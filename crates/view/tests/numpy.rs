//! `show`, `stats` and `diff` against numpy's own results (`tests/data/expected.json`, made by
//! `tests/data/gen_expected.py` with the numpy version it records), on every valid arrfile
//! fixture and on `.npy` files made by real numpy. No Python at test time.

use std::path::{Path, PathBuf};

use arrfile_format::{ByteOrder, Description, Dtype, Order};
use arrfile_view::{Hooks, Number, Source, Summary, Tolerance, diff, show, stats};
use serde_json::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

fn expected() -> Value {
    let text = std::fs::read_to_string(data().join("expected.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn description(d: &Value) -> Description {
    let dtype: Dtype = d["dtype"].as_str().unwrap().parse().unwrap();
    let shape: Vec<u64> =
        d["shape"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
    let order = if d["order"] == "F" { Order::F } else { Order::C };
    let bo = if d["byte_order"] == "big" { ByteOrder::Big } else { ByteOrder::Little };
    Description::new(dtype, shape, order, bo).unwrap()
}

fn source(entry: &Value) -> Source {
    let rel = entry["path"].as_str().unwrap();
    if entry["kind"] == "arr" {
        Source::open(repo().join(rel)).unwrap()
    } else {
        let offset = entry["offset"].as_u64().unwrap();
        Source::from_file(data().join(rel), description(&entry["description"]), offset).unwrap()
    }
}

fn ulps(a: f64, b: f64) -> u64 {
    if a == b {
        return 0;
    }
    (a.to_bits() as i64).abs_diff(b.to_bits() as i64)
}

fn float_of(v: &Value) -> f64 {
    match v {
        Value::String(s) if s == "nan" => f64::NAN,
        Value::String(s) if s == "inf" => f64::INFINITY,
        Value::String(s) if s == "-inf" => f64::NEG_INFINITY,
        v => v.as_f64().unwrap(),
    }
}

fn same_float(a: f64, b: f64, rel: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a == b || (a - b).abs() <= rel * b.abs().max(f64::MIN_POSITIVE)
}

fn check_summary(what: &str, got: &Summary, want: &Value, integer: bool) {
    assert_eq!(got.count, want["count"].as_u64().unwrap(), "{what}: count");
    assert_eq!(got.nan, want["nan"].as_u64().unwrap(), "{what}: nan");
    assert_eq!(got.pos_inf, want["pos_inf"].as_u64().unwrap(), "{what}: +inf");
    assert_eq!(got.neg_inf, want["neg_inf"].as_u64().unwrap(), "{what}: -inf");
    assert_eq!(got.zeros, want["zeros"].as_u64().unwrap(), "{what}: zeros");
    let extreme = |n: Option<Number>, w: &Value| match (n, w) {
        (None, Value::Null) => {}
        (Some(Number::Int(v)), w) => {
            let w = w.as_i64().map(i128::from).or(w.as_u64().map(i128::from)).unwrap();
            assert_eq!(v, w, "{what}: extreme");
        }
        (Some(Number::Float(v)), w) => {
            assert!(same_float(v, float_of(w), 0.0), "{what}: {v} vs {w}")
        }
        (n, w) => panic!("{what}: {n:?} vs {w}"),
    };
    extreme(got.min, &want["min"]);
    extreme(got.max, &want["max"]);
    let mean = float_of(&want["mean"]);
    if integer {
        // numpy is exact here (up to its float64 sum); ours: within 1 ulp of the exact mean.
        assert!(ulps(got.mean, mean) <= 1, "{what}: mean {} vs exact {mean}", got.mean);
    } else {
        assert!(same_float(got.mean, mean, 1e-12), "{what}: mean {} vs {mean}", got.mean);
    }
    let std = float_of(&want["std"]);
    assert!(same_float(got.std, std, 1e-9), "{what}: std {} vs {std}", got.std);
}

#[test]
fn show_prints_what_numpy_prints() {
    let doc = expected();
    let mut checked = 0;
    for entry in doc["files"].as_array().unwrap() {
        let src = source(entry);
        let path = entry["path"].as_str().unwrap();
        assert_eq!(show(&src, None).unwrap(), entry["str"].as_str().unwrap(), "{path}");
        for (expr, want) in entry["slices"].as_object().unwrap() {
            assert_eq!(show(&src, Some(expr)).unwrap(), want.as_str().unwrap(), "{path}[{expr}]");
            checked += 1;
        }
        checked += 1;
    }
    assert!(checked > 300, "{checked}");
}

#[test]
fn stats_match_numpy() {
    let doc = expected();
    for entry in doc["files"].as_array().unwrap() {
        let path = entry["path"].as_str().unwrap();
        let src = source(entry);
        let want = &entry["stats"];
        let integer = matches!(
            src.description().dtype(),
            Dtype::Bool
                | Dtype::I8
                | Dtype::I16
                | Dtype::I32
                | Dtype::I64
                | Dtype::U8
                | Dtype::U16
                | Dtype::U32
                | Dtype::U64
        );
        if want.is_null() {
            assert!(stats(&src, None, 0, Hooks::default()).is_err(), "{path}: complex");
            continue;
        }
        for threads in [1, 3] {
            let axis = entry.get("axis0").map(|_| 0);
            let got = stats(&src, axis, threads, Hooks::default()).unwrap();
            check_summary(path, &got.total, want, integer);
            if let Some(rows) = entry.get("axis0") {
                let (_, list) = got.per_index.unwrap();
                let rows = rows.as_array().unwrap();
                assert_eq!(list.len(), rows.len(), "{path}");
                for (i, (g, w)) in list.iter().zip(rows).enumerate() {
                    check_summary(&format!("{path}[{i}]"), g, w, integer);
                }
            }
        }
    }
}

#[test]
fn diff_matches_numpy() {
    let doc = expected();
    for pair in doc["pairs"].as_array().unwrap() {
        let a_entry =
            doc["files"].as_array().unwrap().iter().find(|e| e["path"] == pair["a"]).unwrap();
        let a = source(a_entry);
        let b = Source::from_file(
            data().join(pair["b"].as_str().unwrap()),
            description(&pair["b_description"]),
            pair["b_offset"].as_u64().unwrap(),
        )
        .unwrap();
        let what = pair["b"].as_str().unwrap();
        let exact = diff(&a, &b, Tolerance::default(), 10, Hooks::default()).unwrap();
        assert_eq!(exact.differing, pair["differing_exact"].as_u64().unwrap(), "{what}");
        let first: Vec<Vec<u64>> = exact.first.iter().map(|d| d.index.clone()).collect();
        let want: Vec<Vec<u64>> = serde_json::from_value(pair["first"].clone()).unwrap();
        assert_eq!(first, want, "{what}");
        let tol = Tolerance { rtol: Some(1e-5), atol: None };
        let close = diff(&a, &b, tol, 10, Hooks::default()).unwrap();
        assert_eq!(close.differing, pair["differing_default_tol"].as_u64().unwrap(), "{what}");
        // Against itself in another order and byte order: equal.
        assert!(diff(&a, &a, Tolerance::default(), 10, Hooks::default()).unwrap().equal());
    }
}

#[test]
fn the_numpy_version_is_recorded() {
    assert!(expected()["numpy"].as_str().unwrap().starts_with('2'));
}
