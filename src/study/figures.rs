//! The report's figures, drawn with plotters: for each finding, the measurement in every cell
//! it concerns, the mean over seeds with its interval, the compared settings in their own
//! colours. Written as SVG (inlined in the HTML page) and PNG (text in egui's bundled font, so a
//! figure looks the same on every machine).

use std::sync::Once;

use plotters::prelude::*;

use super::results::{CellValue, FindingResult};
use crate::error::{Error, Result};

/// Width and height of a figure, in pixels.
const SIZE: (u32, u32) = (760, 380);

/// A point of a figure.
pub struct Point {
    pub label: String,
    pub value: f64,
    pub low: f64,
    pub high: f64,
    /// 0: the claim's setting, 1: the compared one, 2: other cells.
    pub role: usize,
}

const COLOURS: [RGBColor; 3] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(140, 140, 140),
];

/// The points of a finding's figure: every cell with its measurement within the finding's
/// settings.
pub fn finding_points(f: &FindingResult, cells: &[CellValue], varying: &[&str]) -> Vec<Point> {
    let finding = &f.finding;
    let a = super::manifest::value_text(&finding.a);
    let b = finding.b.as_ref().map(super::manifest::value_text);
    cells
        .iter()
        .filter(|c| c.measure == c.setting.measure(&finding.measure))
        .filter(|c| {
            finding.at.iter().all(|(axis, v)| {
                c.setting.value(axis).as_deref() == Some(super::manifest::value_text(v).as_str())
            })
        })
        .map(|c| {
            let role = match &finding.axis {
                Some(axis) => {
                    let v = c.setting.value(axis);
                    if v.as_deref() == Some(a.as_str()) {
                        0
                    } else if v.is_some() && v == b {
                        1
                    } else {
                        2
                    }
                }
                None => 0,
            };
            Point {
                label: compact(&c.setting, varying),
                value: c.value.value,
                low: c.value.low,
                high: c.value.high,
                role,
            }
        })
        .collect()
}

/// The values of the varying axes, joined: `original / 20480`.
fn compact(setting: &super::manifest::Setting, varying: &[&str]) -> String {
    let parts: Vec<String> = varying
        .iter()
        .filter_map(|a| {
            setting.value(a).map(|v| match *a {
                "english_share" => format!("{:.0}% en", 100.0 * setting.english_share),
                "instruct_examples" => format!("sft {v}"),
                "pretrain_tokens" => format!("pt {v}"),
                _ => v,
            })
        })
        .collect();
    if parts.is_empty() {
        "all".into()
    } else {
        parts.join(" / ")
    }
}

fn register_font() {
    static FONT: Once = Once::new();
    FONT.call_once(|| {
        // The bundled font parses; if it ever did not, text would be missing, not the figure.
        let _ = plotters::style::register_font(
            "sans-serif",
            FontStyle::Normal,
            epaint_default_fonts::UBUNTU_LIGHT,
        );
    });
}

fn draw<DB: DrawingBackend>(
    root: DrawingArea<DB, plotters::coord::Shift>,
    title: &str,
    y_label: &str,
    points: &[Point],
    legend: &Legend,
) -> std::result::Result<(), String> {
    let e = |e: plotters::drawing::DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    root.fill(&WHITE).map_err(e)?;
    let finite: Vec<f64> = points
        .iter()
        .flat_map(|p| [p.low, p.high, p.value])
        .filter(|v| v.is_finite())
        .collect();
    let (mut lo, mut hi) = finite
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &v| {
            (l.min(v), h.max(v))
        });
    if !lo.is_finite() {
        (lo, hi) = (0.0, 1.0);
    }
    let pad = ((hi - lo) * 0.15).max(1e-3);
    let n = points.len().max(1);
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 17))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(64)
        // A segmented range of 0..k has k + 1 slots.
        .build_cartesian_2d(
            (0..n.saturating_sub(1).max(1)).into_segmented(),
            (lo - pad)..(hi + pad),
        )
        .map_err(e)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(n)
        .x_label_formatter(&|x| match x {
            SegmentValue::CenterOf(i) => {
                points.get(*i).map(|p| p.label.clone()).unwrap_or_default()
            }
            _ => String::new(),
        })
        .x_label_style(("sans-serif", 12))
        .y_desc(y_label)
        .y_label_style(("sans-serif", 12))
        .draw()
        .map_err(e)?;
    chart
        .draw_series(points.iter().enumerate().map(|(i, p)| {
            ErrorBar::new_vertical(
                SegmentValue::CenterOf(i),
                p.low,
                p.value,
                p.high,
                COLOURS[p.role.min(2)].stroke_width(2),
                14,
            )
        }))
        .map_err(e)?;
    for (role, name) in legend.iter().enumerate() {
        let series = chart
            .draw_series(
                points
                    .iter()
                    .enumerate()
                    .filter(|(_, p)| p.role.min(2) == role)
                    .map(|(i, p)| {
                        Circle::new(
                            (SegmentValue::CenterOf(i), p.value),
                            5,
                            COLOURS[role].filled(),
                        )
                    }),
            )
            .map_err(e)?;
        if let Some(name) = name
            && points.iter().any(|p| p.role.min(2) == role)
        {
            series
                .label(name.as_str())
                .legend(move |(x, y)| Circle::new((x + 8, y), 5, COLOURS[role].filled()));
        }
    }
    if legend.iter().any(Option::is_some) {
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.3))
            .label_font(("sans-serif", 12))
            .draw()
            .map_err(e)?;
    }
    root.present().map_err(e)?;
    Ok(())
}

/// What each colour stands for: the claim's setting, the compared one, other cells.
pub type Legend = [Option<String>; 3];

/// The legend of a finding's figure.
pub fn finding_legend(f: &FindingResult) -> Legend {
    let finding = &f.finding;
    let axis = finding.axis.as_deref().unwrap_or("");
    let name = |v: &toml::Value| {
        format!(
            "{} = {}",
            super::manifest::short(axis),
            super::manifest::value_text(v)
        )
    };
    match (&finding.axis, &finding.b) {
        (Some(_), Some(b)) => [
            Some(name(&finding.a)),
            Some(name(b)),
            Some("other cells".into()),
        ],
        (Some(_), None) => [Some(name(&finding.a)), None, Some("other cells".into())],
        _ => [None, None, None],
    }
}

/// A figure as SVG text.
pub fn svg(title: &str, y_label: &str, points: &[Point], legend: &Legend) -> Result<String> {
    register_font();
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, SIZE).into_drawing_area();
        draw(root, title, y_label, points, legend).map_err(Error::Figure)?;
    }
    Ok(out)
}

/// A figure as PNG bytes.
pub fn png(title: &str, y_label: &str, points: &[Point], legend: &Legend) -> Result<Vec<u8>> {
    register_font();
    let (w, h) = SIZE;
    let mut rgb = vec![255u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, SIZE).into_drawing_area();
        draw(root, title, y_label, points, legend).map_err(Error::Figure)?;
    }
    let image = image::RgbImage::from_raw(w, h, rgb)
        .ok_or_else(|| Error::Figure("the picture buffer has the wrong size".into()))?;
    let mut bytes = std::io::Cursor::new(Vec::new());
    image
        .write_to(&mut bytes, image::ImageFormat::Png)
        .map_err(|e| Error::Figure(e.to_string()))?;
    Ok(bytes.into_inner())
}
