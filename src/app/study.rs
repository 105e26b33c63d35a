//! The Study page: pick a shipped study or a file and a scale, run it; the grid of cells with
//! where each stands, the running stage's loss, the findings and their figures as the runs are
//! measured, and the report once it is written. The study runs as a core job; the page re-reads
//! the store every two seconds, so it shows the same whether this window started the study or
//! the command line did.

use std::path::{Path, PathBuf};

use eframe::egui::{self, Color32, RichText};
use egui_plot::{Line, Plot, PlotPoints, Points};

use crate::device::{self, DeviceChoice};
use crate::study::{self, Layout, Outcome, RunState, Study, Verdict, figures, results};

use super::files::{PathKind, path_field};
use super::running::{Running, Task, poll};
use super::settings;
use super::style;

/// How often the store is read again.
const REFRESH: std::time::Duration = std::time::Duration::from_secs(2);

/// What the page shows of a study, read from the files.
struct View {
    study: Study,
    states: Vec<RunState>,
    /// Runs measured when the results were computed.
    measured: usize,
    cells: Vec<results::CellValue>,
    findings: Vec<results::FindingResult>,
    /// Answers that switched language: the cell's label and the answer.
    switched: Vec<(String, study::measure::SwitchedAnswer)>,
    results: PathBuf,
}

pub struct StudyPanel {
    /// The device its jobs run on (the Model page's choice).
    pub device: DeviceChoice,
    /// A shipped study's name, or a study file.
    choice: String,
    scale: String,
    workspace: String,
    study: Task<Outcome>,
    view: Option<Result<View, String>>,
    /// The files being read again, off the UI thread, and when that began.
    reading: Option<Running<Option<View>>>,
    read_at: Option<std::time::Instant>,
    /// The finding whose figure is shown.
    figure: usize,
}

impl Default for StudyPanel {
    fn default() -> Self {
        Self {
            device: DeviceChoice::Auto,
            choice: study::SHIPPED[0].0.into(),
            scale: "quick".into(),
            workspace: "studies".into(),
            study: Task::default(),
            view: None,
            reading: None,
            read_at: None,
            figure: 0,
        }
    }
}

impl StudyPanel {
    pub fn remember(&self, s: &mut settings::Settings) {
        s.study.choice = Some(self.choice.clone());
        s.study.scale = Some(self.scale.clone());
        s.study.workspace = Some(self.workspace.clone());
    }

    pub fn restore(&mut self, s: &settings::Settings) {
        settings::recall(&s.study.choice, &mut self.choice);
        settings::recall(&s.study.scale, &mut self.scale);
        settings::recall(&s.study.workspace, &mut self.workspace);
    }

    fn layout(&self) -> Layout {
        Layout::new(Path::new(self.workspace.trim()))
    }

    /// Starts reading the study, its plan and what is measured so far; results are computed
    /// again only when more runs are measured than `known` (drawing their intervals takes a
    /// while, and the window must not wait for it).
    fn read(&mut self, ctx: &egui::Context) {
        let (choice, scale, layout) = (
            self.choice.trim().to_string(),
            self.scale.clone(),
            self.layout(),
        );
        let known = match &self.view {
            // A changed choice clears the view, so a view is of this study.
            Some(Ok(v)) => Some(v.measured),
            _ => None,
        };
        self.read_at = Some(std::time::Instant::now());
        self.reading = Some(Running::start("read study", ctx, move |_| {
            let s = study::open(&choice, &scale)?;
            let plan = study::plan(&s, &layout)?;
            let states = study::states(&plan);
            let measured = states.iter().filter(|r| r.stages_done == r.stages).count();
            if known == Some(measured) {
                return Ok(None);
            }
            let runs = study::measured_runs(&plan)?;
            let varying = s.varying_axes();
            let switched = runs
                .iter()
                .flat_map(|r| {
                    let cell = format!("{} seed {}", r.setting.label(&varying), r.seed);
                    r.measured
                        .switched
                        .iter()
                        .take(s.measure.examples)
                        .map(move |a| (cell.clone(), a.clone()))
                })
                .collect();
            Ok(Some(View {
                cells: results::cells(&s, &runs),
                findings: results::findings(&s, &runs),
                switched,
                states,
                measured,
                results: layout.results(&s),
                study: s,
            }))
        }));
    }

    pub fn ui(&mut self, ui: &mut egui::Ui) {
        if self.study.poll() {
            self.read_at = None;
        }
        match poll(&mut self.reading) {
            Some(Ok(Some(view))) => self.view = Some(Ok(view)),
            Some(Ok(None)) => {}
            Some(Err(e)) => self.view = Some(Err(e)),
            None => {}
        }
        let due = self.read_at.is_none_or(|at| at.elapsed() > REFRESH);
        if self.reading.is_none() && due {
            self.read(ui.ctx());
        }
        ui.ctx().request_repaint_after(REFRESH);
        egui::ScrollArea::vertical().show(ui, |ui| self.page(ui));
    }

    fn page(&mut self, ui: &mut egui::Ui) {
        ui.heading("Study: the paper's questions as experiments");
        ui.label(
            "A study trains every cell of its grid (vocabulary, further pretraining, English \
             mixed in, instruction data) for each seed, measures each model, and puts the paper's \
             findings to the data. Stages shared by cells run once; a stopped study resumes.",
        );
        ui.separator();
        let mut changed = false;
        ui.horizontal(|ui| {
            ui.label("study");
            egui::ComboBox::from_id_salt("study choice")
                .selected_text(self.choice.clone())
                .show_ui(ui, |ui| {
                    for (name, _) in study::SHIPPED {
                        changed |= ui
                            .selectable_value(&mut self.choice, name.to_string(), name)
                            .changed();
                    }
                })
                .response
                .accessible_name("shipped study");
            ui.label("scale");
            egui::ComboBox::from_id_salt("study scale")
                .selected_text(self.scale.clone())
                .show_ui(ui, |ui| {
                    for scale in study::manifest::SCALES {
                        changed |= ui
                            .selectable_value(&mut self.scale, scale.to_string(), scale)
                            .changed();
                    }
                })
                .response
                .accessible_name("study scale");
        });
        ui.horizontal(|ui| {
            ui.label("or a study file");
            changed |= path_field(ui, "study file", &mut self.choice, PathKind::Toml, 320.0);
        });
        ui.horizontal(|ui| {
            ui.label("workspace");
            changed |= path_field(
                ui,
                "study workspace",
                &mut self.workspace,
                PathKind::Folder,
                320.0,
            );
        });
        if changed {
            self.view = None;
            self.read_at = None;
        }
        ui.horizontal(|ui| {
            let idle = !self.study.is_running();
            if ui
                .add_enabled(idle, egui::Button::new("Run study"))
                .clicked()
            {
                self.start(ui.ctx());
            }
            if !idle && ui.button("Stop").clicked() {
                self.study.cancel();
            }
            self.study.status_ui(ui, false);
        });
        self.study.error_ui(ui);
        if let Some(o) = self.study.output() {
            ui.label(format!(
                "Finished: {} of {} stages run now; results in {}",
                o.stages_run,
                o.stages,
                o.results.display()
            ));
        }
        self.live_curve(ui);
        let Some(view) = &self.view else {
            return;
        };
        match view {
            Err(e) => {
                ui.colored_label(style::BAD, e);
            }
            Ok(view) => {
                let mut figure = self.figure;
                draw_view(ui, view, &mut figure);
                self.figure = figure;
            }
        }
    }

    fn start(&mut self, ctx: &egui::Context) {
        let s = match study::open(self.choice.trim(), &self.scale) {
            Ok(s) => s,
            Err(e) => {
                self.study.set_result(Err(e.to_string()));
                return;
            }
        };
        let layout = self.layout();
        let choice = self.device;
        self.study.start("study", ctx, move |job| {
            let (device, info) = device::select(choice)?;
            study::run(&s, &layout, &device, &info.summary(), job)
        });
    }

    /// The loss of the stage that is training now.
    fn live_curve(&self, ui: &mut egui::Ui) {
        let Some(r) = self.study.running() else {
            return;
        };
        let losses: Vec<(u64, f64)> = r
            .metrics
            .iter()
            .filter(|(n, _, _)| n == "loss")
            .map(|(_, s, v)| (*s, *v))
            .collect();
        // A new stage starts where the step goes back.
        let start = losses
            .windows(2)
            .rposition(|w| w[1].0 <= w[0].0)
            .map_or(0, |i| i + 1);
        let points: Vec<[f64; 2]> = losses[start..]
            .iter()
            .map(|&(s, v)| [s as f64, v])
            .collect();
        if points.is_empty() {
            return;
        }
        ui.label("the running stage");
        Plot::new("study live loss")
            .height(160.0)
            .x_axis_label("step")
            .y_axis_label("loss")
            .show(ui, |plot| {
                plot.line(Line::new("loss", PlotPoints::from(points)).color(style::EMPHASIS));
            });
    }
}

fn verdict_colour(v: Verdict) -> Color32 {
    match v {
        Verdict::Agrees => style::GOOD,
        Verdict::Disagrees => style::BAD,
        Verdict::Inconclusive => style::UNSURE,
        Verdict::NoData => style::MUTED,
    }
}

fn draw_view(ui: &mut egui::Ui, view: &View, figure: &mut usize) {
    let s = &view.study;
    ui.separator();
    ui.label(RichText::new(&s.title).strong());
    if !s.description.is_empty() {
        ui.label(&s.description);
    }
    let varying = s.varying_axes();
    let measured = view
        .states
        .iter()
        .filter(|r| r.stages_done == r.stages)
        .count();
    ui.label(format!(
        "{} runs ({} settings x {} seeds), {measured} measured",
        view.states.len(),
        s.settings().len(),
        s.grid.seeds.len()
    ));
    egui::Grid::new("study cells").striped(true).show(ui, |ui| {
        ui.label(RichText::new("cell").strong());
        for seed in &s.grid.seeds {
            ui.label(RichText::new(format!("seed {seed}")).strong());
        }
        ui.end_row();
        for setting in s.settings() {
            let label = setting.label(&varying);
            ui.label(if label.is_empty() {
                "all".into()
            } else {
                label
            });
            for seed in &s.grid.seeds {
                match view
                    .states
                    .iter()
                    .find(|r| r.setting == setting && r.seed == *seed)
                {
                    Some(r) if r.stages_done == r.stages => {
                        ui.colored_label(style::GOOD, "measured");
                    }
                    Some(r) => {
                        ui.label(format!("{}/{} stages", r.stages_done, r.stages));
                    }
                    None => {
                        ui.label("");
                    }
                }
            }
            ui.end_row();
        }
    });
    ui.separator();
    ui.label(RichText::new("Findings").strong());
    egui::Grid::new("study findings")
        .striped(true)
        .show(ui, |ui| {
            for (i, f) in view.findings.iter().enumerate() {
                if ui.selectable_label(*figure == i, &f.finding.id).clicked() {
                    *figure = i;
                }
                ui.label(&f.finding.claim);
                ui.label(match f.verdict {
                    Verdict::NoData => "no data yet".to_string(),
                    _ => format!(
                        "{:+.4} [{:+.4}, {:+.4}]",
                        f.effect.value, f.effect.low, f.effect.high
                    ),
                });
                ui.colored_label(verdict_colour(f.verdict), f.verdict.text());
                ui.end_row();
            }
        });
    if let Some(f) = view.findings.get(*figure) {
        let points = figures::finding_points(f, &view.cells, &varying);
        let labels: Vec<String> = points.iter().map(|p| p.label.clone()).collect();
        ui.label(format!("{}: {}", f.finding.id, f.finding.measure));
        Plot::new("study finding")
            .height(220.0)
            .y_axis_label(f.finding.measure.clone())
            .x_axis_formatter(move |mark, _| {
                let i = mark.value.round();
                if (mark.value - i).abs() < 1e-6 && i >= 0.0 {
                    labels.get(i as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .show(ui, |plot| {
                for (i, p) in points.iter().enumerate() {
                    let colour = style::FIGURE_ROLES[p.role.min(2)];
                    let x = i as f64;
                    plot.line(
                        Line::new(
                            format!("{i}"),
                            PlotPoints::from(vec![[x, p.low], [x, p.high]]),
                        )
                        .color(colour),
                    );
                    plot.points(
                        Points::new(format!("{i}"), vec![[x, p.value]])
                            .radius(4.0)
                            .color(colour),
                    );
                }
            });
    }
    if !view.switched.is_empty() {
        ui.separator();
        ui.label(RichText::new("Answers that switched language").strong());
        for (cell, answer) in &view.switched {
            ui.label(RichText::new(cell).weak());
            super::bidi::text(ui, &answer.prompt);
            super::bidi::text(ui, &answer.response);
            let runs: Vec<String> = answer
                .runs
                .iter()
                .map(|(lang, text)| format!("{lang}: {text}"))
                .collect();
            ui.label(RichText::new(runs.join("  ·  ")).weak());
        }
    }
    let html = view.results.join(study::report::REPORT_HTML);
    if html.is_file() {
        ui.horizontal(|ui| {
            if ui.button("Open the report").clicked()
                && let Err(e) = open::that(&html)
            {
                eprintln!("could not open {}: {e}", html.display());
            }
            ui.label(html.display().to_string());
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::testing::{click, harness, wait_for};
    use egui_kittest::kittest::Queryable;

    const TINY: &str = r#"
name = "tiny"
title = "A tiny study for the page"
target = "zh"
[world]
seed = 4
people = 12
target_tokens = 3000
base_epochs = 1
[grid]
pretrain_tokens = [0, 1024]
seeds = [1, 2]
[training]
seq_len = 64
batch_size = 8
[measure]
answers = 0
heldout_lines = 8
questions_per_subject = 20
[[finding]]
id = "modelling"
claim = "Further pretraining lowers the target language's bits per byte."
measure = "bits_per_byte.zh"
axis = "pretrain_tokens"
a = 1024
b = 0
expect = "a_lower"
"#;

    #[test]
    fn runs_a_study_and_shows_its_cells_findings_and_report() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tiny.toml");
        std::fs::write(&file, TINY).unwrap();
        let panel = StudyPanel {
            choice: file.display().to_string(),
            workspace: dir.path().join("ws").display().to_string(),
            device: DeviceChoice::Cpu,
            ..StudyPanel::default()
        };
        let mut h = harness(|ui, p: &mut StudyPanel| p.ui(ui), panel);
        // The grid is drawn from the plan before anything runs.
        wait_for(&mut h, "4 runs (2 settings x 2 seeds), 0 measured", 10);
        wait_for(&mut h, "no data yet", 5);
        click(&mut h, "Run study");
        wait_for(&mut h, "Finished: ", 300);
        wait_for(&mut h, "4 runs (2 settings x 2 seeds), 4 measured", 10);
        assert_eq!(h.get_all_by_label("measured").count(), 4);
        let verdicts = ["agrees", "disagrees", "inconclusive"]
            .iter()
            .map(|v| h.query_all_by_label(v).count())
            .sum::<usize>();
        assert_eq!(verdicts, 1, "one finding, one verdict");
        wait_for(&mut h, "Open the report", 5);
        assert!(dir.path().join("ws/tiny/report.html").is_file());
    }
}
