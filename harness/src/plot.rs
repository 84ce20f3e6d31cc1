//! Throughput over time as a PNG (results/output.png): one colour per implementation
//! (C blue, Rust red, no filter grey), each run as a thin line and the per-second mean
//! over runs as a bold one. Returns the PNG bytes; the caller writes the file.
//!
//! Text is drawn with DejaVu Sans embedded in the binary and registered with plotters'
//! ab_glyph backend, so the picture has labels on a machine with no fonts installed.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use anyhow::{anyhow, Context};
use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};

use crate::model::{Impl, Metric, RunSeries};

/// What to draw beyond the data.
#[derive(Debug, Clone)]
pub struct PlotSpec<'a> {
    /// Title: name the test and the load generator.
    pub title: &'a str,
    pub width: u32,
    pub height: u32,
    pub metric: Metric,
    /// Leading seconds of each run the statistics leave out; shaded and labelled.
    pub excluded_first: u32,
}

/// Throughput in Gbit/s over seconds, PNG bytes of `width` × `height`.
pub fn render_png(
    series: &[RunSeries],
    title: &str,
    width: u32,
    height: u32,
) -> anyhow::Result<Vec<u8>> {
    render_png_with(
        series,
        &PlotSpec {
            title,
            width,
            height,
            metric: Metric::BitsPerSecond,
            excluded_first: 1,
        },
    )
}

/// [`render_png`] with every choice explicit.
pub fn render_png_with(series: &[RunSeries], spec: &PlotSpec) -> anyhow::Result<Vec<u8>> {
    anyhow::ensure!(
        spec.width >= 200 && spec.height >= 150,
        "a plot needs at least 200 × 150 pixels"
    );
    register_fonts()?;
    let (w, h) = (spec.width, spec.height);
    let mut rgb = vec![255u8; w as usize * h as usize * 3];
    draw(series, spec, &mut rgb).map_err(|e| anyhow!("drawing the plot: {e}"))?;
    let mut png_bytes = Vec::new();
    let mut encoder = png::Encoder::new(&mut png_bytes, w, h);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().context("encoding the PNG")?;
    writer.write_image_data(&rgb).context("encoding the PNG")?;
    writer.finish().context("encoding the PNG")?;
    Ok(png_bytes)
}

fn register_fonts() -> anyhow::Result<()> {
    static DONE: OnceLock<bool> = OnceLock::new();
    let ok = DONE.get_or_init(|| {
        register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular()).is_ok()
            && register_font("sans-serif", FontStyle::Bold, dejavu::sans::bold()).is_ok()
    });
    anyhow::ensure!(*ok, "the embedded DejaVu font could not be loaded");
    Ok(())
}

fn colour(implementation: Impl) -> RGBColor {
    match implementation {
        Impl::C => RGBColor(31, 100, 200),
        Impl::Rust => RGBColor(210, 40, 40),
        Impl::None => RGBColor(120, 120, 120),
    }
}

/// One implementation's lines: each run, and the mean per second over runs.
struct Lines {
    implementation: Impl,
    runs: Vec<Vec<(f64, f64)>>,
    mean: Vec<(f64, f64)>,
}

fn lines(series: &[RunSeries], metric: Metric) -> Vec<Lines> {
    let (_, factor) = metric.display_unit();
    Impl::DISPLAY_ORDER
        .into_iter()
        .filter_map(|implementation| {
            let mut runs = Vec::new();
            let mut by_second: BTreeMap<u32, Vec<f64>> = BTreeMap::new();
            let mut mine: Vec<&RunSeries> = series
                .iter()
                .filter(|s| s.implementation == implementation)
                .collect();
            mine.sort_by_key(|s| s.run);
            for s in mine {
                let mut points: Vec<(u32, f64)> = s
                    .samples
                    .iter()
                    .filter_map(|x| metric.of(x).map(|v| (x.second, v * factor)))
                    .collect();
                points.sort_by_key(|p| p.0);
                for &(second, v) in &points {
                    by_second.entry(second).or_default().push(v);
                }
                // Second k is the interval (k − 1, k]: drawn at its middle.
                runs.push(
                    points
                        .into_iter()
                        .map(|(k, v)| (f64::from(k) - 0.5, v))
                        .collect::<Vec<_>>(),
                );
            }
            runs.retain(|r| !r.is_empty());
            if runs.is_empty() {
                return None;
            }
            let mean = by_second
                .into_iter()
                .map(|(k, v)| (f64::from(k) - 0.5, v.iter().sum::<f64>() / v.len() as f64))
                .collect();
            Some(Lines {
                implementation,
                runs,
                mean,
            })
        })
        .collect()
}

fn draw(
    series: &[RunSeries],
    spec: &PlotSpec,
    buffer: &mut [u8],
) -> Result<(), Box<dyn std::error::Error>> {
    let (w, h) = (spec.width, spec.height);
    let scale = f64::from(h.min(w * 3 / 4)) / 600.0;
    let px = |x: f64| ((x * scale).round() as i32).max(1);
    let font = |size: f64| ("sans-serif", (size * scale).max(9.0));

    let all = lines(series, spec.metric);
    let x_max = all
        .iter()
        .flat_map(|l| l.runs.iter().flatten())
        .map(|p| p.0 + 0.5)
        .fold(1.0_f64, f64::max)
        .ceil();
    let y_top = all
        .iter()
        .flat_map(|l| l.runs.iter().flatten())
        .map(|p| p.1)
        .fold(0.0_f64, f64::max);
    // Headroom above the highest point keeps the legend (upper right) off the data.
    let y_max = if y_top > 0.0 { y_top * 1.3 } else { 1.0 };
    let y_decimals = if y_max >= 20.0 {
        0
    } else if y_max >= 2.0 {
        1
    } else {
        2
    };

    let root = BitMapBackend::with_buffer(buffer, (w, h)).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.margin(px(10.0), px(10.0), px(10.0), px(24.0));
    let (unit, _) = spec.metric.display_unit();
    let mut chart = ChartBuilder::on(&root)
        .caption(spec.title, font(24.0).into_font().style(FontStyle::Bold))
        .x_label_area_size(px(56.0))
        .y_label_area_size(px(72.0))
        .margin_top(px(8.0))
        .build_cartesian_2d(0.0..x_max, 0.0..y_max)?;

    chart
        .configure_mesh()
        .x_desc("time since the run started (s)")
        .y_desc(format!("{} ({unit})", spec.metric.quantity()))
        .axis_desc_style(font(17.0))
        .label_style(font(15.0))
        .x_labels((x_max as usize + 1).min(21))
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| format!("{y:.*}", y_decimals))
        .light_line_style(WHITE)
        .bold_line_style(RGBColor(225, 225, 225))
        .draw()?;

    if spec.excluded_first > 0 && !all.is_empty() {
        let end = f64::from(spec.excluded_first).min(x_max);
        chart.draw_series(std::iter::once(Rectangle::new(
            [(0.0, 0.0), (end, y_max)],
            RGBColor(236, 236, 236).filled(),
        )))?;
        chart.draw_series(std::iter::once(Text::new(
            "not in statistics",
            (0.08 * end, y_max * 0.985),
            font(12.0).into_font().color(&RGBColor(110, 110, 110)),
        )))?;
    }

    for l in &all {
        let c = colour(l.implementation);
        let n = l.runs.len();
        if n > 1 {
            for run in &l.runs {
                chart.draw_series(LineSeries::new(
                    run.iter().copied(),
                    c.mix(0.45).stroke_width(px(1.5) as u32),
                ))?;
            }
        }
        let label = if n == 1 {
            format!("{} (1 run)", l.implementation.label())
        } else {
            format!(
                "{} (mean of {n} runs; thin: each run)",
                l.implementation.label()
            )
        };
        let bold = c.stroke_width(px(3.0) as u32);
        let line = if n == 1 {
            l.runs[0].clone()
        } else {
            l.mean.clone()
        };
        chart
            .draw_series(LineSeries::new(line.iter().copied(), bold).point_size(px(2.5) as u32))?
            .label(label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], c.stroke_width(3)));
    }

    if all.is_empty() {
        chart.draw_series(std::iter::once(Text::new(
            "no data",
            (x_max * 0.45, y_max * 0.5),
            font(20.0).into_font().color(&RGBColor(110, 110, 110)),
        )))?;
    } else {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .margin(px(12.0))
            .label_font(font(15.0))
            .background_style(WHITE.mix(0.9))
            .border_style(RGBColor(190, 190, 190))
            .draw()?;
    }
    root.present()?;
    Ok(())
}
