//! The Model panel: a checkpoint directory described from its files, and the compute device.

use super::files::{PathKind, path_field};
use super::settings;
use eframe::egui;

use super::running::Task;
use super::style;
use crate::device::check::{Check, known_answers};
use crate::device::{self, DeviceChoice, DeviceInfo};
use crate::model::loaded::{ModelInfo, describe};

#[derive(Default)]
pub struct ModelPanel {
    dir: String,
    info: Option<Result<ModelInfo, String>>,
    device: Option<Result<DeviceInfo, String>>,
    /// The doctor's checks of the chosen device: what it is and how each check went.
    checks: Task<(DeviceInfo, Vec<Check>)>,
    /// The device Start, Evaluate and Playground run on (Train has its own choice).
    pub choice: DeviceChoice,
}

impl ModelPanel {
    /// Records the fields worth keeping between sessions.
    pub fn remember(&self, s: &mut settings::Settings) {
        s.model.dir = Some(self.dir.clone());
        s.model.device = Some(self.choice);
    }

    /// Puts back what [`Self::remember`] recorded.
    pub fn restore(&mut self, s: &settings::Settings) {
        settings::recall(&s.model.dir, &mut self.dir);
        if let Some(choice) = s.model.device {
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
                 a GPU when wgpu finds one that computes right, else the CPU. Check runs the \
                 doctor's known-answer checks on the choice.",
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
            let choice = self.choice;
            if ui
                .add_enabled(!self.checks.is_running(), egui::Button::new("Check"))
                .on_hover_text("sums and a small model against the CPU backend (beyond doctor)")
                .clicked()
            {
                self.checks.start("doctor", ui.ctx(), move |ctx| {
                    ctx.message(format!("checking {choice}"));
                    let (device, info) = device::select_unchecked(choice)?;
                    Ok((info, known_answers(&device)))
                });
            }
            self.checks.status_ui(ui, false);
        });
        self.checks.poll();
        self.checks.error_ui(ui);
        if let Some((info, checks)) = self.checks.output() {
            ui.label(info.summary());
            egui::Grid::new("device checks")
                .striped(true)
                .show(ui, |ui| {
                    for c in checks {
                        match c.passed {
                            true => ui.colored_label(style::GOOD, "pass"),
                            false => ui.colored_label(style::BAD, "FAIL"),
                        };
                        ui.label(&c.name);
                        ui.label(&c.detail);
                        ui.end_row();
                    }
                });
            if checks.iter().any(|c| !c.passed) {
                style::error(
                    ui,
                    "This device computes wrong results: training or evaluating on it would be \
                     wrong, and beyond refuses it. Choose the CPU, or update the driver.",
                );
            }
        }
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

    /// The doctor's checks, run from the page on the CPU backend: every one passes.
    #[test]
    fn checks_the_cpu_from_the_page() {
        let panel = ModelPanel {
            choice: crate::device::DeviceChoice::Cpu,
            ..ModelPanel::default()
        };
        let mut h = harness(|ui, p: &mut ModelPanel| p.ui(ui), panel);
        click(&mut h, "Check");
        wait_for(&mut h, "gradient norms", 120);
        let (_, checks) = h.state().checks.output().expect("the checks ran");
        assert!(checks.iter().all(|c| c.passed), "{checks:?}");
        assert_eq!(checks.len(), 4);
    }

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
