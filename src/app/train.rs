//! The Train panel: run a training manifest (continued pretraining or instruction tuning) as a
//! job, watch its loss, held-out loss and speed live, stop it (a checkpoint is saved) and resume.

use std::path::PathBuf;

use eframe::egui::{self, Color32, RichText};
use egui_plot::{Legend, Line, Plot, PlotPoints};

use beyond::device::{self, DeviceChoice};
use beyond::train::{RunConfig, RunDir, StepMetrics, TrainReport, read_metrics, train};

use super::running::{Running, poll};
use super::settings;

pub struct TrainPanel {
    manifest: String,
    device: DeviceChoice,
    /// Steps read from the run's `metrics.jsonl` before this job started.
    history: Vec<StepMetrics>,
    job: Option<Running<TrainReport>>,
    result: Option<Result<TrainReport, String>>,
    note: Option<String>,
}

impl Default for TrainPanel {
    fn default() -> Self {
        Self {
            manifest: "world/recipes/base.toml".into(),
            device: DeviceChoice::Auto,
            history: Vec::new(),
            job: None,
            result: None,
            note: None,
        }
    }
}

const DEVICES: [(DeviceChoice, &str); 3] = [
    (DeviceChoice::Auto, "auto"),
    (DeviceChoice::Wgpu, "GPU (wgpu)"),
    (DeviceChoice::Cpu, "CPU"),
];

impl TrainPanel {
    /// Records the fields worth keeping between sessions.
    pub fn remember(&self, s: &mut settings::Settings) {
        settings::keep(s, "train.manifest", &self.manifest);
    }

    /// Puts back what [`Self::remember`] recorded.
    pub fn restore(&mut self, s: &settings::Settings) {
        settings::recall(s, "train.manifest", &mut self.manifest);
    }

    fn config(&self) -> Result<RunConfig, String> {
        RunConfig::from_toml_file(&PathBuf::from(self.manifest.trim())).map_err(|e| e.to_string())
    }

    /// Shows what the manifest's run directory already holds.
    fn load_history(&mut self) {
        match self.config() {
            Ok(config) => match read_metrics(&RunDir::new(&config.output).metrics()) {
                Ok(h) => {
                    self.note = Some(format!(
                        "{} steps recorded in {}",
                        h.len(),
                        config.output.display()
                    ));
                    self.history = h;
                }
                Err(e) => self.note = Some(e.to_string()),
            },
            Err(e) => self.note = Some(e),
        }
    }

    pub fn ui(&mut self, ui: &mut egui::Ui) {
        if let Some(r) = poll(&mut self.job) {
            self.result = Some(r);
            self.load_history();
        }
        ui.heading("Train");
        ui.label(
            "A run is a TOML manifest: the stage (pretrain or sft), the model, the data and its \
             mixture, the token budget, the optimiser and schedule. The synthetic world writes \
             the study's stages to world/recipes/.",
        );
        let running = self.job.is_some();
        ui.horizontal(|ui| {
            ui.label("manifest");
            ui.add(egui::TextEdit::singleline(&mut self.manifest).desired_width(360.0));
            egui::ComboBox::from_id_salt("train-device")
                .selected_text(
                    DEVICES
                        .iter()
                        .find(|d| d.0 == self.device)
                        .map_or("auto", |d| d.1),
                )
                .show_ui(ui, |ui| {
                    for (choice, name) in DEVICES {
                        ui.selectable_value(&mut self.device, choice, name);
                    }
                });
            if ui
                .add_enabled(!running, egui::Button::new("Show run"))
                .clicked()
            {
                self.load_history();
            }
        });
        ui.horizontal(|ui| {
            if ui
                .add_enabled(!running, egui::Button::new("Start or resume"))
                .clicked()
            {
                match self.config() {
                    Err(e) => self.result = Some(Err(e)),
                    Ok(config) => {
                        self.load_history();
                        let choice = self.device;
                        self.result = None;
                        self.job = Some(Running::start("train", ui.ctx(), move |ctx| {
                            let (device, info) = device::select(choice)?;
                            ctx.message(format!("device: {}", info.summary()));
                            let resume = RunDir::new(&config.output).checkpoints().is_dir();
                            train(&config, &device, resume, ctx)
                        }));
                    }
                }
            }
            if let Some(r) = &self.job {
                if ui.button("Stop (saves a checkpoint)").clicked() {
                    r.job.cancel();
                }
                ui.spinner();
                ui.label(&r.status);
            }
        });
        if let Some(n) = &self.note {
            ui.label(RichText::new(n).weak());
        }
        match &self.result {
            Some(Ok(t)) => {
                ui.label(format!(
                    "{} steps, {} tokens, final loss {:.4}{}; model in {}",
                    t.steps,
                    t.tokens,
                    t.final_loss.unwrap_or(f64::NAN),
                    t.final_eval_loss
                        .map_or(String::new(), |v| format!(", held-out {v:.4}")),
                    t.final_model.display()
                ));
                for c in &t.corpora {
                    ui.label(format!(
                        "  {}: {} tokens in {} sequences",
                        c.name, c.tokens, c.sequences
                    ));
                }
            }
            Some(Err(e)) if e == "cancelled" => {
                ui.label("Stopped: the last checkpoint is kept; Start or resume goes on from it.");
            }
            Some(Err(e)) => {
                ui.colored_label(Color32::LIGHT_RED, e);
            }
            None => {}
        }
        self.plots(ui);
    }

    /// The history from the file, then what the running job reported after it.
    fn series(&self, name: &str) -> Vec<[f64; 2]> {
        let mut points: Vec<[f64; 2]> = self
            .history
            .iter()
            .filter_map(|m| {
                let v = match name {
                    "loss" => Some(m.loss),
                    "eval_loss" => m.eval_loss,
                    "tokens_per_s" => Some(m.tokens_per_s),
                    _ => None,
                }?;
                Some([m.step as f64, v])
            })
            .collect();
        let last = points.last().map_or(-1.0, |p| p[0]);
        if let Some(r) = &self.job {
            points.extend(
                r.metrics
                    .iter()
                    .filter(|(n, step, _)| n == name && *step as f64 > last)
                    .map(|(_, step, v)| [*step as f64, *v]),
            );
        }
        points
    }

    fn plots(&self, ui: &mut egui::Ui) {
        let loss = self.series("loss");
        if loss.is_empty() {
            return;
        }
        let eval = self.series("eval_loss");
        Plot::new("loss")
            .height(260.0)
            .legend(Legend::default())
            .x_axis_label("step")
            .y_axis_label("loss (nats per token)")
            .show(ui, |plot| {
                plot.line(
                    Line::new("training loss", PlotPoints::from(loss))
                        .color(Color32::from_rgb(80, 160, 230)),
                );
                if !eval.is_empty() {
                    plot.line(
                        Line::new("held-out loss", PlotPoints::from(eval))
                            .color(Color32::from_rgb(230, 120, 60)),
                    );
                }
            });
        let speed = self.series("tokens_per_s");
        Plot::new("speed")
            .height(120.0)
            .x_axis_label("step")
            .y_axis_label("tokens/s")
            .show(ui, |plot| {
                plot.line(
                    Line::new("tokens/s", PlotPoints::from(speed))
                        .color(Color32::from_rgb(120, 190, 90)),
                )
            });
    }
}

#[cfg(test)]
mod tests {
    use super::TrainPanel;
    use crate::app::testing::{click, harness, wait_for};

    #[test]
    fn starts_shows_the_loss_and_stops_with_a_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let mut spec = beyond::world::WorldSpec::new(5).unwrap();
        spec.people = 12;
        let world = beyond::world::generate(spec, &mut |_| {}).unwrap();
        beyond::world::write(&world, dir.path()).unwrap();
        let panel = TrainPanel {
            manifest: dir.path().join("recipes/base.toml").display().to_string(),
            device: beyond::device::DeviceChoice::Cpu,
            ..TrainPanel::default()
        };
        let mut h = harness(|ui, p: &mut TrainPanel| p.ui(ui), panel);
        click(&mut h, "Start or resume");
        wait_for(&mut h, "loss", 120);
        // A few steps in, the loss curve has points.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        while h.state().series("loss").len() < 3 {
            assert!(std::time::Instant::now() < deadline, "no loss reported");
            h.step();
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        click(&mut h, "Stop (saves a checkpoint)");
        wait_for(&mut h, "Stopped", 120);
        assert!(dir.path().join("runs/base/checkpoints").is_dir());
    }
}
