//! The Perplexity tab: perplexity and bits per byte of each model on held-out text per language,
//! with the paired change in bits per byte when two models are compared.

use eframe::egui;

use crate::device;
use crate::eval::perplexity::PerplexityOptions;
use crate::tasks::{self, CorpusPerplexity};

use super::{Models, interval};
use crate::app::running::Task;

pub struct PerplexityTab {
    /// One corpus per line, `name=file`.
    pub texts: String,
    pub task: Task<Vec<CorpusPerplexity>>,
}

impl Default for PerplexityTab {
    fn default() -> Self {
        Self {
            texts: "en=world/heldout/en.txt\nzh=world/heldout/zh.txt".into(),
            task: Task::default(),
        }
    }
}

impl PerplexityTab {
    pub fn ui(&mut self, ui: &mut egui::Ui, on: &Models) {
        ui.label("Held-out text, one corpus per line as name=file (each non-empty line of a file is a sequence):");
        ui.add(
            egui::TextEdit::multiline(&mut self.texts)
                .desired_rows(3)
                .desired_width(520.0),
        )
        .accessible_name("held-out texts");
        ui.horizontal(|ui| {
            if ui.add_enabled(!on.busy, egui::Button::new("Run")).clicked() {
                let specs: Vec<String> = self
                    .texts
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(String::from)
                    .collect();
                let (models, choice) = (on.dirs.clone(), on.device);
                self.task.start("perplexity", ui.ctx(), move |ctx| {
                    let corpora = tasks::read_corpora(&specs)?;
                    let (device, _) = device::select(choice)?;
                    let options = PerplexityOptions::default();
                    tasks::perplexities(&models, &corpora, &options, &device, ctx)
                });
            }
            self.task.status_ui(ui, false);
        });
        self.task.error_ui(ui);
        let Some(rows) = self.task.output() else {
            return;
        };
        egui::Grid::new("ppl").striped(true).show(ui, |ui| {
            for h in [
                "corpus",
                "model",
                "tokens",
                "perplexity",
                "bits/byte [95%]",
                "change",
            ] {
                ui.strong(h);
            }
            ui.end_row();
            for row in rows {
                for (i, r) in row.reports.iter().enumerate() {
                    ui.label(if i == 0 { row.corpus.as_str() } else { "" });
                    ui.label(format!("{}", i + 1));
                    ui.label(format!("{}", r.tokens));
                    ui.label(format!("{:.3}", r.perplexity));
                    ui.label(interval(&r.bits_per_byte_interval, 1.0, 4));
                    match (i, &row.change) {
                        (1, Some(c)) => ui.label(interval(c, 1.0, 4)),
                        _ => ui.label(""),
                    };
                    ui.end_row();
                }
            }
        });
    }
}
