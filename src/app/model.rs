//! The Model panel: a checkpoint directory described from its files, and the compute device.

use super::files::{PathKind, path_field};
use super::settings;
use eframe::egui;

use super::style;
use beyond::device::{self, DeviceChoice, DeviceInfo};
use beyond::model::loaded::{ModelInfo, describe};

#[derive(Default)]
pub struct ModelPanel {
    dir: String,
    info: Option<Result<ModelInfo, String>>,
    device: Option<Result<DeviceInfo, String>>,
    /// The device Start, Evaluate and Playground run on (Train has its own choice).
    pub choice: DeviceChoice,
}

impl ModelPanel {
    /// Records the fields worth keeping between sessions.
    pub fn remember(&self, s: &mut settings::Settings) {
        settings::keep(s, "model.dir", &self.dir);
        settings::keep(s, "model.device", &self.choice.to_string());
    }

    /// Puts back what [`Self::remember`] recorded.
    pub fn restore(&mut self, s: &settings::Settings) {
        settings::recall(s, "model.dir", &mut self.dir);
        if let Some(choice) = s.get("model.device").and_then(|d| d.parse().ok()) {
            self.choice = choice;
        }
    }

    /// Describes the checkpoint in `dir` from its files.
    pub fn open(&mut self, dir: &std::path::Path) {
        self.dir = dir.display().to_string();
        self.info = Some(describe(dir).map_err(|e| e.to_string()));
    }

    pub fn ui(&mut self, ui: &mut egui::Ui) {
        ui.heading("Model");
        ui.horizontal(|ui| {
            ui.label("HF model directory");
            path_field(
                ui,
                "HF model directory",
                &mut self.dir,
                PathKind::Folder,
                420.0,
            );
            if ui.button("Describe").clicked() {
                self.info = Some(
                    describe(std::path::Path::new(self.dir.trim())).map_err(|e| e.to_string()),
                );
            }
            let world = std::path::Path::new("world/runs/base/final");
            if ui
                .button("The world's base model")
                .on_hover_text("world/runs/base/final, trained from the Start page")
                .clicked()
            {
                self.open(world);
            }
        });
        match &self.info {
            None => {
                ui.label("A directory as transformers writes it: config.json, model.safetensors (or shards), tokenizer.json.");
            }
            Some(Err(e)) => {
                style::error(ui, e);
            }
            Some(Ok(info)) => {
                let a = &info.architecture;
                egui::Grid::new("model-info").striped(true).show(ui, |ui| {
                    let mut row = |k: &str, v: String| {
                        ui.label(k);
                        ui.label(v);
                        ui.end_row();
                    };
                    row(
                        "parameters",
                        format!("{:.2} M", info.parameters as f64 / 1e6),
                    );
                    row(
                        "layers x hidden",
                        format!("{} x {}", a.num_layers, a.hidden_size),
                    );
                    row(
                        "heads / kv heads",
                        format!("{} / {}", a.num_heads, a.num_kv_heads),
                    );
                    row("vocabulary", a.vocab_size.to_string());
                    row("tied head", a.tie_word_embeddings.to_string());
                    row("dtype on disk", format!("{:?}", info.dtype_on_disk));
                    row(
                        "weights in f32",
                        format!("{:.1} MiB", info.memory_f32_bytes as f64 / 1048576.0),
                    );
                    if let Some(t) = &info.tokenizer {
                        row("tokenizer", format!("{} ({} tokens)", t.kind, t.vocab_size));
                    }
                });
            }
        }
        ui.separator();
        ui.heading("Device");
        ui.label(
            egui::RichText::new(
                "Start, Evaluate and Playground run on this choice; Train has its own. Auto takes \
                 a GPU when wgpu finds one and falls back to the CPU.",
            )
            .weak(),
        );
        ui.horizontal(|ui| {
            for choice in [DeviceChoice::Auto, DeviceChoice::Wgpu, DeviceChoice::Cpu] {
                ui.selectable_value(&mut self.choice, choice, choice.to_string());
            }
            if ui.button("Set up").clicked() {
                self.device = Some(
                    device::select(self.choice)
                        .map(|(_, i)| i)
                        .map_err(|e| e.to_string()),
                );
            }
        });
        match &self.device {
            Some(Ok(info)) => {
                ui.label(info.summary());
            }
            Some(Err(e)) => {
                style::error(ui, e);
            }
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ModelPanel;
    use crate::app::testing::{click, fixture_a, harness, snapshot, wait_for};

    #[test]
    fn describes_the_fixture_and_says_what_is_wrong_with_a_folder() {
        let mut panel = ModelPanel::default();
        panel.open(&fixture_a());
        let mut h = harness(|ui, p: &mut ModelPanel| p.ui(ui), panel);
        wait_for(&mut h, "parameters", 5);
        // A folder that is not a model: the error shows in place and the page keeps working.
        h.state_mut().dir = std::env::temp_dir().display().to_string();
        click(&mut h, "Describe");
        wait_for(&mut h, "config.json", 5);
    }

    /// The page as drawn (wgpu, Latin text only, so the built-in font draws all of it).
    #[test]
    fn snapshot_of_the_fixture_described() {
        let mut panel = ModelPanel::default();
        panel.open(&fixture_a());
        panel.dir = "tests/fixtures/tiny-llama-a".into();
        let mut h = harness(|ui, p: &mut ModelPanel| p.ui(ui), panel);
        wait_for(&mut h, "parameters", 5);
        snapshot(&mut h, "model-page");
    }
}
