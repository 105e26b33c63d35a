//! The Train panel: run a training manifest (continued pretraining or instruction tuning) as a
//! job, watch its loss, held-out loss and speed live, stop it (a checkpoint is saved) and resume.

use std::path::PathBuf;

use eframe::egui::{self, RichText};
use egui_plot::{Legend, Line, Plot, PlotPoints};

use crate::device::{self, DeviceChoice};
use crate::train::{
    RunConfig, RunDir, StepMetrics, TrainReport, read_metrics, read_run_history, train,
};

use super::files::{PathKind, path_field};
use super::running::Task;
use super::style;
use super::{settings, train_form};

pub struct TrainPanel {
    manifest: String,
    device: DeviceChoice,
    /// The manifest as written, edited by the settings form.
    form: Option<RunConfig>,
    /// The form differs from the file.
    edited: bool,
    /// Close the form on the next frame (a run started).
    fold_settings: bool,
    form_note: Option<Result<String, String>>,
    /// Steps read from the run's `metrics.jsonl` before this job started.
    history: Vec<StepMetrics>,
    task: Task<TrainReport>,
    note: Option<String>,
    /// Other runs drawn on the same loss plot: (run directory, its steps).
    compared: Vec<(String, Vec<StepMetrics>)>,
    compare_dir: String,
    compare_error: Option<String>,
    export: super::train_export::ExportSection,
}

impl Default for TrainPanel {
    fn default() -> Self {
        Self {
            manifest: "world/recipes/base.toml".into(),
            device: DeviceChoice::Auto,
            form: None,
            edited: false,
            fold_settings: false,
            form_note: None,
            history: Vec::new(),
            task: Task::default(),
            note: None,
            compared: Vec::new(),
            compare_dir: String::new(),
            compare_error: None,
            export: Default::default(),
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
        s.train.manifest = Some(self.manifest.clone());
        s.train.compared = Some(self.compared.iter().map(|(d, _)| d.clone()).collect());
    }

    /// Puts back what [`Self::remember`] recorded.
    pub fn restore(&mut self, s: &settings::Settings) {
        settings::recall(&s.train.manifest, &mut self.manifest);
        if std::path::Path::new(self.manifest.trim()).is_file() {
            self.open_form();
        }
        for dir in s.train.compared.iter().flatten() {
            self.compare_dir.clone_from(dir);
            self.add_comparison();
        }
        self.compare_dir.clear();
        self.compare_error = None;
    }

    fn manifest_path(&self) -> PathBuf {
        PathBuf::from(self.manifest.trim())
    }

    fn config(&self) -> Result<RunConfig, String> {
        RunConfig::from_toml_file(&self.manifest_path()).map_err(|e| e.to_string())
    }

    /// Reads the manifest into the form.
    fn open_form(&mut self) {
        match RunConfig::read_for_editing(&self.manifest_path()) {
            Ok(c) => {
                self.form = Some(c);
                self.edited = false;
                self.form_note = None;
            }
            Err(e) => {
                self.form = None;
                self.form_note = Some(Err(e.to_string()));
            }
        }
    }

    /// Writes the form to the manifest; the file is read back and checked as a run reads it.
    fn save_form(&mut self) -> Result<RunConfig, String> {
        let form = self.form.as_ref().ok_or("no settings to save")?;
        let saved = form.save(&self.manifest_path()).map_err(|e| e.to_string());
        self.form_note = Some(match &saved {
            Ok(c) => {
                self.edited = false;
                Ok(format!(
                    "saved {}: {} steps of {} sequences",
                    self.manifest.trim(),
                    c.total_steps(),
                    c.sequences_per_step()
                ))
            }
            Err(e) => Err(e.clone()),
        });
        saved
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

    /// Shows a run picked elsewhere (the Start page): its manifest in the form when it has
    /// one, otherwise its curves beside this run's.
    pub fn show_run(&mut self, run: super::start::OpenRun) {
        match run.manifest {
            Some(manifest) => {
                self.manifest = manifest.display().to_string();
                self.open_form();
                self.load_history();
            }
            None => {
                self.compare_dir = run.dir.display().to_string();
                self.add_comparison();
            }
        }
    }

    /// Reads another run's `metrics.jsonl` to draw beside this one.
    fn add_comparison(&mut self) {
        let dir = self.compare_dir.trim().to_string();
        // A beyond run, or a run trained elsewhere (an HF Trainer's trainer_state.json).
        self.compare_error = match read_run_history(std::path::Path::new(&dir)) {
            Ok(h) if h.is_empty() => Some(format!(
                "{dir}: no steps recorded (no metrics.jsonl or trainer_state.json)"
            )),
            Ok(h) => {
                self.compared.retain(|(d, _)| *d != dir);
                self.compared.push((dir, h));
                None
            }
            Err(e) => Some(e.to_string()),
        };
    }

    fn start(&mut self, ctx: &egui::Context) {
        if self.edited
            && let Err(e) = self.save_form()
        {
            self.task.set_result(Err(e));
            return;
        }
        match self.config() {
            Err(e) => self.task.set_result(Err(e)),
            Ok(config) => {
                self.load_history();
                let choice = self.device;
                // The plots matter while it runs: fold the form away.
                self.fold_settings = true;
                self.task.start("train", ctx, move |ctx| {
                    let (device, info) = device::select(choice)?;
                    ctx.message(format!("device: {}", info.summary()));
                    let resume = RunDir::new(&config.output).checkpoints().is_dir();
                    train(&config, &device, resume, ctx)
                });
            }
        }
    }

    pub fn ui(&mut self, ui: &mut egui::Ui) {
        if self.task.poll() {
            self.load_history();
        }
        egui::ScrollArea::vertical().show(ui, |ui| self.page(ui));
    }

    fn page(&mut self, ui: &mut egui::Ui) {
        // A manifest that exists opens in the form by itself (once: an error stays shown).
        if self.form.is_none() && self.form_note.is_none() && self.manifest_path().is_file() {
            self.open_form();
        }
        ui.heading("Train");
        ui.label(
            "A run is a TOML manifest: the stage (pretrain or sft), the model, the data and its \
             mixture, the token budget, the optimiser and schedule. The synthetic world writes \
             the study's stages to world/recipes/; the examples in assets/ are commented.",
        );
        let running = self.task.is_running();
        ui.horizontal(|ui| {
            ui.label("manifest");
            if path_field(ui, "manifest", &mut self.manifest, PathKind::Toml, 360.0) {
                self.form = None;
                self.form_note = None;
            }
            if ui
                .add_enabled(!running, egui::Button::new("Open"))
                .clicked()
            {
                self.open_form();
                self.load_history();
            }
            let can_save = !running && self.form.is_some();
            if ui
                .add_enabled(can_save, egui::Button::new("Save"))
                .clicked()
            {
                let _ = self.save_form();
            }
        });
        match &self.form_note {
            Some(Ok(n)) => {
                ui.label(RichText::new(n).weak());
            }
            Some(Err(e)) => {
                style::error(ui, e);
            }
            None => {}
        }
        ui.separator();
        ui.horizontal(|ui| {
            ui.label("device");
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
                })
                .response
                .accessible_name("device");
            if ui
                .add_enabled(!running, egui::Button::new("Start or resume"))
                .clicked()
            {
                self.start(ui.ctx());
            }
            if running && ui.button("Stop (saves a checkpoint)").clicked() {
                self.task.cancel();
            }
            self.task.status_ui(ui, false);
            if ui
                .add_enabled(!running, egui::Button::new("Show run"))
                .clicked()
            {
                self.load_history();
            }
        });
        if let Some(line) = self.live_line() {
            ui.label(line);
        }
        if let Some(n) = &self.note {
            ui.label(RichText::new(n).weak());
        }
        match self.task.result() {
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
                style::error(ui, e);
            }
            None => {}
        }
        if let Some(form) = &mut self.form {
            let title = if self.edited {
                "Settings (edited: saved when the run starts)"
            } else {
                "Settings"
            };
            egui::CollapsingHeader::new(title)
                .id_salt("train-settings")
                .default_open(true)
                .open(std::mem::take(&mut self.fold_settings).then_some(false))
                .show(ui, |ui| {
                    ui.add_enabled_ui(!running, |ui| {
                        if train_form::form(ui, form) {
                            self.edited = true;
                        }
                    });
                });
        }
        let manifest = self.manifest_path();
        self.export.ui(ui, &manifest, || {
            RunConfig::from_toml_file(&manifest).map_err(|e| e.to_string())
        });
        self.comparison(ui);
        self.plots(ui);
    }

    /// Speed, time left and gradient norm from the running job's latest step.
    fn live_line(&self) -> Option<String> {
        let r = self.task.running()?;
        let last = |name: &str| {
            r.metrics
                .iter()
                .rev()
                .find(|(n, _, _)| n == name)
                .map(|(_, _, v)| *v)
        };
        let speed = last("tokens_per_s")?;
        let eta = last("eta_s").unwrap_or(0.0);
        Some(format!(
            "{speed:.0} tokens/s, {} left, gradient norm {:.3}, learning rate {:.3e}",
            duration(eta),
            last("grad_norm").unwrap_or(f64::NAN),
            last("lr").unwrap_or(f64::NAN)
        ))
    }

    fn comparison(&mut self, ui: &mut egui::Ui) {
        egui::CollapsingHeader::new("Compare with other runs")
            .id_salt("train-compare")
            .show(ui, |ui| {
                ui.horizontal(|ui| {
                    ui.label("run directory");
                    path_field(
                        ui,
                        "run directory to compare",
                        &mut self.compare_dir,
                        PathKind::Folder,
                        320.0,
                    );
                    if ui.button("Add to the plot").clicked() {
                        self.add_comparison();
                    }
                });
                if let Some(e) = &self.compare_error {
                    style::error(ui, e);
                }
                let mut remove = None;
                for (i, (dir, steps)) in self.compared.iter().enumerate() {
                    ui.horizontal(|ui| {
                        ui.colored_label(
                            style::TRAINING_SERIES[i % style::TRAINING_SERIES.len()],
                            "■",
                        );
                        ui.label(format!(
                            "{dir}: {} steps, last loss {:.4}",
                            steps.len(),
                            steps.last().map_or(f64::NAN, |m| m.loss)
                        ));
                        if ui.small_button("remove").clicked() {
                            remove = Some(i);
                        }
                    });
                }
                if let Some(i) = remove {
                    self.compared.remove(i);
                }
            });
    }

    /// The history from the file, then what the running job reported after it.
    fn series(&self, name: &str) -> Vec<[f64; 2]> {
        let mut points: Vec<[f64; 2]> = self
            .history
            .iter()
            .filter_map(|m| Some([m.step as f64, metric(m, name)?]))
            .collect();
        let last = points.last().map_or(-1.0, |p| p[0]);
        if let Some(r) = self.task.running() {
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
        if loss.is_empty() && self.compared.is_empty() {
            return;
        }
        let eval = self.series("eval_loss");
        let x_tokens = !self.compared.is_empty();
        // Runs of different batch sizes line up by tokens seen, not by step.
        let by_tokens = |steps: &[StepMetrics], f: &dyn Fn(&StepMetrics) -> Option<f64>| {
            steps
                .iter()
                .filter_map(|m| Some([m.tokens as f64, f(m)?]))
                .collect::<Vec<_>>()
        };
        let this_run = if x_tokens {
            let mut history = self.history.clone();
            history.extend(self.live_steps());
            (
                by_tokens(&history, &|m| Some(m.loss)),
                by_tokens(&history, &|m| m.eval_loss),
            )
        } else {
            (loss, eval)
        };
        Plot::new("loss")
            .height(260.0)
            .legend(Legend::default())
            .x_axis_label(if x_tokens { "tokens seen" } else { "step" })
            .y_axis_label("loss (nats per token)")
            .show(ui, |plot| {
                plot.line(
                    Line::new("training loss", PlotPoints::from(this_run.0)).color(style::EMPHASIS),
                );
                if !this_run.1.is_empty() {
                    plot.line(
                        Line::new("held-out loss", PlotPoints::from(this_run.1))
                            .color(style::EMPHASIS)
                            .style(egui_plot::LineStyle::dashed_loose()),
                    );
                }
                for (i, (dir, steps)) in self.compared.iter().enumerate() {
                    let name = std::path::Path::new(dir)
                        .file_name()
                        .map_or(dir.clone(), |n| n.to_string_lossy().to_string());
                    plot.line(
                        Line::new(name, PlotPoints::from(by_tokens(steps, &|m| Some(m.loss))))
                            .color(style::TRAINING_SERIES[i % style::TRAINING_SERIES.len()]),
                    );
                }
            });
        ui.columns(3, |cols| {
            for (ui, (name, label, colour)) in cols.iter_mut().zip([
                ("lr", "learning rate", style::TRAINING_SERIES[3]),
                ("grad_norm", "gradient norm", style::TRAINING_SERIES[2]),
                ("tokens_per_s", "tokens/s", style::TRAINING_SERIES[1]),
            ]) {
                Plot::new(name)
                    .height(140.0)
                    .x_axis_label("step")
                    .y_axis_label(label)
                    .show(ui, |plot| {
                        plot.line(
                            Line::new(label, PlotPoints::from(self.series(name))).color(colour),
                        )
                    });
            }
        });
    }

    /// The running job's steps after the recorded history, as whole records.
    fn live_steps(&self) -> Vec<StepMetrics> {
        let Some(r) = self.task.running() else {
            return Vec::new();
        };
        let after = self.history.last().map_or(0, |m| m.step);
        let mut steps: Vec<StepMetrics> = Vec::new();
        for (name, step, value) in &r.metrics {
            if *step <= after {
                continue;
            }
            if steps.last().is_none_or(|m| m.step != *step) {
                steps.push(StepMetrics {
                    step: *step,
                    tokens: 0,
                    loss: f64::NAN,
                    lr: 0.0,
                    grad_norm: 0.0,
                    tokens_per_s: 0.0,
                    eta_s: 0.0,
                    eval_loss: None,
                });
            }
            let m = steps.last_mut().expect("pushed above");
            match name.as_str() {
                "loss" => m.loss = *value,
                "tokens" => m.tokens = *value as u64,
                "eval_loss" => m.eval_loss = Some(*value),
                _ => {}
            }
        }
        steps
    }
}

fn metric(m: &StepMetrics, name: &str) -> Option<f64> {
    match name {
        "loss" => Some(m.loss),
        "eval_loss" => m.eval_loss,
        "lr" => Some(m.lr),
        "grad_norm" => Some(m.grad_norm),
        "tokens_per_s" => Some(m.tokens_per_s),
        _ => None,
    }
}

/// Seconds as "1 h 02 min", "3 min 20 s" or "12 s".
fn duration(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min {:02} s", s / 60, s % 60),
        _ => format!("{} h {:02} min", s / 3600, (s % 3600) / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::TrainPanel;
    use crate::app::testing::{click, harness, snapshot, wait_for};
    use crate::train::RunConfig;

    #[test]
    fn edits_the_manifest_starts_shows_the_loss_and_stops_with_a_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let mut spec = crate::world::WorldSpec::new(5).unwrap();
        spec.people = 12;
        crate::study::make_world(spec, dir.path(), &mut |_| {}).unwrap();
        let manifest = dir.path().join("recipes/base.toml");
        let panel = TrainPanel {
            manifest: manifest.display().to_string(),
            device: crate::device::DeviceChoice::Cpu,
            ..TrainPanel::default()
        };
        let mut h = harness(|ui, p: &mut TrainPanel| p.ui(ui), panel);
        click(&mut h, "Open");
        wait_for(&mut h, "Mixture", 5);
        // The form's fields are the manifest's; an edit is saved when the run starts.
        let form = h.state().form.clone().unwrap();
        let written = RunConfig::read_for_editing(&manifest).unwrap();
        assert_eq!(form, written);
        let budget = form.budget.tokens;
        h.state_mut().form.as_mut().unwrap().budget.tokens = budget / 2;
        h.state_mut().edited = true;
        // A budget below one batch is refused in place, naming the manifest; nothing runs.
        let mut tiny = form.clone();
        tiny.budget.tokens = 1;
        let kept = h.state_mut().form.replace(tiny).unwrap();
        click(&mut h, "Save");
        wait_for(&mut h, "smaller than one batch", 5);
        assert!(!h.state().task.is_running());
        h.state_mut().form = Some(kept);
        click(&mut h, "Start or resume");
        assert!(h.state().task.is_running(), "{:?}", h.state().task.result());
        assert_eq!(
            RunConfig::read_for_editing(&manifest)
                .unwrap()
                .budget
                .tokens,
            budget / 2
        );
        // A few steps in, the loss curve has points.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        while h.state().series("loss").len() < 3 {
            assert!(std::time::Instant::now() < deadline, "no loss reported");
            h.step();
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        wait_for(&mut h, "tokens/s,", 30);
        assert!(h.state().live_steps().iter().all(|m| m.tokens > 0));
        click(&mut h, "Stop (saves a checkpoint)");
        wait_for(&mut h, "Stopped", 120);
        assert!(dir.path().join("runs/base/checkpoints").is_dir());
        // The stopped run, drawn beside itself as another run; a folder with no run says so.
        click(&mut h, "Compare with other runs");
        h.state_mut().compare_dir = dir.path().join("runs/base").display().to_string();
        h.state_mut().add_comparison();
        assert_eq!(h.state().compared.len(), 1);
        assert!(h.state().compared[0].1.len() >= 3);
        h.state_mut().compare_dir = dir.path().display().to_string();
        h.state_mut().add_comparison();
        assert!(
            h.state()
                .compare_error
                .as_ref()
                .unwrap()
                .contains("no steps recorded")
        );
        wait_for(&mut h, "no steps recorded", 5);
    }

    #[test]
    fn exports_the_manifest_for_llama_factory() {
        let dir = tempfile::tempdir().unwrap();
        let mut spec = crate::world::WorldSpec::new(6).unwrap();
        spec.people = 12;
        crate::study::make_world(spec, dir.path(), &mut |_| {}).unwrap();
        let panel = TrainPanel {
            manifest: dir.path().join("recipes/base.toml").display().to_string(),
            ..TrainPanel::default()
        };
        let mut h = harness(|ui, p: &mut TrainPanel| p.ui(ui), panel);
        // The settings form folded, so the section is on screen.
        wait_for(&mut h, "Mixture", 5);
        h.state_mut().fold_settings = true;
        h.step();
        click(&mut h, "Hand this run to LLaMA-Factory");
        wait_for(&mut h, "Writes the starting model", 5);
        click(&mut h, "Export");
        wait_for(&mut h, "settings mapped", 60);
        let out = dir.path().join("recipes/base-llama-factory");
        assert!(out.join("llama_factory.yaml").is_file());
        // A fresh model is written as the run would start it.
        assert!(out.join("model/model.safetensors").is_file());
        assert!(out.join("model/tokenizer.json").is_file());
    }

    /// The settings form of the commented example manifest, as drawn (wgpu).
    #[test]
    fn snapshot_of_the_settings_form() {
        let panel = TrainPanel {
            manifest: "assets/pretrain-from-scratch.toml".into(),
            ..TrainPanel::default()
        };
        let mut h = harness(|ui, p: &mut TrainPanel| p.ui(ui), panel);
        wait_for(&mut h, "Mixture", 5);
        assert_eq!(h.state().form.as_ref().unwrap().data.corpora.len(), 2);
        snapshot(&mut h, "train-settings");
    }
}
