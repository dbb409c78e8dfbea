//! `preview`: a 2-D array (or a 2-D slice) as a PNG through a perceptual colormap, or a 1-D
//! array as a line plot; read once, in constant memory, whatever the array's size.

use std::io::{BufWriter, Write};
use std::path::Path;

use arrfile_format::{ByteOrder, Dtype};
use arrfile_mmap::PendingFile;

use crate::error::{Error, ErrorKind};
use crate::hooks::Hooks;
use crate::slice::{Selection, parse_slice};
use crate::source::{ElementReader, Source};
use crate::value::decode_f64s;

/// The colour of NaN pixels (magenta: in none of the colormaps).
pub const NAN_COLOUR: [u8; 3] = [255, 0, 255];
/// Elements read at a time along a contiguous run.
const RUN_CHUNK: u64 = 1 << 10;
/// Entries of the colour look-up table.
const LUT_LEN: usize = 4096;

/// A perceptually uniform colormap.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Colormap {
    /// viridis (matplotlib's default).
    #[default]
    Viridis,
    /// magma.
    Magma,
    /// inferno.
    Inferno,
    /// plasma.
    Plasma,
    /// cividis (also for colour-blind readers).
    Cividis,
    /// turbo (rainbow-like, not uniform, but popular).
    Turbo,
    /// greys, black to white.
    Greys,
}

impl Colormap {
    /// Every colormap's name, for help texts.
    pub const NAMES: &'static str = "viridis, magma, inferno, plasma, cividis, turbo, greys";

    /// Looks a colormap up by name.
    pub fn from_name(name: &str) -> Option<Colormap> {
        Some(match name.to_ascii_lowercase().as_str() {
            "viridis" => Colormap::Viridis,
            "magma" => Colormap::Magma,
            "inferno" => Colormap::Inferno,
            "plasma" => Colormap::Plasma,
            "cividis" => Colormap::Cividis,
            "turbo" => Colormap::Turbo,
            "greys" | "gray" | "grey" => Colormap::Greys,
            _ => return None,
        })
    }

    /// The colour at `t` in `[0, 1]`.
    pub fn colour(self, t: f64) -> [u8; 3] {
        let gradient = match self {
            Colormap::Viridis => colorous::VIRIDIS,
            Colormap::Magma => colorous::MAGMA,
            Colormap::Inferno => colorous::INFERNO,
            Colormap::Plasma => colorous::PLASMA,
            Colormap::Cividis => colorous::CIVIDIS,
            Colormap::Turbo => colorous::TURBO,
            Colormap::Greys => {
                let v = (t.clamp(0.0, 1.0) * 255.0).round() as u8;
                return [v, v, v];
            }
        };
        let c = gradient.eval_continuous(t.clamp(0.0, 1.0));
        [c.r, c.g, c.b]
    }
}

impl std::str::FromStr for Colormap {
    type Err = String;

    /// A colormap by name (`--cmap`), case-insensitive.
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Colormap::from_name(name)
            .ok_or_else(|| format!("expected one of {}, found {name:?}", Colormap::NAMES))
    }
}

/// How a block of elements becomes one pixel when the array is larger than the image.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Reduce {
    /// The mean of the block's non-NaN values.
    #[default]
    Mean,
    /// The smallest non-NaN value.
    Min,
    /// The largest non-NaN value.
    Max,
}

impl std::str::FromStr for Reduce {
    type Err = String;

    /// `mean`, `min` or `max` (`--reduce`).
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name {
            "mean" => Ok(Reduce::Mean),
            "min" => Ok(Reduce::Min),
            "max" => Ok(Reduce::Max),
            _ => Err(format!("expected mean, min or max, found {name:?}")),
        }
    }
}

/// Options of [`preview`].
#[derive(Clone, Debug, PartialEq)]
pub struct PreviewOptions {
    /// A numpy-style slice choosing a 1-D or 2-D view.
    pub slice: Option<String>,
    /// The colormap (2-D).
    pub cmap: Colormap,
    /// The value drawn as the colormap's low end (default: the data's finite minimum).
    pub vmin: Option<f64>,
    /// The value drawn as the colormap's high end (default: the data's finite maximum).
    pub vmax: Option<f64>,
    /// The image's longest side at most, in pixels; the width of a line plot.
    pub size: u32,
    /// How blocks are reduced to pixels.
    pub reduce: Reduce,
}

impl Default for PreviewOptions {
    fn default() -> Self {
        PreviewOptions {
            slice: None,
            cmap: Colormap::Viridis,
            vmin: None,
            vmax: None,
            size: 1024,
            reduce: Reduce::Mean,
        }
    }
}

/// What [`preview`] drew.
#[derive(Clone, Debug, PartialEq)]
pub struct PreviewReport {
    /// The view's shape.
    pub shape: Vec<u64>,
    /// Image width and height.
    pub width: u32,
    /// Image height.
    pub height: u32,
    /// Elements per pixel along each side (1 when not downsampled).
    pub block: u64,
    /// The value range drawn.
    pub vmin: f64,
    /// The value range drawn.
    pub vmax: f64,
}

impl std::fmt::Display for PreviewReport {
    /// `768x512 pixels from [512, 768] (1 per pixel side), values -2 to 2`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}x{} pixels from {:?} ({} per pixel side), values {} to {}",
            self.width, self.height, self.shape, self.block, self.vmin, self.vmax
        )
    }
}

/// An RGB image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Image {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// `width × height × 3` bytes, rows top to bottom.
    pub rgb: Vec<u8>,
}

/// Renders the preview image in memory (see [`preview`] to write it).
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use arrfile_format::{Description, Dtype};
/// use arrfile_view::{Hooks, PreviewOptions, Source, render};
/// # let dir = tempfile::tempdir()?;
/// # let path = dir.path().join("a.dat");
/// std::fs::write(&path, [0.0f32, 1.0, f32::NAN, 0.5].iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<_>>())?;
/// let source = Source::from_file(&path, Description::c_order(Dtype::F32, vec![2, 2])?, 0)?;
/// let (image, report) = render(&source, &PreviewOptions::default(), Hooks::default())?;
/// assert_eq!((image.width, image.height, report.vmin, report.vmax), (2, 2, 0.0, 1.0));
/// assert_eq!(&image.rgb[6..9], &[255, 0, 255]); // NaN
/// # Ok(()) }
/// ```
///
/// # Errors
/// [`ErrorKind::Slice`], [`ErrorKind::WrongDimensions`] unless the view is 1-D or 2-D,
/// [`ErrorKind::UnsupportedDtype`] for complex arrays, [`ErrorKind::BadRange`],
/// [`ErrorKind::BadSize`], [`ErrorKind::Interrupted`] or a read error.
pub fn render(
    source: &Source,
    options: &PreviewOptions,
    hooks: Hooks<'_>,
) -> Result<(Image, PreviewReport), Error> {
    let desc = source.description();
    let err = |kind| Error::new(source.path(), kind);
    if matches!(desc.dtype(), Dtype::C64 | Dtype::C128) {
        return Err(err(ErrorKind::UnsupportedDtype {
            command: "preview",
            expected: "real",
            dtype: desc.dtype(),
        }));
    }
    if !(2..=16384).contains(&options.size) {
        return Err(err(ErrorKind::BadSize { size: options.size }));
    }
    if let (Some(lo), Some(hi)) = (options.vmin, options.vmax)
        && !(lo.is_finite() && hi.is_finite() && lo < hi)
    {
        return Err(err(ErrorKind::BadRange { vmin: lo, vmax: hi }));
    }
    let selection = match &options.slice {
        None => Selection::all(desc.shape(), desc.order()),
        Some(expr) => {
            let items = parse_slice(expr).map_err(|e| err(ErrorKind::Slice(e)))?;
            Selection::new(desc.shape(), desc.order(), &items)
                .map_err(|e| err(ErrorKind::Slice(e)))?
        }
    };
    let shape = selection.shape();
    match shape.len() {
        2 if !selection.is_empty() => image_2d(source, &selection, options, hooks),
        1 if !selection.is_empty() => line_plot(source, &selection, options, hooks),
        _ => Err(err(ErrorKind::WrongDimensions {
            command: "preview",
            expected: "a non-empty 1-D or 2-D array",
            ndim: shape.len(),
            shape,
        })),
    }
}

/// A run of elements: little-endian f32 bytes as stored (the fast path), or decoded values.
#[derive(Clone, Copy)]
enum Run<'a> {
    F32Le(&'a [u8]),
    Values(&'a [f64]),
}

impl<'a> Run<'a> {
    fn len(self) -> usize {
        match self {
            Run::F32Le(bytes) => bytes.len() / 4,
            Run::Values(values) => values.len(),
        }
    }

    /// Count, sum, min and max of the finite elements `[from, to)`.
    fn reduce(self, from: usize, to: usize) -> (u32, f64, f64, f64) {
        match self {
            Run::F32Le(bytes) => reduce_f32(&bytes[from * 4..to * 4]),
            Run::Values(values) => reduce_piece(&values[from..to]),
        }
    }

    fn values<'b>(self, buf: &'b mut Vec<f64>) -> &'b [f64]
    where
        'a: 'b,
    {
        match self {
            Run::Values(values) => values,
            Run::F32Le(bytes) => {
                buf.clear();
                decode_f64s(Dtype::F32, ByteOrder::Little, bytes, buf);
                buf
            }
        }
    }
}

/// As [`reduce_piece`], over little-endian f32 bytes. Optimistic: plain sums, minima and
/// maxima in eight lanes (NaN drops out of `<` comparisons; sums in f32 over a pixel's piece
/// of a row are ample for 12-bit colour steps); a piece holding NaN or an infinity, which
/// the sum or the extremes then show, is redone by [`reduce_f32_careful`].
fn reduce_f32(bytes: &[u8]) -> (u32, f64, f64, f64) {
    const LANES: usize = 8;
    if bytes.len() < 4 * 4 * LANES {
        // A small block: a plain loop beats folding eight lanes.
        let (mut sum, mut lo, mut hi) = (0.0f32, f32::INFINITY, f32::NEG_INFINITY);
        for w in bytes.as_chunks::<4>().0 {
            let v = f32::from_le_bytes(*w);
            sum += v;
            lo = if v < lo { v } else { lo };
            hi = if v > hi { v } else { hi };
        }
        if sum.is_finite() && lo.is_finite() && hi.is_finite() {
            return ((bytes.len() / 4) as u32, f64::from(sum), f64::from(lo), f64::from(hi));
        }
        return reduce_f32_careful(bytes);
    }
    let mut sum = [0.0f32; LANES];
    let mut lo = [f32::INFINITY; LANES];
    let mut hi = [f32::NEG_INFINITY; LANES];
    let (chunks, tail) = bytes.as_chunks::<{ 4 * LANES }>();
    for c in chunks {
        let (words, _) = c.as_chunks::<4>();
        for l in 0..LANES {
            let v = f32::from_le_bytes(words[l]);
            sum[l] += v;
            lo[l] = if v < lo[l] { v } else { lo[l] };
            hi[l] = if v > hi[l] { v } else { hi[l] };
        }
    }
    for (l, w) in tail.as_chunks::<4>().0.iter().enumerate() {
        let v = f32::from_le_bytes(*w);
        sum[l] += v;
        lo[l] = if v < lo[l] { v } else { lo[l] };
        hi[l] = if v > hi[l] { v } else { hi[l] };
    }
    let total: f32 = sum.iter().sum();
    let min = lo.iter().fold(f32::INFINITY, |a, &b| if b < a { b } else { a });
    let max = hi.iter().fold(f32::NEG_INFINITY, |a, &b| if b > a { b } else { a });
    let n = bytes.len() / 4;
    if !(total.is_finite() && min.is_finite() && max.is_finite()) || n == 0 {
        return reduce_f32_careful(bytes);
    }
    (n as u32, f64::from(total), f64::from(min), f64::from(max))
}

/// [`reduce_f32`] for pieces with NaN or infinities (or sums that overflow f32).
fn reduce_f32_careful(bytes: &[u8]) -> (u32, f64, f64, f64) {
    let (mut n, mut sum, mut lo, mut hi) = (0u32, 0.0f64, f64::INFINITY, f64::NEG_INFINITY);
    for w in bytes.as_chunks::<4>().0 {
        let v = f64::from(f32::from_le_bytes(*w));
        if v.is_finite() {
            n += 1;
            sum += v;
            lo = if v < lo { v } else { lo };
            hi = if v > hi { v } else { hi };
        }
    }
    (n, sum, lo, hi)
}

/// Calls `f(outer, inner_start, values)` for runs of the 2-D view along its axis of smaller
/// storage stride, so that a C- or F-order array is read in storage order. `outer` and
/// `inner` are view indices on axes `o` and `1 - o`; returns `o`.
fn for_each_run(
    source: &Source,
    sel: &Selection,
    outer_range: Option<(u64, u64)>,
    hooks: Hooks<'_>,
    mut f: impl FnMut(u64, u64, Run<'_>),
) -> Result<usize, Error> {
    let desc = source.description();
    let (dtype, byte_order) = (desc.dtype(), desc.byte_order());
    let size = dtype.itemsize() as u64;
    let outer_axis =
        if sel.dims.len() == 2 && sel.dims[1].1.unsigned_abs() > sel.dims[0].1.unsigned_abs() {
            1
        } else {
            0
        };
    let (outer_len, outer_stride) = if sel.dims.len() == 2 { sel.dims[outer_axis] } else { (1, 0) };
    let (inner_len, inner_stride) = sel.dims[if sel.dims.len() == 2 { 1 - outer_axis } else { 0 }];
    let mut scratch = Vec::new();
    let mut values = Vec::new();
    let mut reader = ElementReader::new(source);
    let (o_begin, o_end) = outer_range.unwrap_or((0, outer_len));
    for o in o_begin..o_end.min(outer_len) {
        if (hooks.cancelled)() {
            return Err(Error::new(source.path(), ErrorKind::Interrupted));
        }
        let base = sel.offset as i128 + i128::from(outer_stride) * i128::from(o);
        let mut i = 0u64;
        while i < inner_len {
            let n = RUN_CHUNK.min(inner_len - i);
            values.clear();
            let first = base + i128::from(inner_stride) * i128::from(i);
            if inner_stride == 1 && dtype == Dtype::F32 && byte_order == ByteOrder::Little {
                // Borrowed from the map (or one read): take up to 1 MiB at a time.
                let n = (RUN_CHUNK * 256).min(inner_len - i);
                let low = u64::try_from(first).unwrap_or(0);
                let bytes = source.bytes(low * size, (n * size) as usize, &mut scratch)?;
                f(o, i, Run::F32Le(bytes));
                (hooks.progress)(n * size);
                i += n;
                continue;
            }
            if inner_stride.abs() == 1 || n == 1 {
                let low = if inner_stride < 0 { first - i128::from(n) + 1 } else { first };
                let low = u64::try_from(low).unwrap_or(0);
                let bytes = source.bytes(low * size, (n * size) as usize, &mut scratch)?;
                decode_f64s(dtype, byte_order, bytes, &mut values);
                if inner_stride < 0 {
                    values.reverse();
                }
            } else {
                for k in 0..n {
                    let at = first + i128::from(inner_stride) * i128::from(k);
                    values.push(reader.get(u64::try_from(at).unwrap_or(0))?.to_f64());
                }
            }
            f(o, i, Run::Values(&values));
            (hooks.progress)(n * size);
            i += n;
        }
    }
    Ok(outer_axis)
}

fn image_2d(
    source: &Source,
    sel: &Selection,
    options: &PreviewOptions,
    hooks: Hooks<'_>,
) -> Result<(Image, PreviewReport), Error> {
    let (rows, cols) = (sel.dims[0].0, sel.dims[1].0);
    let size = u64::from(options.size);
    let block = rows.max(cols).div_ceil(size).max(1);
    let (height, width) = (rows.div_ceil(block), cols.div_ceil(block));
    let pixels = (height * width) as usize;
    let reduce = options.reduce;
    let rows_outer = outer_axis_is_rows(sel);
    let (outer_len, inner_pixels) = if rows_outer { (rows, width) } else { (cols, height) };
    let outer_pixels = outer_len.div_ceil(block);
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(usize::try_from(outer_pixels).unwrap_or(1))
        .max(1);
    let inner_len = if rows_outer { cols } else { rows };
    let lines = LineLayout::of(source, sel);
    // The bins, one row of `inner_pixels` per outer pixel. Threads take outer pixels one at
    // a time from a shared queue (a lock per outer pixel, none per element): every core
    // busy to the end even when one is slowed, and no two threads write one pixel.
    // Written here, not left to `calloc`'s zero pages: each thread's first write to a zero
    // page would otherwise be a copy-on-write fault whose TLB flush interrupts the other
    // cores (measured: ~5% of a 1 GiB preview). A bin's `acc` is set by its first value.
    let mut acc = Vec::with_capacity(pixels);
    acc.resize(pixels, -0.0f64);
    let mut counts = Vec::with_capacity(pixels);
    counts.resize(pixels, u32::MAX);
    counts.fill(0);
    let queue = std::sync::Mutex::new(
        acc.chunks_mut(inner_pixels as usize)
            .zip(counts.chunks_mut(inner_pixels as usize))
            .zip(0u64..),
    );
    let next = || queue.lock().ok().and_then(|mut q| q.next());
    let part = || -> Result<(f64, f64), Error> {
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        if let Some(lines) = lines {
            // The fast path: little-endian f32 lines contiguous in storage.
            let mut fast = FastF32::new(&lines, block);
            while let Some(((acc, counts), op)) = next() {
                let mut bins = Bins { acc, counts, lo, hi };
                fast.outer_pixel(source, &lines, op, block, &mut bins, reduce, hooks)?;
                (lo, hi) = (bins.lo, bins.hi);
            }
            return Ok((lo, hi));
        }
        // Up to MAX_LINE elements across: accumulate element-wise over the outer pixel's
        // lines, then fold into pixels; wider arrays reduce each run piece by piece.
        let mut line_acc = (inner_len <= MAX_LINE).then(|| Lines::new(inner_len as usize));
        while let Some(((acc, counts), op)) = next() {
            let mut bins = Bins { acc, counts, lo, hi };
            let range = Some((op * block, ((op + 1) * block).min(outer_len)));
            for_each_run(source, sel, range, hooks, |_, start, run| match &mut line_acc {
                Some(line_acc) => line_acc.add(start as usize, run),
                None => bins.add_run(0, start, block, run, reduce),
            })?;
            if let Some(line_acc) = &mut line_acc {
                line_acc.flush(&mut bins, 0, block, reduce);
            }
            (lo, hi) = (bins.lo, bins.hi);
        }
        Ok((lo, hi))
    };
    let parts: Vec<Result<(f64, f64), Error>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads).map(|_| scope.spawn(part)).collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| Err(Error::new(source.path(), ErrorKind::Interrupted)))
            })
            .collect()
    });
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for part in parts {
        let (l, h) = part?;
        lo = lo.min(l);
        hi = hi.max(h);
    }
    let (vmin, vmax) = range(options, lo, hi);
    let mut rgb = vec![0u8; pixels * 3];
    // 4096 entries: finer than 8-bit colour steps along any of the colormaps.
    let lut: Vec<[u8; 3]> =
        (0..LUT_LEN).map(|i| options.cmap.colour(i as f64 / (LUT_LEN - 1) as f64)).collect();
    for (i, (&a, &n)) in acc.iter().zip(&counts).enumerate() {
        // Bin i is (outer pixel, inner pixel); the image is row-major.
        let (outer, inner) = (i as u64 / inner_pixels, i as u64 % inner_pixels);
        let p = if rows_outer { outer * width + inner } else { inner * width + outer } as usize;
        let colour = if n == 0 {
            NAN_COLOUR
        } else {
            let v = if reduce == Reduce::Mean { a / f64::from(n) } else { a };
            let t = if vmax > vmin { (v - vmin) / (vmax - vmin) } else { 0.5 };
            lut[(t.clamp(0.0, 1.0) * (LUT_LEN - 1) as f64).round() as usize]
        };
        rgb[p * 3..p * 3 + 3].copy_from_slice(&colour);
    }
    let image = Image { width: width as u32, height: height as u32, rgb };
    let report = PreviewReport {
        shape: sel.shape(),
        width: image.width,
        height: image.height,
        block,
        vmin,
        vmax,
    };
    Ok((image, report))
}

/// The pixels of one outer pixel: a row of `inner_pixels` bins, and the finite range seen so
/// far by the thread filling it.
struct Bins<'a> {
    acc: &'a mut [f64],
    counts: &'a mut [u32],
    lo: f64,
    hi: f64,
}

impl Bins<'_> {
    /// Adds a run of elements `start..` along the inner axis to the bins of row `row`:
    /// one reduction per pixel-wide piece, then one update of that pixel.
    fn add_run(&mut self, row: u64, start: u64, block: u64, run: Run<'_>, reduce: Reduce) {
        let len = run.len();
        let mut k = 0usize;
        while k < len {
            let inner = start + k as u64;
            let inner_pixel = inner / block;
            let take = ((inner_pixel + 1) * block - inner).min((len - k) as u64) as usize;
            let (n, sum, pmin, pmax) = run.reduce(k, k + take);
            k += take;
            self.put((row + inner_pixel) as usize, (n, sum, pmin, pmax), reduce);
        }
    }

    /// Adds the count, sum, min and max of some finite elements to pixel `p`.
    fn put(&mut self, p: usize, (n, sum, pmin, pmax): (u32, f64, f64, f64), reduce: Reduce) {
        if n == 0 {
            return;
        }
        self.lo = self.lo.min(pmin);
        self.hi = self.hi.max(pmax);
        self.acc[p] = match (reduce, self.counts[p]) {
            (Reduce::Mean, 0) => sum,
            (Reduce::Mean, _) => self.acc[p] + sum,
            (Reduce::Min, 0) => pmin,
            (Reduce::Min, _) => self.acc[p].min(pmin),
            (Reduce::Max, 0) => pmax,
            (Reduce::Max, _) => self.acc[p].max(pmax),
        };
        self.counts[p] = self.counts[p].saturating_add(n);
    }
}

/// The 2-D view as lines contiguous in storage, when its elements are little-endian f32 (the
/// fast path of [`image_2d`]): a C-order array by rows, an F-order one by columns.
#[derive(Clone, Copy)]
struct LineLayout {
    /// Storage index of the first element of line 0.
    offset: u64,
    outer_len: u64,
    /// Storage elements from one line to the next (negative for reversed slices).
    outer_stride: i64,
    inner_len: u64,
}

impl LineLayout {
    /// The layout [`for_each_run`] reads in, if the fast path applies.
    fn of(source: &Source, sel: &Selection) -> Option<LineLayout> {
        let desc = source.description();
        if desc.dtype() != Dtype::F32 || desc.byte_order() != ByteOrder::Little {
            return None;
        }
        let outer_axis = usize::from(!outer_axis_is_rows(sel));
        let (outer_len, outer_stride) = sel.dims[outer_axis];
        let (inner_len, inner_stride) = sel.dims[1 - outer_axis];
        (inner_stride == 1 && usize::try_from(inner_len).is_ok()).then_some(LineLayout {
            offset: sel.offset,
            outer_len,
            outer_stride,
            inner_len,
        })
    }
}

/// Bytes a thread reads at a time on the fast path: well inside a core's L2 cache, so that the
/// reduction finds there what the kernel's copy just wrote (as `arrfile verify` reads).
/// Measured on a 16384 × 16384 f32 array (2 cores): 256 KiB took 191 ms, 512 KiB 196 ms and
/// 1 MiB 203 ms for the whole preview.
const TILE_BYTES: usize = 256 << 10;
/// Lines reduced together on the fast path: an f32 partial sum adds at most this many values.
const TILE_LINES: usize = 16;
/// Columns reduced side by side (in SIMD registers).
const LANES: usize = 8;

/// One thread's reader and reducer of little-endian f32 lines: reads up to [`TILE_BYTES`]
/// (whole lines when [`TILE_LINES`] of them fit, else [`TILE_LINES`] pieces of lines a whole
/// number of pixels across, one `pread` each), then reduces each
/// pixel's part of up to [`TILE_LINES`] lines at once, in [`LANES`] columns side by side
/// (see [`lanes`]); one pass, no intermediate buffer larger than the read.
struct FastF32 {
    buf: Vec<u8>,
    /// Elements of a line read at a time.
    width: usize,
    /// Lines read at a time.
    max_lines: usize,
    /// Whether `max_lines` lines of `width` are one run of storage (one read).
    contiguous: bool,
    /// Whether the last group of lines held NaN or infinities: then the next starts with the
    /// masked reduction rather than the plain one.
    masked: bool,
}

impl FastF32 {
    fn new(lines: &LineLayout, block: u64) -> FastF32 {
        let inner = lines.inner_len as usize;
        let (width, max_lines) = if inner.saturating_mul(4 * TILE_LINES) <= TILE_BYTES {
            (inner, TILE_BYTES / (inner * 4).max(4))
        } else {
            let w = TILE_BYTES / 4 / TILE_LINES;
            let block = usize::try_from(block).unwrap_or(usize::MAX);
            (if block <= w { w - w % block } else { w }, TILE_LINES)
        };
        let contiguous = width == inner && i64::try_from(inner) == Ok(lines.outer_stride);
        FastF32 { buf: Vec::new(), width, max_lines, contiguous, masked: false }
    }

    /// Reads and reduces the lines of outer pixel `op` into `bins`.
    #[allow(clippy::too_many_arguments)]
    fn outer_pixel(
        &mut self,
        source: &Source,
        lines: &LineLayout,
        op: u64,
        block: u64,
        bins: &mut Bins<'_>,
        reduce: Reduce,
        hooks: Hooks<'_>,
    ) -> Result<(), Error> {
        let FastF32 { buf, width, max_lines, contiguous, masked } = self;
        let inner = lines.inner_len as usize;
        let pixel = usize::try_from(block).unwrap_or(usize::MAX);
        let end = ((op + 1) * block).min(lines.outer_len);
        let mut line = op * block;
        while line < end {
            if (hooks.cancelled)() {
                return Err(Error::new(source.path(), ErrorKind::Interrupted));
            }
            let r = (end - line).min(*max_lines as u64) as usize;
            let mut c0 = 0usize;
            while c0 < inner {
                let w = (*width).min(inner - c0);
                let n = r * w * 4;
                if buf.len() < n {
                    buf.resize(n, 0);
                }
                let data = &mut buf[..n];
                // Byte offset in the payload of element c0 of line l.
                let start = |l: u64| {
                    let at = i128::from(lines.offset)
                        + i128::from(lines.outer_stride) * i128::from(l)
                        + c0 as i128;
                    u64::try_from(at).unwrap_or(0) * 4
                };
                if *contiguous {
                    source.read_into(start(line), data)?;
                } else {
                    for (k, dst) in data.chunks_exact_mut(w * 4).enumerate() {
                        source.read_into(start(line + k as u64), dst)?;
                    }
                }
                (hooks.progress)(n as u64);
                for g0 in (0..r).step_by(TILE_LINES) {
                    let g = TILE_LINES.min(r - g0);
                    let group = &data[g0 * w * 4..(g0 + g) * w * 4];
                    let mut nonfinite = false;
                    let (mut a, mut q) = (0, c0 / pixel);
                    while a < w {
                        let b = ((q + 1) * pixel - c0).min(w);
                        let (found, piece) = reduce_group(group, w, g, a, b, *masked || nonfinite);
                        nonfinite |= found;
                        bins.put(q, piece, reduce);
                        (a, q) = (b, q + 1);
                    }
                    *masked = nonfinite;
                }
                c0 += w;
            }
            line += r as u64;
        }
        Ok(())
    }
}

/// Count, sum, min and max of the finite elements of columns `[a, b)` of the `g` lines of
/// `group` (`stride` elements apart), and whether any element was not finite.
///
/// [`lanes`] first: the plain reduction, or the masked one after lines holding NaN. Its
/// result stands unless it shows an infinity (in the min or max), a NaN (a plain sum) or an
/// f32 sum that overflowed; then the piece is redone in f64, skipping non-finite elements.
fn reduce_group(
    group: &[u8],
    stride: usize,
    g: usize,
    a: usize,
    b: usize,
    masked: bool,
) -> (bool, (u32, f64, f64, f64)) {
    let run = |fix| {
        if masked {
            lanes::<true>(group, stride, g, a, b, fix)
        } else {
            lanes::<false>(group, stride, g, a, b, fix)
        }
    };
    let (mut n, mut sum, mut lo, mut hi) = run(false);
    if !sum.is_finite() {
        (n, sum, lo, hi) = run(true);
    }
    if sum.is_finite() && lo != f32::NEG_INFINITY && hi != f32::INFINITY {
        let all = n as usize == g * (b - a);
        return (!all, (n, sum, f64::from(lo), f64::from(hi)));
    }
    let mut acc = (0u32, 0.0f64, f64::INFINITY, f64::NEG_INFINITY);
    for r in 0..g {
        let (n, sum, lo, hi) =
            reduce_f32_careful(&group[(r * stride + a) * 4..(r * stride + b) * 4]);
        acc = (acc.0 + n, acc.1 + sum, acc.2.min(lo), acc.3.max(hi));
    }
    (true, acc)
}

/// Sums, counts, minima and maxima of columns `[c, c + LANES)` down `g` lines: the loop
/// [`lanes`] runs for each [`LANES`] columns, on its own (not inlined) so that it compiles
/// to plain SIMD code (`addps`, `minps`, `maxps`; with `MASK`, `v - v == 0` tells finite
/// values, two more instructions). Lines go two at a time into two sets of lanes, which
/// halves the chains of dependent additions (the loop's speed limit).
#[inline(never)]
fn tile<const MASK: bool>(group: &[u8], stride: usize, g: usize, c: usize) -> Tile {
    #[inline(always)]
    fn step<const MASK: bool>(
        words: &[u8; 4 * LANES],
        s: &mut [f32; LANES],
        k: &mut [u32; LANES],
        l: &mut [f32; LANES],
        h: &mut [f32; LANES],
    ) {
        let (words, _) = words.as_chunks::<4>();
        for i in 0..LANES {
            let v = f32::from_le_bytes(words[i]);
            if MASK {
                // Zero for finite values; NaN for NaN and infinities.
                #[allow(clippy::eq_op)]
                let finite = v - v == 0.0;
                s[i] += if finite { v } else { 0.0 };
                k[i] += u32::from(finite);
            } else {
                s[i] += v;
            }
            l[i] = if v < l[i] { v } else { l[i] };
            h[i] = if v > h[i] { v } else { h[i] };
        }
    }
    let (mut s0, mut s1) = ([0.0f32; LANES], [0.0f32; LANES]);
    let mut k = [0u32; LANES];
    let (mut l0, mut l1) = ([f32::INFINITY; LANES], [f32::INFINITY; LANES]);
    let (mut h0, mut h1) = ([f32::NEG_INFINITY; LANES], [f32::NEG_INFINITY; LANES]);
    let row = |r: usize| group[(r * stride + c) * 4..].first_chunk::<{ 4 * LANES }>();
    let mut r = 0;
    while r + 2 <= g {
        let (Some(w0), Some(w1)) = (row(r), row(r + 1)) else { break };
        step::<MASK>(w0, &mut s0, &mut k, &mut l0, &mut h0);
        step::<MASK>(w1, &mut s1, &mut k, &mut l1, &mut h1);
        r += 2;
    }
    if r < g
        && let Some(w0) = row(r)
    {
        step::<MASK>(w0, &mut s0, &mut k, &mut l0, &mut h0);
    }
    for i in 0..LANES {
        s0[i] += s1[i];
        l0[i] = if l1[i] < l0[i] { l1[i] } else { l0[i] };
        h0[i] = if h1[i] > h0[i] { h1[i] } else { h0[i] };
    }
    if !MASK {
        k = [g as u32; LANES];
    }
    (s0, k, l0, h0)
}

/// Per lane: the f32 sum, the count, the min and the max of one [`tile`].
type Tile = ([f32; LANES], [u32; LANES], [f32; LANES], [f32; LANES]);

/// Count, sum, min and max of the finite elements of column `c` of the `g` lines of `group`.
fn column_f64(group: &[u8], stride: usize, g: usize, c: usize) -> (u32, f64, f32, f32) {
    let (mut s, mut k, mut l, mut h) = (0.0f64, 0u32, f32::INFINITY, f32::NEG_INFINITY);
    for r in 0..g {
        let at = (r * stride + c) * 4;
        let v = f32::from_le_bytes([group[at], group[at + 1], group[at + 2], group[at + 3]]);
        if v.is_finite() {
            s += f64::from(v);
            k += 1;
            l = if v < l { v } else { l };
            h = if v > h { v } else { h };
        }
    }
    (k, s, l, h)
}

/// Count, sum, min and max of columns `[a, b)` of `g` lines of little-endian f32 (`stride`
/// elements apart), [`LANES`] columns side by side: each lane runs down its column through
/// the `g` lines (no dependency between lanes, so the loop becomes SIMD instructions), then
/// the lanes fold into f64.
///
/// Min and max are plain comparisons (`v < lo`): NaN drops out of them, an infinity does
/// not (the caller checks). `MASK` false: the sum adds every element (the count is every
/// element), so one NaN makes it NaN and the caller asks again with `fix`, which redoes
/// such columns in f64 ([`tiles_fixed`]); `MASK` true: only finite elements are added and
/// counted.
///
/// Precision: each lane's f32 sum adds at most [`TILE_LINES`] (16) values, with a rounding
/// error of at most 15 × 2⁻²⁴ ≈ 9 × 10⁻⁷ of their magnitudes' sum; the lanes and the groups
/// of lines are then added in f64. A block's mean is thus off by at most ~10⁻⁶ of the largest
/// magnitude in it, under a step of the 4096-entry colour table unless the data sit on an
/// offset some 250 times their range, and then by about one such step (of 4095; a colour
/// channel has 256 levels).
#[inline]
fn lanes<const MASK: bool>(
    group: &[u8],
    stride: usize,
    g: usize,
    a: usize,
    b: usize,
    fix: bool,
) -> (u32, f64, f32, f32) {
    let ((sum, n, lo, hi), c) = if fix {
        tiles_fixed::<MASK>(group, stride, g, a, b)
    } else {
        tiles::<MASK>(group, stride, g, a, b)
    };
    // The last columns (fewer than LANES), one at a time, skipping non-finite elements.
    let (mut s, mut k, mut l, mut h) = (0.0f64, 0u32, f32::INFINITY, f32::NEG_INFINITY);
    for c in c..b {
        let (n, sum, lo, hi) = column_f64(group, stride, g, c);
        (s, k) = (s + sum, k + n);
        l = if lo < l { lo } else { l };
        h = if hi > h { hi } else { h };
    }
    let total = sum.iter().sum::<f64>() + s;
    let count = n.iter().sum::<u32>() + k;
    // No NaN here (they never enter a min or max): plain comparisons.
    let min = halve(lo, |a, b| if b < a { b } else { a });
    let max = halve(hi, |a, b| if b > a { b } else { a });
    (count, total, if l < min { l } else { min }, if h > max { h } else { max })
}

/// `f` over the [`LANES`] lanes, as a tree (half against half): short dependency chains.
#[inline(always)]
fn halve<T: Copy>(x: [T; LANES], f: impl Fn(T, T) -> T) -> T {
    let a: [T; 4] = std::array::from_fn(|i| f(x[i], x[i + 4]));
    f(f(a[0], a[2]), f(a[1], a[3]))
}

/// Per lane: the f64 sum, the count, the min and the max of [`tile`]s side by side.
type Lanes = ([f64; LANES], [u32; LANES], [f32; LANES], [f32; LANES]);

/// The [`tile`]s of columns `[a, b)`, [`LANES`] at a time, folded lane by lane (f32 sums into
/// f64); also where the whole tiles end.
fn tiles<const MASK: bool>(
    group: &[u8],
    stride: usize,
    g: usize,
    a: usize,
    b: usize,
) -> (Lanes, usize) {
    let mut acc = EMPTY_LANES;
    let mut c = a;
    while c + LANES <= b {
        let (s, k, l, h) = tile::<MASK>(group, stride, g, c);
        let (sum, n, lo, hi) = &mut acc;
        for i in 0..LANES {
            sum[i] += f64::from(s[i]);
            n[i] += k[i];
            lo[i] = if l[i] < lo[i] { l[i] } else { lo[i] };
            hi[i] = if h[i] > hi[i] { h[i] } else { hi[i] };
        }
        c += LANES;
    }
    (acc, c)
}

/// As [`tiles`], redoing in f64 the columns whose f32 sum is not finite (a NaN or an
/// infinity in a plain sum, or a sum that overflowed: random bits reach f32's maximum), so
/// that only infinities (in the min or max) remain for the caller.
fn tiles_fixed<const MASK: bool>(
    group: &[u8],
    stride: usize,
    g: usize,
    a: usize,
    b: usize,
) -> (Lanes, usize) {
    let (mut sum, mut n, mut lo, mut hi) = EMPTY_LANES;
    let mut c = a;
    while c + LANES <= b {
        let (s, k, l, h) = tile::<MASK>(group, stride, g, c);
        for i in 0..LANES {
            let (k, s, l, h) = if s[i].is_finite() {
                (k[i], f64::from(s[i]), l[i], h[i])
            } else {
                column_f64(group, stride, g, c + i)
            };
            sum[i] += s;
            n[i] += k;
            lo[i] = lo[i].min(l);
            hi[i] = hi[i].max(h);
        }
        c += LANES;
    }
    ((sum, n, lo, hi), c)
}

/// No elements yet.
const EMPTY_LANES: Lanes =
    ([0.0; LANES], [0; LANES], [f32::INFINITY; LANES], [f32::NEG_INFINITY; LANES]);

/// The widest line (elements along the inner axis) accumulated element-wise: 28 bytes each,
/// so at most 3.5 MiB per thread.
const MAX_LINE: u64 = 1 << 17;

/// Element-wise accumulators along the inner axis for the lines of one outer pixel: each run
/// adds into them with no dependency between elements (the loop vectorises); when the outer
/// pixel is complete, [`Lines::flush`] folds each pixel's columns into the bins.
struct Lines {
    n: Vec<u32>,
    sum: Vec<f64>,
    lo: Vec<f64>,
    hi: Vec<f64>,
}

impl Lines {
    fn new(len: usize) -> Lines {
        Lines {
            n: vec![0; len],
            sum: vec![0.0; len],
            lo: vec![f64::INFINITY; len],
            hi: vec![f64::NEG_INFINITY; len],
        }
    }

    fn add(&mut self, start: usize, run: Run<'_>) {
        let end = start + run.len();
        let n = &mut self.n[start..end];
        let sum = &mut self.sum[start..end];
        let lo = &mut self.lo[start..end];
        let hi = &mut self.hi[start..end];
        #[inline(always)]
        fn put(v: f64, n: &mut u32, sum: &mut f64, lo: &mut f64, hi: &mut f64) {
            let finite = v.is_finite();
            *n += u32::from(finite);
            *sum += if finite { v } else { 0.0 };
            let low = if finite { v } else { f64::INFINITY };
            let high = if finite { v } else { f64::NEG_INFINITY };
            *lo = if low < *lo { low } else { *lo };
            *hi = if high > *hi { high } else { *hi };
        }
        let cells = n.iter_mut().zip(sum.iter_mut()).zip(lo.iter_mut().zip(hi.iter_mut()));
        match run {
            Run::F32Le(bytes) => {
                for (w, ((n, s), (l, h))) in bytes.as_chunks::<4>().0.iter().zip(cells) {
                    put(f64::from(f32::from_le_bytes(*w)), n, s, l, h);
                }
            }
            Run::Values(values) => {
                for (&v, ((n, s), (l, h))) in values.iter().zip(cells) {
                    put(v, n, s, l, h);
                }
            }
        }
    }

    /// Folds each pixel's `block` columns into row `row` of `bins`, resetting them as it
    /// reads them (one pass).
    fn flush(&mut self, bins: &mut Bins, row: u64, block: u64, reduce: Reduce) {
        let block = block as usize;
        let groups = self
            .n
            .chunks_mut(block)
            .zip(self.sum.chunks_mut(block))
            .zip(self.lo.chunks_mut(block).zip(self.hi.chunks_mut(block)));
        for (q, ((n, sum), (lo, hi))) in groups.enumerate() {
            let mut acc = (0u32, 0.0f64, f64::INFINITY, f64::NEG_INFINITY);
            for (((n, s), l), h) in
                n.iter_mut().zip(sum.iter_mut()).zip(lo.iter_mut()).zip(hi.iter_mut())
            {
                acc.0 += std::mem::take(n);
                acc.1 += std::mem::take(s);
                acc.2 = if *l < acc.2 { *l } else { acc.2 };
                acc.3 = if *h > acc.3 { *h } else { acc.3 };
                *l = f64::INFINITY;
                *h = f64::NEG_INFINITY;
            }
            bins.put(row as usize + q, acc, reduce);
        }
    }
}

/// Count, sum, min and max of the finite values of `piece`, in four independent lanes
/// (plain comparisons, not `f64::min`, whose NaN handling makes a slow dependency chain).
fn reduce_piece(piece: &[f64]) -> (u32, f64, f64, f64) {
    const LANES: usize = 4;
    let mut n = [0u32; LANES];
    let mut sum = [0.0f64; LANES];
    let mut lo = [f64::INFINITY; LANES];
    let mut hi = [f64::NEG_INFINITY; LANES];
    let mut lane = |l: usize, v: f64| {
        let finite = v.is_finite();
        n[l] += u32::from(finite);
        sum[l] += if finite { v } else { 0.0 };
        let low = if finite { v } else { f64::INFINITY };
        let high = if finite { v } else { f64::NEG_INFINITY };
        lo[l] = if low < lo[l] { low } else { lo[l] };
        hi[l] = if high > hi[l] { high } else { hi[l] };
    };
    let (chunks, tail) = piece.as_chunks::<LANES>();
    for c in chunks {
        for (l, &v) in c.iter().enumerate() {
            lane(l, v);
        }
    }
    for (l, &v) in tail.iter().enumerate() {
        lane(l, v);
    }
    let min = lo.iter().fold(f64::INFINITY, |a, &b| if b < a { b } else { a });
    let max = hi.iter().fold(f64::NEG_INFINITY, |a, &b| if b > a { b } else { a });
    (n.iter().sum(), sum.iter().sum(), min, max)
}

/// Whether [`for_each_run`] goes row by row (true) or column by column.
fn outer_axis_is_rows(sel: &Selection) -> bool {
    !(sel.dims.len() == 2 && sel.dims[1].1.unsigned_abs() > sel.dims[0].1.unsigned_abs())
}

fn range(options: &PreviewOptions, lo: f64, hi: f64) -> (f64, f64) {
    let (lo, hi) = if lo <= hi { (lo, hi) } else { (0.0, 1.0) };
    (options.vmin.unwrap_or(lo), options.vmax.unwrap_or(hi))
}

/// A line plot: for each pixel column the min/max envelope of its elements (a line when
/// each column holds at most one element's segment), on white; NaN columns are marked in
/// magenta along the bottom edge.
fn line_plot(
    source: &Source,
    sel: &Selection,
    options: &PreviewOptions,
    hooks: Hooks<'_>,
) -> Result<(Image, PreviewReport), Error> {
    let n = sel.dims[0].0;
    let width = u64::from(options.size);
    let height = (width * 3 / 8).max(2);
    // Column x covers elements [x*n/width, (x+1)*n/width) when n >= width; else element i
    // sits at x = i*(width-1)/(n-1) and columns between are interpolated.
    let mut lo = vec![f64::INFINITY; width as usize];
    let mut hi = vec![f64::NEG_INFINITY; width as usize];
    let mut nan = vec![false; width as usize];
    let (mut dmin, mut dmax) = (f64::INFINITY, f64::NEG_INFINITY);
    let mut prev: Option<(u64, f64)> = None;
    let mut buf = Vec::new();
    for_each_run(source, sel, None, hooks, |_, start, run| {
        for (k, &v) in run.values(&mut buf).iter().enumerate() {
            let i = start + k as u64;
            let x = if n >= width {
                i * width / n
            } else if n == 1 {
                0
            } else {
                i * (width - 1) / (n - 1)
            };
            if !v.is_finite() {
                nan[x as usize] = true;
                prev = None;
                continue;
            }
            dmin = dmin.min(v);
            dmax = dmax.max(v);
            let (xs, from) = match prev {
                // Join to the previous point: the columns between take the segment's range.
                Some((px, pv)) if x > px => (px, pv),
                _ => (x, v),
            };
            for c in xs..=x {
                let t = if x > xs { (c - xs) as f64 / (x - xs) as f64 } else { 1.0 };
                let y = from + (v - from) * t;
                let y0 = from
                    + (v - from)
                        * (if x > xs {
                            (c.saturating_sub(xs)) as f64 / (x - xs) as f64
                        } else {
                            0.0
                        });
                let y1 = if c > xs {
                    from + (v - from) * ((c - 1 - xs) as f64 / (x - xs) as f64)
                } else {
                    y
                };
                let c = c as usize;
                lo[c] = lo[c].min(y).min(y0).min(y1);
                hi[c] = hi[c].max(y).max(y0).max(y1);
            }
            prev = Some((x, v));
        }
    })?;
    let (vmin, vmax) = range(options, dmin, dmax);
    let (w, h) = (width as usize, height as usize);
    let mut rgb = vec![255u8; w * h * 3];
    let line = options.cmap.colour(0.15);
    let to_y = |v: f64| -> usize {
        let t = if vmax > vmin { (v - vmin) / (vmax - vmin) } else { 0.5 };
        let margin = 2.0;
        let y = (1.0 - t.clamp(0.0, 1.0)) * (h as f64 - 1.0 - 2.0 * margin) + margin;
        y.round() as usize
    };
    let mut put = |x: usize, y: usize, c: [u8; 3]| {
        let p = (y.min(h - 1) * w + x) * 3;
        rgb[p..p + 3].copy_from_slice(&c);
    };
    if vmin < 0.0 && vmax > 0.0 {
        let y0 = to_y(0.0);
        for x in 0..w {
            put(x, y0, [200, 200, 200]);
        }
    }
    for x in 0..w {
        if lo[x] <= hi[x] {
            let (top, bottom) = (to_y(hi[x]), to_y(lo[x]));
            for y in top..=bottom {
                put(x, y, line);
            }
        }
        if nan[x] {
            put(x, h - 1, NAN_COLOUR);
            put(x, h - 2, NAN_COLOUR);
        }
    }
    let image = Image { width: width as u32, height: height as u32, rgb };
    let block = n.div_ceil(width).max(1);
    let report = PreviewReport {
        shape: sel.shape(),
        width: image.width,
        height: image.height,
        block,
        vmin,
        vmax,
    };
    Ok((image, report))
}

/// Encodes an image as an 8-bit RGB PNG.
///
/// # Errors
/// The writer failed.
pub fn write_png(image: &Image, out: impl Write) -> Result<(), png::EncodingError> {
    let mut encoder = png::Encoder::new(out, image.width, image.height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_compression(png::Compression::Fast);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(&image.rgb)?;
    writer.finish()
}

/// Renders the preview and writes it to `output` through a sibling temporary file renamed
/// into place, so that no half-written PNG is ever seen at `output`.
///
/// # Errors
/// As [`render`]; [`ErrorKind::Io`] or [`ErrorKind::Png`] when writing fails (the error
/// names `output` then).
pub fn preview(
    source: &Source,
    options: &PreviewOptions,
    output: &Path,
    hooks: Hooks<'_>,
) -> Result<PreviewReport, Error> {
    let (image, report) = render(source, options, hooks)?;
    let io = |action, source| Error::new(output, ErrorKind::Io { action, source });
    // The one way new files appear (arrfile-mmap): a locked temporary sibling, fsync,
    // rename, fsync of the directory; dropped on error, it leaves nothing behind.
    let pending =
        PendingFile::create(output, true).map_err(|e| Error::new(output, ErrorKind::Open(e)))?;
    {
        let mut out = BufWriter::new(pending.file());
        write_png(&image, &mut out)
            .map_err(|e| Error::new(output, ErrorKind::Png(e.to_string())))?;
        out.flush().map_err(|e| io("writing", e))?;
    }
    pending.commit().map_err(|e| Error::new(output, ErrorKind::Open(e)))?;
    Ok(report)
}
