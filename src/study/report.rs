//! Writing a study's results: `results.csv` and `results.jsonl` (one row per cell, seed and
//! measurement), `summary.json` (cells over seeds and findings with their verdicts), figures as
//! SVG and PNG, and the report as Markdown and as one HTML file that opens offline.

use std::fmt::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::figures;
use super::manifest::Study;
use super::results::{self, CellValue, FindingResult, Row, Run, Verdict};
use super::store::write_json;
use crate::error::{Error, Result};

/// Where and how a study ran, for the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    pub device: String,
    pub version: String,
    /// Seconds every stage took when it ran (summed from the store).
    pub stage_seconds: f64,
    /// Seconds of the invocation that wrote the report.
    pub wall_seconds: f64,
}

/// What `summary.json` holds: what the app and `study report` show.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Summary {
    pub name: String,
    pub title: String,
    pub scale: String,
    pub info: RunInfo,
    pub findings: Vec<FindingResult>,
    pub cells: Vec<CellValue>,
}

/// The files of a report, relative to the study's folder.
pub const RESULTS_CSV: &str = "results.csv";
pub const RESULTS_JSONL: &str = "results.jsonl";
pub const SUMMARY: &str = "summary.json";
pub const REPORT_MD: &str = "report.md";
pub const REPORT_HTML: &str = "report.html";

/// Computes the results of `runs` and writes every report file into `dir`.
pub fn write(study: &Study, runs: &[Run], info: &RunInfo, dir: &Path) -> Result<Summary> {
    std::fs::create_dir_all(dir.join("figures")).map_err(|e| Error::io(dir, e))?;
    let rows = results::rows(study, runs);
    let cells = results::cells(study, runs);
    let findings = results::findings(study, runs);

    let mut csv = csv::Writer::from_writer(Vec::new());
    for r in &rows {
        csv.serialize(r)
            .map_err(|e| Error::Serialize(e.to_string()))?;
    }
    let csv = csv
        .into_inner()
        .map_err(|e| Error::Serialize(e.to_string()))?;
    crate::fsx::write_atomic(&dir.join(RESULTS_CSV), &csv)?;
    let mut jsonl = String::new();
    for r in &rows {
        jsonl.push_str(&serde_json::to_string(r).map_err(|e| Error::Serialize(e.to_string()))?);
        jsonl.push('\n');
    }
    crate::fsx::write_atomic(&dir.join(RESULTS_JSONL), jsonl.as_bytes())?;

    let varying = study.varying_axes();
    let mut svgs = Vec::new();
    for f in &findings {
        let points = figures::finding_points(f, &cells, &varying);
        let title = format!("{}: {}", f.finding.id, f.finding.measure);
        let legend = figures::finding_legend(f);
        let svg = figures::svg(&title, &f.finding.measure, &points, &legend)?;
        crate::fsx::write_atomic(
            &dir.join(format!("figures/{}.svg", f.finding.id)),
            svg.as_bytes(),
        )?;
        let png = figures::png(&title, &f.finding.measure, &points, &legend)?;
        crate::fsx::write_atomic(&dir.join(format!("figures/{}.png", f.finding.id)), &png)?;
        svgs.push(svg);
    }
    let summary = Summary {
        name: study.name.clone(),
        title: study.title.clone(),
        scale: study.scale.clone(),
        info: info.clone(),
        findings,
        cells,
    };
    write_json(&dir.join(SUMMARY), &summary)?;
    let examples = results::switched_examples(study, runs);
    crate::fsx::write_atomic(
        &dir.join(REPORT_MD),
        markdown(study, &summary, &rows, &examples).as_bytes(),
    )?;
    crate::fsx::write_atomic(
        &dir.join(REPORT_HTML),
        html(study, &summary, &svgs, &examples).as_bytes(),
    )?;
    Ok(summary)
}

fn signed(v: f64) -> String {
    format!("{v:+.4}")
}

fn effect_text(f: &FindingResult) -> String {
    if f.verdict == Verdict::NoData {
        return "no data".into();
    }
    let e = &f.effect;
    match f.finding.b {
        Some(_) => format!(
            "{} [{}, {}]",
            signed(e.value),
            signed(e.low),
            signed(e.high)
        ),
        None => format!("{:.4} [{:.4}, {:.4}]", e.value, e.low, e.high),
    }
}

fn compared(f: &FindingResult) -> String {
    let a = super::manifest::value_text(&f.finding.a);
    let mut s = match (&f.finding.axis, &f.finding.b) {
        (Some(axis), Some(b)) => format!(
            "{axis} = {a} minus {axis} = {}, same seed and other settings",
            super::manifest::value_text(b)
        ),
        (Some(axis), None) => format!("{axis} = {a}"),
        _ => "every cell".into(),
    };
    if !f.finding.at.is_empty() {
        let at: Vec<String> = f
            .finding
            .at
            .iter()
            .map(|(k, v)| format!("{k} = {}", super::manifest::value_text(v)))
            .collect();
        let _ = write!(s, "; at {}", at.join(", "));
    }
    s
}

fn hours(seconds: f64) -> String {
    if seconds < 120.0 {
        format!("{seconds:.0} s")
    } else {
        format!("{:.1} min", seconds / 60.0)
    }
}

fn settings_line(study: &Study, info: &RunInfo) -> String {
    format!(
        "scale `{}`, seeds {}, device {}, beyond {}; the stages took {} of compute in all, this invocation {}",
        study.scale,
        study
            .grid
            .seeds
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        info.device,
        info.version,
        hours(info.stage_seconds),
        hours(info.wall_seconds)
    )
}

/// The families of measurements, for the tables: (heading, name prefix).
const FAMILIES: [(&str, &str); 5] = [
    ("Knowledge (accuracy, text scoring)", "knowledge."),
    ("Held-out text: bits per byte", "bits_per_byte."),
    ("Tokens per character", "tokens_per_char."),
    ("Answers to held-out instructions", "answers."),
    (
        "Answer quality by the judge (LLM-Eval's aspects, 0-3)",
        "quality.",
    ),
];

/// A table of the report: one family of measurements, a row per cell.
struct Table {
    heading: String,
    /// The measurements, without the family's prefix.
    measures: Vec<String>,
    /// Per cell: its label and its values in measure order.
    rows: Vec<(String, Vec<String>)>,
}

/// Per family: the measures, and per cell label its values in measure order.
fn tables(study: &Study, cells: &[CellValue]) -> Vec<Table> {
    let varying = study.varying_axes();
    let mut out = Vec::new();
    for (heading, prefix) in FAMILIES {
        // With several targets, the measurements of each cell's target share a column.
        let several = study.targets().len() > 1;
        let mut measures: Vec<String> = cells
            .iter()
            .filter(|c| c.measure.starts_with(prefix))
            .map(|c| match several {
                true => c.setting.generic(&c.measure),
                false => c.measure.clone(),
            })
            .collect();
        measures.sort();
        measures.dedup();
        if measures.is_empty() {
            continue;
        }
        let mut rows = Vec::new();
        for setting in study.all_settings() {
            let values: Vec<String> = measures
                .iter()
                .map(|m| {
                    cells
                        .iter()
                        .find(|c| c.setting == setting && c.measure == setting.measure(m))
                        .map_or("".into(), |c| {
                            format!(
                                "{:.3} [{:.3}, {:.3}]",
                                c.value.value, c.value.low, c.value.high
                            )
                        })
                })
                .collect();
            let label = match setting.label(&varying) {
                l if l.is_empty() => "all".into(),
                l => l,
            };
            rows.push((label, values));
        }
        let short: Vec<String> = measures
            .iter()
            .map(|m| m.strip_prefix(prefix).unwrap_or(m).to_string())
            .collect();
        out.push(Table {
            heading: heading.to_string(),
            measures: short,
            rows,
        });
    }
    out
}

fn markdown(
    study: &Study,
    summary: &Summary,
    rows: &[Row],
    examples: &[(String, Vec<super::measure::SwitchedAnswer>)],
) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# {}\n", study.title);
    if !study.description.trim().is_empty() {
        let _ = writeln!(md, "{}\n", study.description.trim());
    }
    let _ = writeln!(md, "{}.\n", settings_line(study, &summary.info));
    let _ = writeln!(
        md,
        "Each value is the mean over seeds with a 95% interval drawn over seeds and over items \
         (questions, lines, answers); a verdict is read off the interval: *agrees* when all of it \
         is on the claim's side, *disagrees* when all of it is on the other, *inconclusive* \
         otherwise.\n"
    );
    let _ = writeln!(md, "## Findings\n");
    let _ = writeln!(
        md,
        "| finding | the paper's claim | measure | effect [95%] | verdict |"
    );
    let _ = writeln!(md, "| --- | --- | --- | --- | --- |");
    for f in &summary.findings {
        let _ = writeln!(
            md,
            "| {}{} | {} | `{}` | {} | **{}** |",
            f.finding.id,
            if f.finding.control { " (control)" } else { "" },
            f.finding.claim,
            f.finding.measure,
            effect_text(f),
            f.verdict.text()
        );
    }
    for f in &summary.findings {
        let _ = writeln!(md, "\n### {}: {}\n", f.finding.id, f.finding.claim);
        if f.finding.control {
            let _ = writeln!(
                md,
                "A positive control: an effect the instruments must show for the other verdicts to be trusted.\n"
            );
        }
        let _ = writeln!(
            md,
            "`{}`, {} ({} runs): {} -> **{}**: {}.\n",
            f.finding.measure,
            compared(f),
            f.runs,
            effect_text(f),
            f.verdict.text(),
            f.reading
        );
        let _ = writeln!(md, "![{}](figures/{}.png)", f.finding.id, f.finding.id);
    }
    for table in tables(study, &summary.cells) {
        let _ = writeln!(md, "\n## {}\n", table.heading);
        let _ = writeln!(md, "| cell | {} |", table.measures.join(" | "));
        let _ = writeln!(md, "| --- |{}", " --- |".repeat(table.measures.len()));
        for (label, values) in table.rows {
            let _ = writeln!(md, "| {label} | {} |", values.join(" | "));
        }
    }
    if !examples.is_empty() {
        let _ = writeln!(md, "\n## Code-switched answers\n");
        for (label, answers) in examples {
            let _ = writeln!(md, "**{label}**\n");
            for a in answers {
                let runs: Vec<String> = a
                    .runs
                    .iter()
                    .map(|(l, t)| format!("{l}: \"{t}\""))
                    .collect();
                let _ = writeln!(
                    md,
                    "- {} -> {} ({})",
                    a.prompt.replace('\n', " "),
                    a.response.replace('\n', " "),
                    runs.join("; ")
                );
            }
            md.push('\n');
        }
    }
    let _ = writeln!(
        md,
        "\n## Files\n\n`results.csv` and `results.jsonl` hold {} rows (cell x seed x measurement, with a `seed` column); `summary.json` the cells over seeds and the findings; `figures/` each finding's figure as SVG and PNG.",
        rows.len()
    );
    md
}

/// Text made safe for HTML.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

const STYLE: &str = "body{font-family:system-ui,'Noto Sans','Noto Sans CJK SC',sans-serif;max-width:980px;margin:2em auto;padding:0 1em;color:#222;line-height:1.45}\
table{border-collapse:collapse;margin:1em 0;font-size:.9em}td,th{border:1px solid #ccc;padding:.3em .5em;text-align:left;vertical-align:top}\
th{background:#f3f3f3}.agrees{color:#1a7f37;font-weight:bold}.disagrees{color:#b42318;font-weight:bold}.inconclusive{color:#9a6700;font-weight:bold}\
.figure svg{max-width:100%;height:auto}code{background:#f3f3f3;padding:0 .2em}.muted{color:#666}";

fn html(
    study: &Study,
    summary: &Summary,
    svgs: &[String],
    examples: &[(String, Vec<super::measure::SwitchedAnswer>)],
) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head><body>\n",
        esc(&study.title)
    );
    let _ = writeln!(h, "<h1>{}</h1>", esc(&study.title));
    if !study.description.trim().is_empty() {
        let _ = writeln!(h, "<p>{}</p>", esc(study.description.trim()));
    }
    let _ = writeln!(
        h,
        "<p class=\"muted\">{}.</p>",
        esc(&settings_line(study, &summary.info))
    );
    let _ = writeln!(
        h,
        "<h2>Findings</h2>\n<table><tr><th>finding</th><th>the paper's claim</th><th>measure</th><th>effect [95%]</th><th>verdict</th></tr>"
    );
    for f in &summary.findings {
        let _ = writeln!(
            h,
            "<tr><td>{}{}</td><td>{}</td><td><code>{}</code></td><td>{}</td><td class=\"{}\">{}</td></tr>",
            esc(&f.finding.id),
            if f.finding.control { " (control)" } else { "" },
            esc(&f.finding.claim),
            esc(&f.finding.measure),
            esc(&effect_text(f)),
            f.verdict.text().replace(' ', "-"),
            f.verdict.text()
        );
    }
    h.push_str("</table>\n");
    for (f, svg) in summary.findings.iter().zip(svgs) {
        let _ = writeln!(
            h,
            "<h3>{}: {}</h3>",
            esc(&f.finding.id),
            esc(&f.finding.claim)
        );
        let _ = writeln!(
            h,
            "<p><code>{}</code>, {} ({} runs): {} &rarr; <span class=\"{}\">{}</span>: {}.</p>",
            esc(&f.finding.measure),
            esc(&compared(f)),
            f.runs,
            esc(&effect_text(f)),
            f.verdict.text().replace(' ', "-"),
            f.verdict.text(),
            esc(&f.reading)
        );
        // The SVG is plotters' own output; its text is already escaped.
        let _ = writeln!(h, "<div class=\"figure\">{svg}</div>");
    }
    for table in tables(study, &summary.cells) {
        let _ = writeln!(
            h,
            "<h2>{}</h2>\n<table><tr><th>cell</th>",
            esc(&table.heading)
        );
        for m in &table.measures {
            let _ = write!(h, "<th>{}</th>", esc(m));
        }
        h.push_str("</tr>\n");
        for (label, values) in table.rows {
            let _ = write!(h, "<tr><td>{}</td>", esc(&label));
            for v in values {
                let _ = write!(h, "<td>{}</td>", esc(&v));
            }
            h.push_str("</tr>\n");
        }
        h.push_str("</table>\n");
    }
    if !examples.is_empty() {
        h.push_str("<h2>Code-switched answers</h2>\n");
        for (label, answers) in examples {
            let _ = writeln!(h, "<h4>{}</h4><ul>", esc(label));
            for a in answers {
                let mut response = esc(&a.response);
                for (_, run) in &a.runs {
                    let r = esc(run);
                    if !r.is_empty() {
                        response = response.replacen(&r, &format!("<mark>{r}</mark>"), 1);
                    }
                }
                let _ = writeln!(h, "<li>{} &rarr; {}</li>", esc(&a.prompt), response);
            }
            h.push_str("</ul>\n");
        }
    }
    let _ = writeln!(
        h,
        "<h2>The study file</h2><pre>{}</pre>\n</body></html>",
        esc(&toml::to_string(study).unwrap_or_default())
    );
    h
}
