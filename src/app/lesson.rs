//! The Lesson panel: a micro world and a micro model trained in memory while the page draws
//! (the web page's start; on the desktop, the quickest look at training). It starts the core's
//! lesson job and draws its events: the stage, the loss curve, the speed.

use eframe::egui;
use egui_plot::{Legend, Line, Plot, PlotPoints};

use super::running::Task;
use super::style;
use crate::device::{self, DeviceChoice};
use crate::lesson::{self, LessonReport, LessonSpec};

pub struct LessonPanel {
    /// The device the lesson trains on.
    pub device: DeviceChoice,
    seed: u64,
    /// Optimisation steps.
    pub steps: u64,
    task: Task<LessonReport>,
    /// Set once per finished lesson, for a face that reports it elsewhere (the web page).
    pub finished: Option<Result<LessonReport, String>>,
}

impl Default for LessonPanel {
    fn default() -> Self {
        Self {
            device: DeviceChoice::Auto,
            seed: 0,
            steps: LessonSpec::micro(0).steps,
            task: Task::default(),
            finished: None,
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

    pub fn ui(&mut self, ui: &mut egui::Ui) {
        if self.task.poll() {
            self.finished = self.task.result().cloned();
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
            (None, Some(report)) => (indexed(&report.losses), indexed(&report.grad_norms)),
            _ => (Vec::new(), Vec::new()),
        };
        if let Some(report) = self.task.output() {
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
    fn the_lesson_trains_in_the_panel_and_draws_its_curve() {
        let panel = LessonPanel {
            device: DeviceChoice::Cpu,
            steps: 12,
            ..LessonPanel::default()
        };
        let mut h = harness(|ui, panel: &mut LessonPanel| panel.ui(ui), panel);
        click(&mut h, "Train");
        wait_for(&mut h, "12 steps on cpu", 120);
    }
}
