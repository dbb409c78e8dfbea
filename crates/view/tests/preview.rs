//! `preview`: known arrays give known images, pixel for pixel (decoded with the `png`
//! crate); a 10^8-element array previews in constant memory (peak RSS in a child process).

use std::path::Path;
use std::process::Command;

use arrfile_format::{Description, Dtype, Order};
use arrfile_view::{Colormap, Hooks, NAN_COLOUR, PreviewOptions, Reduce, Source, preview};

fn write_f32(path: &Path, values: &[f32]) {
    std::fs::write(path, values.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<_>>()).unwrap();
}

fn decode(path: &Path) -> (u32, u32, Vec<u8>) {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!((info.color_type, info.bit_depth), (png::ColorType::Rgb, png::BitDepth::Eight));
    buf.truncate(info.buffer_size());
    (info.width, info.height, buf)
}

fn pixels(rgb: &[u8]) -> Vec<[u8; 3]> {
    rgb.chunks(3).map(|c| [c[0], c[1], c[2]]).collect()
}

#[test]
fn a_known_array_gives_a_known_image() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("a.dat");
    // 2 × 3, C order: viridis from 0 (dark purple) to 1 (yellow), a NaN in magenta.
    write_f32(&raw, &[0.0, 0.5, 1.0, f32::NAN, 0.0, 1.0]);
    let src =
        Source::from_file(&raw, Description::c_order(Dtype::F32, vec![2, 3]).unwrap(), 0).unwrap();
    let out = dir.path().join("a.png");
    let report = preview(&src, &PreviewOptions::default(), &out, Hooks::default()).unwrap();
    assert_eq!((report.width, report.height, report.vmin, report.vmax), (3, 2, 0.0, 1.0));
    let (w, h, rgb) = decode(&out);
    assert_eq!((w, h), (3, 2));
    // colorous's viridis (matplotlib's mid point is [33, 145, 140]).
    let (lo, mid, hi) = ([68, 1, 84], [32, 144, 140], [253, 231, 37]);
    assert_eq!(pixels(&rgb), vec![lo, mid, hi, NAN_COLOUR, lo, hi]);
    // No temporary file is left beside it.
    let names: Vec<_> =
        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names.len(), 2, "{names:?}");
}

#[test]
fn blocks_are_reduced_and_orders_agree() {
    let dir = tempfile::tempdir().unwrap();
    // 4 × 4 of i*4 + j, in C order and (the same logical array) in F order.
    let c: Vec<f32> = (0..16).map(|v| v as f32).collect();
    let f: Vec<f32> = (0..16).map(|k| ((k % 4) * 4 + k / 4) as f32).collect();
    write_f32(&dir.path().join("c.dat"), &c);
    write_f32(&dir.path().join("f.dat"), &f);
    let desc = Description::c_order(Dtype::F32, vec![4, 4]).unwrap();
    let sc = Source::from_file(dir.path().join("c.dat"), desc.clone(), 0).unwrap();
    let sf = Source::from_file(dir.path().join("f.dat"), desc.with_order(Order::F), 0).unwrap();
    let grey = |reduce, src: &Source, name: &str| {
        let options = PreviewOptions {
            cmap: Colormap::Greys,
            size: 2,
            reduce,
            vmin: Some(0.0),
            vmax: Some(15.0),
            ..PreviewOptions::default()
        };
        let out = dir.path().join(name);
        let report = preview(src, &options, &out, Hooks::default()).unwrap();
        assert_eq!(report.block, 2);
        pixels(&decode(&out).2).iter().map(|p| p[0]).collect::<Vec<u8>>()
    };
    // Block means 2.5, 4.5, 10.5, 12.5 of 15 → grey levels.
    let level = |v: f64| (v / 15.0 * 255.0).round() as u8;
    let means = vec![level(2.5), level(4.5), level(10.5), level(12.5)];
    assert_eq!(grey(Reduce::Mean, &sc, "c.png"), means);
    assert_eq!(grey(Reduce::Mean, &sf, "f.png"), means);
    assert_eq!(
        grey(Reduce::Max, &sf, "fmax.png"),
        vec![level(5.0), level(7.0), level(13.0), level(15.0)]
    );
    assert_eq!(
        grey(Reduce::Min, &sc, "cmin.png"),
        vec![level(0.0), level(2.0), level(8.0), level(10.0)]
    );
    // A slice: the transposed view (::-1 rows) of the F file is the reversed C image.
    let options = PreviewOptions {
        slice: Some("::-1, :".into()),
        cmap: Colormap::Greys,
        ..PreviewOptions::default()
    };
    let out = dir.path().join("s.png");
    preview(&sf, &options, &out, Hooks::default()).unwrap();
    let rows: Vec<u8> = pixels(&decode(&out).2).iter().map(|p| p[0]).collect();
    assert_eq!(rows[..4], [level(12.0), level(13.0), level(14.0), level(15.0)]);
}

#[test]
fn one_dimension_is_a_line_plot() {
    let dir = tempfile::tempdir().unwrap();
    let values: Vec<f32> = (0..5000).map(|i| (i as f32 / 300.0).sin()).collect();
    write_f32(&dir.path().join("s.dat"), &values);
    let src = Source::from_file(
        dir.path().join("s.dat"),
        Description::c_order(Dtype::F32, vec![5000]).unwrap(),
        0,
    )
    .unwrap();
    let out = dir.path().join("s.png");
    let options = PreviewOptions { size: 400, ..PreviewOptions::default() };
    let report = preview(&src, &options, &out, Hooks::default()).unwrap();
    let (w, h, rgb) = decode(&out);
    assert_eq!((w, h, report.block), (400, 150, 13));
    // Every column has ink (the curve is continuous), and the background is white.
    for x in 0..w as usize {
        let inked =
            (0..h as usize).any(|y| rgb[(y * w as usize + x) * 3..][..3] != [255, 255, 255]);
        assert!(inked, "column {x}");
    }
    assert_eq!(&rgb[..3], &[255, 255, 255]);
}

#[test]
fn bad_requests_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    write_f32(&dir.path().join("a.dat"), &[0.0; 24]);
    let src = Source::from_file(
        dir.path().join("a.dat"),
        Description::c_order(Dtype::F32, vec![2, 3, 4]).unwrap(),
        0,
    )
    .unwrap();
    let out = dir.path().join("x.png");
    let run = |options: PreviewOptions| {
        preview(&src, &options, &out, Hooks::default()).unwrap_err().to_string()
    };
    assert!(
        run(PreviewOptions::default())
            .contains("expected a non-empty 1-D or 2-D array, found 3 dimensions")
    );
    assert!(
        run(PreviewOptions { slice: Some("5".into()), ..Default::default() })
            .contains("out of range")
    );
    assert!(
        run(PreviewOptions { slice: Some("0, 1:1".into()), ..Default::default() })
            .contains("non-empty")
    );
    assert!(
        run(PreviewOptions {
            vmin: Some(2.0),
            vmax: Some(1.0),
            slice: Some("0".into()),
            ..Default::default()
        })
        .contains("--vmin")
    );
    assert!(!out.exists());
    // An unwritable output leaves nothing behind.
    let missing = dir.path().join("no/such/dir/x.png");
    let e = preview(
        &src,
        &PreviewOptions { slice: Some("0".into()), ..Default::default() },
        &missing,
        Hooks::default(),
    );
    assert!(e.unwrap_err().to_string().contains("x.png"));
}

/// Peak RSS (VmHWM) of this process, in bytes.
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * 1024
}

#[test]
fn a_hundred_million_elements_preview_in_constant_memory() {
    if std::env::var_os("ARRFILE_VIEW_RSS_CHILD").is_some() {
        let dir = std::env::var("ARRFILE_VIEW_RSS_CHILD").unwrap();
        let raw = Path::new(&dir).join("big.dat");
        let src = Source::from_file(
            &raw,
            Description::c_order(Dtype::F32, vec![10_000, 10_000]).unwrap(),
            0,
        )
        .unwrap();
        let report = preview(
            &src,
            &PreviewOptions::default(),
            &Path::new(&dir).join("big.png"),
            Hooks::default(),
        )
        .unwrap();
        assert_eq!((report.width, report.height, report.block), (1000, 1000, 10));
        println!("VmHWM {}", peak_rss());
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // 400 MB of f32 zeros, sparse: read with pread in 64 KiB runs.
    let file = std::fs::File::create(dir.path().join("big.dat")).unwrap();
    file.set_len(400_000_000).unwrap();
    drop(file);
    let output = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "a_hundred_million_elements_preview_in_constant_memory", "--nocapture"])
        .env("ARRFILE_VIEW_RSS_CHILD", dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    let peak: u64 = stdout
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no VmHWM in {stdout}"));
    // The input is 400 MB; the image's bins are 12 MB.
    assert!(peak < 64 << 20, "peak RSS {peak} bytes");
    let (w, h, _) = decode(&dir.path().join("big.png"));
    assert_eq!((w, h), (1000, 1000));
}

#[test]
fn wide_arrays_take_the_piecewise_path_and_agree() {
    // 2 rows of 300 000: wider than the element-wise lines, so each run is reduced piece by
    // piece; the same values in F order take the line path. Both give the block means.
    let dir = tempfile::tempdir().unwrap();
    let (rows, cols) = (2usize, 300_000usize);
    let value = |r: usize, c: usize| ((c / 1000) % 7) as f32 + r as f32;
    let c_order: Vec<f32> = (0..rows * cols).map(|k| value(k / cols, k % cols)).collect();
    let f_order: Vec<f32> = (0..rows * cols).map(|k| value(k % rows, k / rows)).collect();
    write_f32(&dir.path().join("c.dat"), &c_order);
    write_f32(&dir.path().join("f.dat"), &f_order);
    let desc = Description::c_order(Dtype::F32, vec![rows as u64, cols as u64]).unwrap();
    let options = PreviewOptions {
        cmap: Colormap::Greys,
        vmin: Some(0.0),
        vmax: Some(7.0),
        ..PreviewOptions::default()
    };
    let mut images = Vec::new();
    for (name, desc) in [("c", desc.clone()), ("f", desc.with_order(Order::F))] {
        let src = Source::from_file(dir.path().join(format!("{name}.dat")), desc, 0).unwrap();
        let out = dir.path().join(format!("{name}.png"));
        let report = preview(&src, &options, &out, Hooks::default()).unwrap();
        assert_eq!((report.width, report.height, report.block), (1024, 1, 293));
        images.push(decode(&out).2);
    }
    assert_eq!(images[0], images[1]);
    // Pixel 0: columns 0..293 of both rows: mean of 0 (row 0) and 1 (row 1).
    assert_eq!(images[0][0], (0.5f64 / 7.0 * 255.0).round() as u8);
}
