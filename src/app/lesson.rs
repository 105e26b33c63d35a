//! The Lesson panel: a micro world and a micro model trained in memory while the page draws
//! (the web page's start; on the desktop, the quickest look at training). It starts the core's
//! lesson job and draws its events: the stage, the loss curve, the speed; then puts the world's
//! benchmark to the trained model and shows what it chose, and measures its perplexity on
//! held-out text.

use std::collections::BTreeMap;

use eframe::egui;
use egui_plot::{Legend, Line, Plot, PlotPoints};

use super::running::Task;
use super::{settings, style};
use crate::device::{self, DeviceChoice};
use crate::eval::mcq::{McqReport, McqSet};
use crate::eval::perplexity::PerplexityReport;
use crate::lesson::{self, Lesson, LessonReport, LessonSpec, NEW_TOKENS};
use crate::model::Generation;

/// The trained model's folder (in the browser, the zip's name and its one folder).
pub const MODEL_FOLDER: &str = "lesson-model";

pub struct LessonPanel {
    /// The device the lesson trains on.
    pub device: DeviceChoice,
    seed: u64,
    /// Optimisation steps.
    pub steps: u64,
    task: Task<Lesson>,
    /// Set once per finished lesson, for a face that reports it elsewhere (the web page).
    pub finished: Option<Result<LessonReport, String>>,
    /// Saving the trained model: a folder on the desktop, a download in the browser.
    save: Task<String>,
    /// Where the desktop saves it.
    #[cfg(feature = "native")]
    save_dir: String,
    /// Set once per finished save, for a face that reports it elsewhere (the web page).
    pub saved: Option<Result<String, String>>,
    /// Save the model as soon as the lesson has trained it (the web page's address asks).
    pub save_when_trained: bool,
    /// The world's questions put to the trained model, and its answers.
    ask: Task<(McqSet, McqReport)>,
    /// Questions per subject to ask (none: all).
    pub ask_limit: Option<usize>,
    /// Ask as soon as the lesson has trained the model (the web page's address asks).
    pub ask_when_trained: bool,
    /// Set once per finished benchmark, for a face that reports it elsewhere (the web page).
    pub asked: Option<Result<McqReport, String>>,
    /// A prompt for the trained model to continue, and its continuation.
    pub prompt: String,
    continuation: Task<Generation>,
    /// Continue the prompt as soon as the lesson has trained the model (the address asks).
    pub continue_when_trained: bool,
    /// Set once per finished continuation, for a face that reports it elsewhere.
    pub continued: Option<Result<Generation, String>>,
    /// The trained model's perplexity on the world's held-out documents, per language.
    perplexity: Task<BTreeMap<String, PerplexityReport>>,
    /// Measure it as soon as the lesson has trained the model (the address asks).
    pub perplexity_when_trained: bool,
    /// Set once per finished measurement, for a face that reports it elsewhere.
    pub measured: Option<Result<BTreeMap<String, PerplexityReport>, String>>,
}

impl Default for LessonPanel {
    fn default() -> Self {
        Self {
            device: DeviceChoice::Auto,
            seed: 0,
            steps: LessonSpec::micro(0).steps,
            task: Task::default(),
            finished: None,
            save: Task::default(),
            #[cfg(feature = "native")]
            save_dir: MODEL_FOLDER.to_string(),
            saved: None,
            save_when_trained: false,
            ask: Task::default(),
            ask_limit: None,
            ask_when_trained: false,
            asked: None,
            prompt: String::new(),
            continuation: Task::default(),
            continue_when_trained: false,
            continued: None,
            perplexity: Task::default(),
            perplexity_when_trained: false,
            measured: None,
        }
    }
}

impl LessonPanel {
    /// Starts the lesson with the panel's settings.
    pub fn start(&mut self, ctx: &egui::Context) {
        let mut spec = LessonSpec::micro(self.seed);
        spec.steps = self.steps;
        let choice = self.device;
        self.task.start_async("lesson", ctx, move |job| async move {
            job.message("opening the device");
            let (device, info) = device::select_async(choice).await?;
            lesson::run(spec, device, info.summary(), &job).await
        });
    }

    /// Saves the trained model (when there is one): as an HF checkpoint folder on the desktop,
    /// as that folder zipped into a download in the browser.
    pub fn start_save(&mut self, ctx: &egui::Context) {
        let Some(lesson) = self.task.output().cloned() else {
            return;
        };
        #[cfg(feature = "native")]
        {
            let dir = std::path::PathBuf::from(self.save_dir.trim());
            self.save.start_async("save", ctx, move |job| async move {
                job.message("reading the model back");
                let files = lesson.checkpoint_files().await?;
                crate::model::checkpoint::write_folder(&dir, &files)?;
                Ok(format!("saved {} files in {}", files.len(), dir.display()))
            });
        }
        #[cfg(target_family = "wasm")]
        self.save
            .start_async("download", ctx, move |job| async move {
                job.message("reading the model back");
                let files = lesson.checkpoint_files().await?;
                let zip = crate::archive::zip_folder(MODEL_FOLDER, &files)?;
                let name = format!("{MODEL_FOLDER}.zip");
                super::web::download(&name, &zip, "application/zip")
                    .map_err(|e| crate::Error::InvalidInput(format!("the download: {e}")))?;
                Ok(format!(
                    "downloaded {name}: {} files, {} bytes",
                    files.len(),
                    zip.len()
                ))
            });
    }

    /// Puts the world's English questions to the trained model (when there is one).
    pub fn start_ask(&mut self, ctx: &egui::Context) {
        let Some(lesson) = self.task.output().cloned() else {
            return;
        };
        let limit = self.ask_limit;
        self.ask
            .start_async("benchmark", ctx, move |job| async move {
                let report = lesson.ask(limit, &job).await?;
                Ok((lesson.questions()?, report))
            });
    }

    /// Has the trained model continue the panel's prompt (greedy decoding).
    pub fn start_continue(&mut self, ctx: &egui::Context) {
        let Some(lesson) = self.task.output().cloned() else {
            return;
        };
        if self.prompt.trim().is_empty() {
            self.prompt = lesson.prompt_example.clone();
        }
        let prompt = self.prompt.clone();
        self.continuation
            .start_async("continue", ctx, move |_| async move {
                lesson.continue_text(&prompt, NEW_TOKENS).await
            });
    }

    /// Records the fields worth keeping between sessions.
    pub fn remember(&self, s: &mut settings::Settings) {
        s.lesson.seed = Some(self.seed);
        s.lesson.steps = Some(self.steps);
        s.lesson.device = Some(self.device);
        s.lesson.prompt = Some(self.prompt.clone()).filter(|p| !p.trim().is_empty());
    }

    /// Puts back what [`Self::remember`] recorded.
    pub fn restore(&mut self, s: &settings::Settings) {
        self.seed = s.lesson.seed.unwrap_or(self.seed);
        self.steps = s.lesson.steps.unwrap_or(self.steps).clamp(1, 2000);
        if let Some(device) = s.lesson.device.filter(|d| choices().contains(d)) {
            self.device = device;
        }
        settings::recall(&s.lesson.prompt, &mut self.prompt);
    }

    /// Measures the trained model's perplexity on the world's held-out documents.
    pub fn start_perplexity(&mut self, ctx: &egui::Context) {
        let Some(lesson) = self.task.output().cloned() else {
            return;
        };
        self.perplexity
            .start_async("perplexity", ctx, move |job| async move {
                lesson.perplexity(&job).await
            });
    }

    pub fn ui(&mut self, ui: &mut egui::Ui) {
        if self.perplexity.poll() {
            self.measured = self.perplexity.result().cloned();
        }
        if self.task.poll() {
            self.finished = self.task.result().map(|r| match r {
                Ok(lesson) => Ok(lesson.report.clone()),
                Err(e) => Err(e.clone()),
            });
            if self.task.output().is_some() {
                if std::mem::take(&mut self.save_when_trained) {
                    self.start_save(ui.ctx());
                }
                if std::mem::take(&mut self.ask_when_trained) {
                    self.start_ask(ui.ctx());
                }
                if let Some(lesson) = self.task.output()
                    && self.prompt.trim().is_empty()
                {
                    self.prompt = lesson.prompt_example.clone();
                }
                if std::mem::take(&mut self.continue_when_trained) {
                    self.start_continue(ui.ctx());
                }
                if std::mem::take(&mut self.perplexity_when_trained) {
                    self.start_perplexity(ui.ctx());
                }
            }
        }
        if self.save.poll() {
            self.saved = self.save.result().cloned();
        }
        if self.continuation.poll() {
            self.continued = self.continuation.result().cloned();
        }
        if self.ask.poll() {
            self.asked = self
                .ask
                .result()
                .map(|r| r.clone().map(|(_, report)| report));
        }
        ui.heading("Lesson: a micro model, trained here");
        ui.label(
            "Generates a small synthetic world (people and facts told in English and Chinese) and \
             trains a tiny LLaMA on its English text, step by step, while this page keeps drawing.",
        );
        ui.horizontal(|ui| {
            ui.label("seed");
            ui.add(egui::DragValue::new(&mut self.seed))
                .accessible_name("seed");
            ui.label("steps");
            ui.add(egui::DragValue::new(&mut self.steps).range(1..=2000))
                .accessible_name("steps");
            egui::ComboBox::from_label("device")
                .selected_text(self.device.to_string())
                .show_ui(ui, |ui| {
                    for choice in choices() {
                        ui.selectable_value(&mut self.device, choice, choice.to_string());
                    }
                });
            let running = self.task.is_running();
            if ui
                .add_enabled(!running, egui::Button::new("Train"))
                .clicked()
            {
                self.start(ui.ctx());
            }
            self.task.status_ui(ui, true);
        });
        self.task.error_ui(ui);
        let (losses, norms) = match (self.task.running(), self.task.output()) {
            (Some(r), _) => (series(&r.metrics, "loss"), series(&r.metrics, "grad_norm")),
            (None, Some(lesson)) => (
                indexed(&lesson.report.losses),
                indexed(&lesson.report.grad_norms),
            ),
            _ => (Vec::new(), Vec::new()),
        };
        if let Some(report) = self.task.output().map(|l| &l.report) {
            let first = report.losses.first().copied().unwrap_or(f64::NAN);
            let last = report.losses.last().copied().unwrap_or(f64::NAN);
            ui.label(format!(
                "{} steps on {}: loss {first:.3} -> {last:.3}; {:.0} tokens/s; {} parameters, \
                 {}-token vocabulary, {} English tokens; {:.1} s in all",
                report.losses.len(),
                report.device,
                report.tokens_per_second,
                report.parameters,
                report.vocab_size,
                report.corpus_tokens,
                report.seconds,
            ));
            self.save_ui(ui);
            self.continue_ui(ui);
            self.ask_ui(ui);
            self.perplexity_ui(ui);
        }
        if !losses.is_empty() {
            Plot::new("lesson curves")
                .legend(Legend::default())
                .height(280.0)
                .x_axis_label("step")
                .show(ui, |plot| {
                    plot.line(Line::new("loss", PlotPoints::from(losses)).color(style::EMPHASIS));
                    plot.line(Line::new("gradient norm", PlotPoints::from(norms)));
                });
        }
    }
}

impl LessonPanel {
    /// A prompt for the model to continue, and what it wrote.
    fn continue_ui(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            ui.add(egui::TextEdit::singleline(&mut self.prompt).desired_width(320.0))
                .accessible_name("prompt");
            let idle = !self.continuation.is_running() && !self.task.is_running();
            if ui
                .add_enabled(idle, egui::Button::new("Continue"))
                .on_hover_text(format!(
                    "the trained model writes {NEW_TOKENS} more tokens (greedy decoding)"
                ))
                .clicked()
            {
                self.start_continue(ui.ctx());
            }
            self.continuation.status_ui(ui, true);
            if let Some(generation) = self.continuation.output() {
                ui.label(egui::RichText::new(format!("…{}", generation.text)).strong());
            }
        });
        self.continuation.error_ui(ui);
    }

    /// The button that measures perplexity on held-out text, and what it measured.
    fn perplexity_ui(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            let idle = !self.perplexity.is_running() && !self.task.is_running();
            if ui
                .add_enabled(idle, egui::Button::new("Measure perplexity"))
                .on_hover_text(
                    "on the world's held-out documents: English, which the model trained on \
                     (other documents), and Chinese, which it never saw",
                )
                .clicked()
            {
                self.start_perplexity(ui.ctx());
            }
            self.perplexity.status_ui(ui, true);
        });
        self.perplexity.error_ui(ui);
        let Some(measured) = self.perplexity.output() else {
            return;
        };
        egui::Grid::new("lesson-perplexity")
            .striped(true)
            .show(ui, |ui| {
                for h in [
                    "held-out documents",
                    "tokens",
                    "perplexity",
                    "bits per byte [95%]",
                ] {
                    ui.strong(h);
                }
                ui.end_row();
                for (lang, p) in measured {
                    ui.label(format!("{lang} ({})", p.sequences));
                    ui.label(p.tokens.to_string());
                    ui.label(format!("{:.2}", p.perplexity));
                    ui.label(format!(
                        "{:.3} [{:.3}, {:.3}]",
                        p.bits_per_byte,
                        p.bits_per_byte_interval.low,
                        p.bits_per_byte_interval.high
                    ));
                    ui.end_row();
                }
            });
    }

    /// The button that asks the world's questions, and the model's answers.
    fn ask_ui(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            let idle = !self.ask.is_running() && !self.task.is_running();
            if ui
                .add_enabled(idle, egui::Button::new("Ask the benchmark"))
                .on_hover_text(
                    "the world's English multiple-choice questions, scored by the likeliest \
                     answer letter and by the likeliest option text",
                )
                .clicked()
            {
                self.start_ask(ui.ctx());
            }
            self.ask.status_ui(ui, true);
        });
        self.ask.error_ui(ui);
        let Some((set, report)) = self.ask.output() else {
            return;
        };
        let summary: Vec<String> = report
            .modes
            .iter()
            .map(|m| {
                let right = m.items.iter().filter(|i| i.predicted == i.answer).count();
                format!(
                    "{} scoring {right} of {} right ({:.0}%)",
                    m.scoring.name(),
                    m.items.len(),
                    100.0 * m.accuracy.value
                )
            })
            .collect();
        let chance = report.modes.first().map_or(0.0, |m| m.chance);
        ui.label(format!(
            "{}; chance {:.0}%. Facts told only in English and in both languages were in the \
             training text; never-seen facts were not, so they stay near chance.",
            summary.join(", "),
            100.0 * chance
        ));
        super::knowledge::accuracy_grid(ui, "lesson-accuracy", report);
        #[cfg(target_family = "wasm")]
        if let Some(Err(e)) = super::web::download_button(
            ui,
            "Download the report (JSON)",
            "download benchmark report",
            "benchmark-report.json",
            "application/json",
            || serde_json::to_vec_pretty(report).unwrap_or_default(),
        ) {
            super::web::publish("download_error", &e.into());
        }
        egui::CollapsingHeader::new("the questions and the model's choices")
            .id_salt("lesson-questions")
            .show(ui, |ui| {
                egui::ScrollArea::vertical()
                    .max_height(260.0)
                    .show(ui, |ui| {
                        super::knowledge::choices_grid(ui, "lesson-choices", set, report);
                    });
            });
    }

    /// The button that saves (or downloads) the trained model, and how the last save went.
    fn save_ui(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            let idle = !self.save.is_running() && !self.task.is_running();
            #[cfg(feature = "native")]
            let (label, ready) = {
                ui.label("save the model in");
                super::files::path_field(
                    ui,
                    "model folder",
                    &mut self.save_dir,
                    super::files::PathKind::Folder,
                    260.0,
                );
                ("Save the model", !self.save_dir.trim().is_empty())
            };
            #[cfg(not(feature = "native"))]
            let (label, ready) = ("Download the model (.zip)", true);
            if ui
                .add_enabled(idle && ready, egui::Button::new(label))
                .on_hover_text(
                    "the trained model with the world's tokenizer, as an HF checkpoint folder",
                )
                .clicked()
            {
                self.start_save(ui.ctx());
            }
            self.save.status_ui(ui, false);
            if let Some(done) = self.save.output() {
                ui.label(done);
            }
        });
        self.save.error_ui(ui);
    }
}

/// The devices worth offering where the app runs.
fn choices() -> Vec<DeviceChoice> {
    match cfg!(target_family = "wasm") {
        true => vec![DeviceChoice::Auto, DeviceChoice::Webgpu, DeviceChoice::Cpu],
        false => vec![DeviceChoice::Auto, DeviceChoice::Wgpu, DeviceChoice::Cpu],
    }
}

fn series(metrics: &[(String, u64, f64)], name: &str) -> Vec<[f64; 2]> {
    metrics
        .iter()
        .filter(|(n, _, _)| n == name)
        .map(|(_, step, v)| [*step as f64, *v])
        .collect()
}

fn indexed(values: &[f64]) -> Vec<[f64; 2]> {
    values
        .iter()
        .enumerate()
        .map(|(i, v)| [(i + 1) as f64, *v])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::LessonPanel;
    use crate::app::testing::{click, harness, wait_for};
    use crate::device::DeviceChoice;

    #[test]
    fn its_settings_come_back_and_out_of_range_ones_do_not() {
        let panel = LessonPanel {
            seed: 3,
            steps: 77,
            device: DeviceChoice::Cpu,
            prompt: "Where".into(),
            ..LessonPanel::default()
        };
        let mut s = crate::app::settings::Settings::default();
        panel.remember(&mut s);
        let text = serde_json::to_string(&s).unwrap();
        let mut back: crate::app::settings::Settings = serde_json::from_str(&text).unwrap();
        let mut again = LessonPanel::default();
        again.restore(&back);
        assert_eq!(
            (again.seed, again.steps, again.device, again.prompt.as_str()),
            (3, 77, DeviceChoice::Cpu, "Where")
        );
        back.lesson.steps = Some(1_000_000);
        back.lesson.device = Some(DeviceChoice::Webgpu);
        let mut again = LessonPanel::default();
        again.restore(&back);
        assert_eq!((again.steps, again.device), (2000, DeviceChoice::Auto));
    }

    #[test]
    fn the_lesson_trains_in_the_panel_and_draws_its_curve() {
        let panel = LessonPanel {
            device: DeviceChoice::Cpu,
            steps: 12,
            ..LessonPanel::default()
        };
        let mut h = harness(|ui, panel: &mut LessonPanel| panel.ui(ui), panel);
        click(&mut h, "Train");
        wait_for(&mut h, "12 steps on cpu", 120);

        // The trained model saved as an HF folder, from the panel.
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("trained");
        h.state_mut().save_dir = folder.display().to_string();
        click(&mut h, "Save the model");
        wait_for(&mut h, "saved 4 files", 60);
        let checkpoint = crate::model::Checkpoint::open(&folder).unwrap();
        assert_eq!(checkpoint.config.hidden_size, 32);
        assert!(folder.join("tokenizer.json").is_file());

        // It continues the world's first words.
        click(&mut h, "Continue");
        for _ in 0..3000 {
            h.step();
            if h.state().continued.is_some() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let continued = h.state_mut().continued.take().unwrap().unwrap();
        assert!(continued.ids.len() > continued.prompt_len);
        assert!(!h.state().prompt.is_empty());

        // The world's questions put to it, with what it chose.
        h.state_mut().ask_limit = Some(2);
        click(&mut h, "Ask the benchmark");
        wait_for(&mut h, "letter scoring", 60);
        let asked = h.state_mut().asked.take().unwrap().unwrap();
        assert_eq!(asked.questions, 6, "2 questions in each of 3 subjects");
        wait_for(&mut h, "never_seen", 5);

        // Its perplexity on the world's held-out documents, per language.
        click(&mut h, "Measure perplexity");
        wait_for(&mut h, "bits per byte", 60);
        let measured = h.state_mut().measured.take().unwrap().unwrap();
        assert_eq!(measured.keys().collect::<Vec<_>>(), ["en", "zh"]);
        wait_for(&mut h, "zh (10)", 5);
    }
}
