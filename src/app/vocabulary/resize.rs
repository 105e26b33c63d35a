//! Growing a model to an extended tokenizer (the desktop: the model is a folder of files).

use std::path::PathBuf;

use eframe::egui::{self, RichText};

use crate::app::files::{PathKind, path_field};
use crate::app::running::Task;
use crate::app::settings::{self, VocabularySettings};
use crate::vocab::{ResizeInit, ResizeReport, resize_checkpoint};

pub struct ResizeForm {
    pub model: String,
    pub tokenizer: String,
    pub init: ResizeInit,
    pub out: String,
    pub resized: Task<(ResizeReport, PathBuf)>,
}

impl Default for ResizeForm {
    fn default() -> Self {
        Self {
            model: "world/runs/base/final".into(),
            tokenizer: "world/tokenizer-extended/tokenizer.json".into(),
            init: ResizeInit::SubwordMean,
            out: "world/models/base-extended".into(),
            resized: Task::default(),
        }
    }
}

impl ResizeForm {
    pub fn remember(&self, s: &mut VocabularySettings) {
        s.resize_model = Some(self.model.clone());
        s.resize_tokenizer = Some(self.tokenizer.clone());
        s.resize_out = Some(self.out.clone());
    }

    pub fn restore(&mut self, s: &VocabularySettings) {
        settings::recall(&s.resize_model, &mut self.model);
        settings::recall(&s.resize_tokenizer, &mut self.tokenizer);
        settings::recall(&s.resize_out, &mut self.out);
    }

    pub fn busy(&self) -> bool {
        self.resized.is_running()
    }

    /// New rows for the new ids, old rows untouched; `busy` while other work runs.
    pub fn ui(&mut self, ui: &mut egui::Ui, busy: bool) {
        self.resized.poll();
        ui.label(RichText::new("Resize a model").strong());
        ui.label(
            RichText::new(
                "Grows the embedding and LM head of an HF model to the extended tokenizer; on \
                 old tokens the resized model computes exactly what it did.",
            )
            .weak(),
        );
        egui::Grid::new("vocab-resize")
            .num_columns(2)
            .show(ui, |ui| {
                ui.label("model");
                path_field(
                    ui,
                    "model to resize",
                    &mut self.model,
                    PathKind::Folder,
                    420.0,
                );
                ui.end_row();
                ui.label("extended tokenizer");
                path_field(
                    ui,
                    "extended tokenizer",
                    &mut self.tokenizer,
                    PathKind::Json,
                    420.0,
                );
                ui.end_row();
                ui.label("new rows start as");
                ui.horizontal(|ui| {
                    for (init, name) in [
                        (ResizeInit::SubwordMean, "mean of their pieces' rows"),
                        (ResizeInit::Mean, "mean of all old rows"),
                        (ResizeInit::Random, "random (old rows' std)"),
                    ] {
                        ui.radio_value(&mut self.init, init, name);
                    }
                });
                ui.end_row();
                ui.label("write to");
                path_field(
                    ui,
                    "resized model output",
                    &mut self.out,
                    PathKind::Folder,
                    420.0,
                );
                ui.end_row();
            });
        ui.horizontal(|ui| {
            if ui.add_enabled(!busy, egui::Button::new("Resize")).clicked() {
                let model = PathBuf::from(self.model.trim());
                let tokenizer = PathBuf::from(self.tokenizer.trim());
                let out = PathBuf::from(self.out.trim());
                let init = self.init;
                self.resized.start("resize", ui.ctx(), move |ctx| {
                    ctx.message("growing the embedding and head");
                    let report = resize_checkpoint(&model, &tokenizer, init, 0, &out)?;
                    Ok((report, out))
                });
            }
            self.resized.status_ui(ui, false);
        });
        self.resized.error_ui(ui);
        if let Some((r, out)) = self.resized.output() {
            ui.label(format!(
                "{} -> {} tokens{}; written to {} (Train continues from it: its first \
                     stage usually trains only the embeddings and head)",
                r.old_vocab,
                r.new_vocab,
                if r.tied_head { ", tied head" } else { "" },
                out.display()
            ));
        }
    }
}
