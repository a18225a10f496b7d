//! One chart as data ([`Plot`]: lines, threshold lines, shaded spans, axes) and the one routine
//! that draws any [`Plot`] into a PNG with plotters' bitmap backend and the bundled font.
//!
//! For: turning prepared numbers into pixels, identically on every machine (no system fonts are
//! looked up). Not for: deciding what to plot (see [`super::sources`]).

use std::sync::OnceLock;

use plotters::backend::RGBPixel;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};

/// Width of every chart, pixels.
pub const WIDTH: u32 = 900;
/// Height of every chart, pixels.
pub const HEIGHT: u32 = 360;

/// Baseline's colour in every chart.
pub const BASELINE: RGBColor = RGBColor(31, 119, 180);
/// Canary's colour in every chart.
pub const CANARY: RGBColor = RGBColor(230, 85, 13);
/// Both variants together (totals).
pub const TOTAL: RGBColor = RGBColor(40, 40, 40);
/// What the schedule asked for.
pub const INTENDED: RGBColor = RGBColor(140, 140, 140);
/// Threshold lines, mildest first.
pub const THRESHOLDS: [RGBColor; 3] = [
    RGBColor(200, 160, 0),
    RGBColor(200, 40, 120),
    RGBColor(150, 0, 0),
];
/// Fill of breach windows.
pub const BREACH: RGBColor = RGBColor(255, 214, 214);
/// The background.
pub const BACKGROUND: RGBColor = RGBColor(255, 255, 255);

/// The family name the bundled font is registered under.
const FAMILY: &str = "sans-serif";
/// DejaVu Sans (Bitstream Vera licence, see `assets/fonts/DejaVuSans.LICENSE`).
static FONT: &[u8] = include_bytes!("../../../assets/fonts/DejaVuSans.ttf");

/// How a line is drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Stroke {
    /// A measured series: solid, 2 px, wider when drawn beneath another measured series (see
    /// [`solid_widths`]).
    Solid(RGBColor),
    /// A threshold or a target: dashed, 1 px.
    Dashed(RGBColor),
}

/// One line of a chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    /// Legend text.
    pub name: String,
    /// `(x, y)` points in x order; non-finite points are dropped before drawing.
    pub points: Vec<(f64, f64)>,
    /// How it is drawn.
    pub stroke: Stroke,
}

/// What the x axis shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XAxis {
    /// Seconds since the run started.
    Seconds,
    /// Percentiles on a log scale: x is `-log10(1 - q)` (0 = p0, 1 = p90, 2 = p99, ...).
    Percentile,
}

/// A chart, ready to draw.
#[derive(Debug, Clone, PartialEq)]
pub struct Plot {
    /// The title drawn on the chart.
    pub title: String,
    /// The x axis.
    pub x_axis: XAxis,
    /// The y axis' description (with its unit).
    pub y_desc: String,
    /// Measured lines first, then thresholds.
    pub lines: Vec<Line>,
    /// X spans to shade as breach windows.
    pub shaded: Vec<(f64, f64)>,
    /// The x range to show at least (time charts show the whole run, so they line up).
    pub x_range: Option<(f64, f64)>,
}

impl Line {
    /// Whether the line has a finite point to draw.
    fn drawable(&self) -> bool {
        self.points
            .iter()
            .any(|(x, y)| x.is_finite() && y.is_finite())
    }
}

impl Plot {
    /// Whether any measured (solid) line has a finite point: a plot without one is never drawn.
    pub fn has_data(&self) -> bool {
        self.lines
            .iter()
            .any(|l| matches!(l.stroke, Stroke::Solid(_)) && l.drawable())
    }
}

/// The width of each line: a measured (solid) line is 2 px plus 3 px for every measured line drawn
/// after it, so where series coincide (a canary exactly as fast as its baseline) the one beneath
/// still shows as an edge on either side of the one above (a line with nothing to draw counts for
/// nothing). Dashed lines are 1 px.
fn solid_widths(lines: &[Line]) -> Vec<u32> {
    let mut above = 0;
    let mut widths: Vec<u32> = lines
        .iter()
        .rev()
        .map(|l| match l.stroke {
            Stroke::Solid(_) if !l.drawable() => 2,
            Stroke::Solid(_) => {
                let width = 2 + 3 * above;
                above += 1;
                width
            }
            Stroke::Dashed(_) => 1,
        })
        .collect();
    widths.reverse();
    widths
}

/// Registers the bundled font once; the error says why it could not be.
fn font_ready() -> Result<(), String> {
    static READY: OnceLock<Result<(), String>> = OnceLock::new();
    READY
        .get_or_init(|| {
            register_font(FAMILY, FontStyle::Normal, FONT).map_err(|_| {
                "the bundled font assets/fonts/DejaVuSans.ttf is not a valid font".into()
            })
        })
        .clone()
}

fn finite(points: &[(f64, f64)]) -> Vec<(f64, f64)> {
    points
        .iter()
        .copied()
        .filter(|(x, y)| x.is_finite() && y.is_finite())
        .collect()
}

/// The axis ranges: x over every point, y from 0 to 10% above the highest point or threshold.
fn ranges(plot: &Plot) -> ((f64, f64), (f64, f64)) {
    let pts = plot.lines.iter().flat_map(|l| finite(&l.points));
    let (mut x0, mut x1, mut y1) = (f64::INFINITY, f64::NEG_INFINITY, 0.0f64);
    for (x, y) in pts {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y1 = y1.max(y);
    }
    if let Some((a, b)) = plot.x_range {
        x0 = x0.min(a);
        x1 = x1.max(b);
    }
    if !x0.is_finite() || !x1.is_finite() {
        (x0, x1) = (0.0, 1.0);
    }
    if x1 - x0 < 1e-9 {
        x1 = x0 + 1.0;
    }
    if y1 <= 0.0 {
        y1 = 1.0;
    }
    ((x0, x1), (0.0, y1 * 1.1))
}

/// The label of an x value of a percentile axis (`90%`, `99.9%`).
pub fn percentile_label(x: f64) -> String {
    let q = 100.0 * (1.0 - 10f64.powf(-x));
    let decimals = (x.round() as i64 - 2).clamp(0, 6) as usize;
    format!("{q:.decimals$}%")
}

/// A y tick label with as many decimals as the axis' extent `top` needs (same for every tick).
fn y_label(y: f64, top: f64) -> String {
    let decimals = if top >= 10.0 {
        0
    } else if top >= 1.0 {
        1
    } else if top >= 0.1 {
        2
    } else {
        3
    };
    format!("{y:.decimals$}")
}

/// Draws `plot` and returns the PNG bytes (RGB, [`WIDTH`] x [`HEIGHT`]).
pub fn draw(plot: &Plot) -> Result<Vec<u8>, String> {
    font_ready()?;
    let mut rgb = vec![0u8; (WIDTH * HEIGHT * 3) as usize];
    draw_into(plot, &mut rgb).map_err(|e| format!("drawing failed: {e}"))?;
    encode_png(&rgb)
}

fn draw_into(plot: &Plot, rgb: &mut [u8]) -> Result<(), Box<dyn std::error::Error>> {
    let ((x0, x1), (y0, y1)) = ranges(plot);
    let root = BitMapBackend::<RGBPixel>::with_buffer_and_format(rgb, (WIDTH, HEIGHT))?
        .into_drawing_area();
    root.fill(&BACKGROUND)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(&plot.title, (FAMILY, 18))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(64)
        .build_cartesian_2d(x0..x1, y0..y1)?;
    let x_fmt = |x: &f64| match plot.x_axis {
        XAxis::Seconds => format!("{x:.0}"),
        XAxis::Percentile => percentile_label(*x),
    };
    let x_desc = match plot.x_axis {
        XAxis::Seconds => "seconds since the run started",
        XAxis::Percentile => "percentile",
    };
    let y_fmt = |y: &f64| y_label(*y, y1);
    let x_labels = match plot.x_axis {
        XAxis::Seconds => 12,
        // One tick per decade of the tail: p0, p90, p99, ...
        XAxis::Percentile => (x1 - x0).floor() as usize + 1,
    };
    chart
        .configure_mesh()
        .x_labels(x_labels)
        .x_desc(x_desc)
        .y_desc(plot.y_desc.as_str())
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&y_fmt)
        .label_style((FAMILY, 12))
        .axis_desc_style((FAMILY, 13))
        .light_line_style(RGBColor(235, 235, 235))
        .bold_line_style(RGBColor(215, 215, 215))
        .draw()?;
    if !plot.shaded.is_empty() {
        let spans: Vec<(f64, f64)> = plot
            .shaded
            .iter()
            .map(|&(a, b)| (a.max(x0), b.min(x1)))
            .filter(|(a, b)| a < b)
            .collect();
        if !spans.is_empty() {
            chart
                .draw_series(
                    spans
                        .into_iter()
                        .map(|(a, b)| Rectangle::new([(a, y0), (b, y1)], BREACH.filled())),
                )?
                .label("breach window")
                .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 18, y + 5)], BREACH.filled()));
        }
    }
    let widths = solid_widths(&plot.lines);
    for (line, width) in plot.lines.iter().zip(widths) {
        let points = finite(&line.points);
        if points.is_empty() {
            continue;
        }
        match line.stroke {
            Stroke::Solid(c) => {
                let style = c.stroke_width(width);
                chart
                    .draw_series(LineSeries::new(points, style))?
                    .label(line.name.as_str())
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], style));
            }
            Stroke::Dashed(c) => {
                let style = c.stroke_width(1);
                chart
                    .draw_series(DashedLineSeries::new(points, 6, 4, style))?
                    .label(line.name.as_str())
                    .legend(move |(x, y)| {
                        DashedPathElement::new(vec![(x, y), (x + 18, y)], 4, 3, style)
                    });
            }
        }
    }
    chart
        .configure_series_labels()
        .label_font((FAMILY, 12))
        .background_style(BACKGROUND.mix(0.85))
        .border_style(RGBColor(190, 190, 190))
        .position(SeriesLabelPosition::UpperLeft)
        .draw()?;
    root.present()?;
    Ok(())
}

fn encode_png(rgb: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, WIDTH, HEIGHT);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        encoder.set_compression(png::Compression::Default);
        encoder.set_adaptive_filter(png::AdaptiveFilterType::Adaptive);
        let mut writer = encoder
            .write_header()
            .map_err(|e| format!("PNG encoding failed: {e}"))?;
        writer
            .write_image_data(rgb)
            .map_err(|e| format!("PNG encoding failed: {e}"))?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_axis_labels() {
        assert_eq!(percentile_label(0.0), "0%");
        assert_eq!(percentile_label(1.0), "90%");
        assert_eq!(percentile_label(2.0), "99%");
        assert_eq!(percentile_label(3.0), "99.9%");
        assert_eq!(percentile_label(4.0), "99.99%");
    }

    #[test]
    fn drawing_is_deterministic_and_writes_text_with_the_bundled_font() {
        let plot = Plot {
            title: "TTFB".into(),
            x_axis: XAxis::Seconds,
            y_desc: "ms".into(),
            lines: vec![Line {
                name: "canary".into(),
                points: (0..60).map(|i| (i as f64, (i % 7) as f64)).collect(),
                stroke: Stroke::Solid(CANARY),
            }],
            shaded: vec![(10.0, 20.0)],
            x_range: None,
        };
        let png = draw(&plot).unwrap();
        assert_eq!(png, draw(&plot).unwrap(), "same plot, same bytes");
        let mut reader = png::Decoder::new(&png[..]).read_info().unwrap();
        let mut rgb = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut rgb).unwrap();
        assert_eq!((info.width, info.height), (WIDTH, HEIGHT));
        // The title is drawn in the top 30 rows: dark glyph pixels there, or the font failed.
        let dark = rgb[..(WIDTH * 30 * 3) as usize]
            .chunks_exact(3)
            .filter(|p| p.iter().all(|&c| c < 100))
            .count();
        assert!(dark > 20, "title glyph pixels: {dark}");
    }

    #[test]
    fn a_series_hidden_under_an_identical_one_still_shows() {
        let points: Vec<(f64, f64)> = (0..60).map(|i| (i as f64, 5.0 + (i % 3) as f64)).collect();
        let line = |name: &str, color| Line {
            name: name.into(),
            points: points.clone(),
            stroke: Stroke::Solid(color),
        };
        let plot = Plot {
            title: "TTFB".into(),
            x_axis: XAxis::Seconds,
            y_desc: "ms".into(),
            lines: vec![
                line("baseline", BASELINE),
                line("canary", CANARY),
                Line {
                    name: "limit".into(),
                    points: vec![(0.0, 200.0), (59.0, 200.0)],
                    stroke: Stroke::Dashed(THRESHOLDS[0]),
                },
            ],
            shaded: vec![],
            x_range: None,
        };
        assert_eq!(solid_widths(&plot.lines), vec![5, 2, 1]);
        let png = draw(&plot).unwrap();
        let mut reader = png::Decoder::new(&png[..]).read_info().unwrap();
        let mut rgb = vec![0; reader.output_buffer_size()];
        reader.next_frame(&mut rgb).unwrap();
        let columns = |c: RGBColor| {
            let mut cols = std::collections::BTreeSet::new();
            for (i, px) in rgb.chunks_exact(3).enumerate() {
                if px == [c.0, c.1, c.2] {
                    cols.insert(i as u32 % WIDTH);
                }
            }
            cols.len()
        };
        // Beyond the legend's ~18-column swatch: the baseline's edge runs along the whole line.
        let (b, c) = (columns(BASELINE), columns(CANARY));
        assert!(b > 300 && c > 300, "baseline {b}, canary {c} columns");
    }

    #[test]
    fn y_labels_share_their_decimals() {
        assert_eq!(y_label(50.0, 220.0), "50");
        assert_eq!(y_label(0.5, 5.5), "0.5");
        assert_eq!(y_label(0.0, 0.55), "0.00");
        assert_eq!(y_label(0.001, 0.011), "0.001");
    }

    #[test]
    fn ranges_cover_points_and_thresholds_from_zero() {
        let plot = Plot {
            title: "t".into(),
            x_axis: XAxis::Seconds,
            y_desc: "ms".into(),
            lines: vec![
                Line {
                    name: "a".into(),
                    points: vec![(2.0, 10.0), (8.0, f64::NAN), (5.0, 20.0)],
                    stroke: Stroke::Solid(BASELINE),
                },
                Line {
                    name: "limit".into(),
                    points: vec![(2.0, 150.0), (5.0, 150.0)],
                    stroke: Stroke::Dashed(THRESHOLDS[0]),
                },
            ],
            shaded: vec![],
            x_range: Some((0.0, 4.0)),
        };
        let ((x0, x1), (y0, y1)) = ranges(&plot);
        assert_eq!((x0, x1, y0), (0.0, 5.0, 0.0));
        assert!((y1 - 165.0).abs() < 1e-9);
        assert!(plot.has_data());
        let only_threshold = Plot {
            lines: plot.lines[1..].to_vec(),
            ..plot
        };
        assert!(!only_threshold.has_data());
    }
}
