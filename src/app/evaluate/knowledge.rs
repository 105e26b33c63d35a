//! The Knowledge tab: multiple-choice benchmarks (the synthetic world's, C-Eval, MMLU, AGIEval,
//! GAOKAO-Bench) asked of one model, or of a pair with the change between them.

use std::path::PathBuf;

use eframe::egui::{self, RichText};

use crate::device;
use crate::eval::mcq::{self, Format, McqOptions};
use crate::tasks::{self, Knowledge};

use super::{Models, interval};
use crate::app::files::{PathKind, path_field};
use crate::app::running::Task;

const FORMATS: [Format; 5] = [
    Format::World,
    Format::Ceval,
    Format::Mmlu,
    Format::Agieval,
    Format::Gaokao,
];

pub struct KnowledgeTab {
    pub format: Format,
    pub data: String,
    pub language: String,
    pub shots: usize,
    pub limit: usize,
    pub task: Task<Knowledge>,
}

impl Default for KnowledgeTab {
    fn default() -> Self {
        Self {
            format: Format::World,
            data: "world".into(),
            language: "en".into(),
            shots: 0,
            limit: 0,
            task: Task::default(),
        }
    }
}

impl KnowledgeTab {
    pub fn ui(&mut self, ui: &mut egui::Ui, on: &Models) {
        ui.horizontal(|ui| {
            ui.label("benchmark");
            egui::ComboBox::from_id_salt("format")
                .selected_text(self.format.name())
                .show_ui(ui, |ui| {
                    for f in FORMATS {
                        ui.selectable_value(&mut self.format, f, f.name());
                    }
                })
                .response
                .accessible_name("benchmark format");
            ui.label("data");
            path_field(
                ui,
                "benchmark data",
                &mut self.data,
                PathKind::Folder,
                240.0,
            );
            if self.format == Format::World {
                ui.label("language");
                ui.add(egui::TextEdit::singleline(&mut self.language).desired_width(40.0))
                    .accessible_name("language");
            }
            ui.label("shots");
            ui.add(egui::DragValue::new(&mut self.shots).range(0..=5))
                .accessible_name("shots");
            ui.label("per subject (0: all)");
            ui.add(egui::DragValue::new(&mut self.limit))
                .accessible_name("per subject (0: all)");
        });
        ui.horizontal(|ui| {
            if ui.add_enabled(!on.busy, egui::Button::new("Run")).clicked() {
                let (format, data, models) =
                    (self.format, PathBuf::from(&self.data), on.dirs.clone());
                let language = (format == Format::World).then(|| self.language.clone());
                let options = McqOptions {
                    shots: self.shots,
                    limit: (self.limit > 0).then_some(self.limit),
                    ..McqOptions::default()
                };
                let choice = on.device;
                self.task.start("mcq", ui.ctx(), move |ctx| {
                    let set = mcq::read(format, &data, language.as_deref())?;
                    let (device, _) = device::select(choice)?;
                    tasks::knowledge(&models, &set, &options, &device, ctx)
                });
            }
            self.task.status_ui(ui, true);
        });
        self.task.error_ui(ui);
        if let Some(k) = self.task.output() {
            for (i, r) in k.reports.iter().enumerate() {
                ui.label(
                    RichText::new(format!(
                        "model {}: {} questions, {}-shot, {:.1} questions/s",
                        i + 1,
                        r.questions,
                        r.shots,
                        r.questions_per_second
                    ))
                    .strong(),
                );
                egui::Grid::new(("mcq", i)).striped(true).show(ui, |ui| {
                    for h in ["scoring", "subject", "accuracy % [95%]", "right", "chance"] {
                        ui.strong(h);
                    }
                    ui.end_row();
                    for m in &r.modes {
                        ui.label(format!("{:?}", m.scoring));
                        ui.strong("overall");
                        ui.label(interval(&m.accuracy, 100.0, 1));
                        let right: usize = m.subjects.iter().map(|s| s.correct).sum();
                        let asked: usize = m.subjects.iter().map(|s| s.questions).sum();
                        ui.label(format!("{right}/{asked}"));
                        ui.label(format!("{:.0}%", 100.0 * m.chance));
                        ui.end_row();
                        for s in &m.subjects {
                            ui.label("");
                            ui.label(&s.name);
                            ui.label(interval(&s.accuracy, 100.0, 1));
                            ui.label(format!("{}/{}", s.correct, s.questions));
                            ui.label(format!("{:.0}%", 100.0 * s.chance));
                            ui.end_row();
                        }
                    }
                });
            }
            if let Some(change) = &k.change {
                ui.label(RichText::new("change, second model minus first (points)").strong());
                for c in change {
                    ui.label(format!(
                        "{:?}: {}",
                        c.scoring,
                        interval(&c.overall, 100.0, 1)
                    ));
                }
            }
        }
    }
}
