//! The Train page's hand-off: write the manifest's run for LLaMA-Factory (many GPUs, many
//! nodes), and say what runs differently there.

use std::path::{Path, PathBuf};

use eframe::egui::{self, RichText};

use crate::export::{ExportReport, export_llama_factory};
use crate::train::RunConfig;

use super::files::{PathKind, path_field};
use super::running::Task;
use super::style;

#[derive(Default)]
pub struct ExportSection {
    out: String,
    task: Task<ExportReport>,
}

impl ExportSection {
    /// Next to the manifest: `NAME-llama-factory/`.
    fn default_out(manifest: &Path) -> PathBuf {
        let stem = manifest
            .file_stem()
            .map_or("run".into(), |s| s.to_string_lossy().into_owned());
        manifest.with_file_name(format!("{stem}-llama-factory"))
    }

    /// `config` is the manifest as a run reads it (an error says why it cannot be read).
    pub fn ui(
        &mut self,
        ui: &mut egui::Ui,
        manifest: &Path,
        config: impl FnOnce() -> Result<RunConfig, String>,
    ) {
        self.task.poll();
        egui::CollapsingHeader::new("Hand this run to LLaMA-Factory")
            .id_salt("train-export")
            .default_open(false)
            .show(ui, |ui| {
                ui.label(
                    "Writes the starting model, the data and a LLaMA-Factory YAML with these \
                     settings, for `llamafactory-cli train` on many GPUs or nodes. Its result \
                     opens here like any model (a LoRA adapter is merged into its base).",
                );
                if self.out.trim().is_empty() {
                    self.out = Self::default_out(manifest).display().to_string();
                }
                let running = self.task.is_running();
                ui.horizontal(|ui| {
                    ui.label("into");
                    path_field(ui, "export folder", &mut self.out, PathKind::Folder, 360.0);
                    if ui
                        .add_enabled(!running, egui::Button::new("Export"))
                        .clicked()
                    {
                        match config() {
                            Err(e) => self.task.set_result(Err(e)),
                            Ok(config) => {
                                let (manifest, out) =
                                    (manifest.to_path_buf(), PathBuf::from(self.out.trim()));
                                self.task.start("export", ui.ctx(), move |ctx| {
                                    export_llama_factory(&config, &manifest, &out, ctx)
                                });
                            }
                        }
                    }
                    self.task.status_ui(ui, false);
                });
                match self.task.result() {
                    Some(Ok(r)) => report(ui, r),
                    Some(Err(e)) => style::error(ui, e),
                    None => {}
                }
            });
    }
}

fn report(ui: &mut egui::Ui, r: &ExportReport) {
    ui.label(format!(
        "{} steps of {} sequences; {} settings mapped; {} data files; RUN.md has the commands",
        r.steps,
        r.global_batch,
        r.plan.keys().count(),
        r.data.train.len() + r.data.heldout.iter().count()
    ));
    ui.label(RichText::new(format!("cd {} && {}", r.out.display(), r.command)).monospace());
    if !r.plan.differences.is_empty() {
        ui.label("Runs differently in LLaMA-Factory:");
        for d in &r.plan.differences {
            ui.label(RichText::new(format!("  {}: {}", d.ours, d.how)).weak());
        }
    }
}
