//! The Playground in the web page: a model of the user's own, its HF folder's files given
//! through the browser's file picker or dropped on the page (`config.json`, the `.safetensors`
//! weights, `tokenizer.json`), loaded on the page's device; it continues a prompt (greedy) and
//! is measured on a built-in text (perplexity, bits per byte). The desktop's Playground and
//! Evaluate pages do this, and more, with models in folders.

use std::path::Path;

use eframe::egui;

use super::arrivals::Arrivals;
use super::running::Task;
use super::samples::SAMPLES;
use crate::device::{self, DeviceChoice};
use crate::eval::perplexity::{PerplexityOptions, PerplexityReport, perplexity_async};
use crate::model::generate::generate_async;
use crate::model::{Checkpoint, Generation, Llama, SamplingConfig, TextTokenizer};

/// A model loaded in the page.
#[derive(Clone)]
pub struct Opened {
    model: Llama,
    tokenizer: TextTokenizer,
    summary: serde_json::Value,
}

pub struct PageModelPanel {
    pub device: DeviceChoice,
    arrivals: Arrivals,
    /// The files given so far: (name, bytes), one per name.
    files: Vec<(String, Vec<u8>)>,
    opened: Task<Opened>,
    pub prompt: String,
    pub new_tokens: usize,
    continuation: Task<Generation>,
    /// The built-in text perplexity is measured on (a language code).
    pub text: String,
    perplexity: Task<PerplexityReport>,
    /// Continue the prompt and measure the text as soon as a model is loaded (the address asks).
    pub run_when_loaded: bool,
    /// Measure the text once the continuation is in.
    measure_next: bool,
    /// Set when a job finishes, for the page to report (`window.beyond.model`).
    pub finished: bool,
}

impl Default for PageModelPanel {
    fn default() -> Self {
        Self {
            device: DeviceChoice::Auto,
            arrivals: Arrivals::default(),
            files: Vec::new(),
            opened: Task::default(),
            prompt: "All human beings are".into(),
            new_tokens: 24,
            continuation: Task::default(),
            text: "en".into(),
            perplexity: Task::default(),
            run_when_loaded: false,
            measure_next: false,
            finished: false,
        }
    }
}

/// A task's error, if it failed.
fn error_of<T: Send + 'static>(task: &Task<T>) -> Option<String> {
    task.result().and_then(|r| r.as_ref().err().cloned())
}

/// What the files must include before a model can load.
const NEEDED: [&str; 3] = ["config.json", ".safetensors", "tokenizer.json"];

impl PageModelPanel {
    /// What the page found: the model, its continuation and perplexity, and any error.
    pub fn report(&self) -> serde_json::Value {
        serde_json::json!({
            "files": self.files.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
            "model": self.opened.output().map(|o| o.summary.clone()),
            "continuation": self.continuation.output(),
            "text": self.text,
            "perplexity": self.perplexity.output(),
            "errors": {
                "open": error_of(&self.opened),
                "continuation": error_of(&self.continuation),
                "perplexity": error_of(&self.perplexity),
            },
        })
    }

    /// Whether the files given hold what a model needs.
    fn complete(&self) -> bool {
        NEEDED
            .iter()
            .all(|n| self.files.iter().any(|(name, _)| name.ends_with(n)))
    }

    fn take_files(&mut self, ctx: &egui::Context) {
        self.arrivals.take_dropped(ctx, |_| 0);
        let arrived = self.arrivals.take();
        if arrived.is_empty() {
            return;
        }
        for (_, name, bytes) in arrived {
            let name = name.rsplit(['/', '\\']).next().unwrap_or(&name).to_string();
            self.files.retain(|(n, _)| *n != name);
            match bytes {
                Ok(b) => self.files.push((name, b)),
                Err(e) => self.opened.set_result(Err(format!("{name}: {e}"))),
            }
        }
        if self.complete() && !self.opened.is_running() {
            self.open(ctx);
        }
    }

    /// Asks the browser for the model's files (its picker, through rfd, several at once).
    fn pick(&self, ctx: &egui::Context) {
        let dialog = rfd::AsyncFileDialog::new()
            .set_title("an HF model's config.json, .safetensors and tokenizer.json")
            .add_filter("model files", &["json", "safetensors"]);
        self.arrivals.pick(0, dialog, true, ctx);
    }

    /// Loads the model from the files given, on the panel's device.
    fn open(&mut self, ctx: &egui::Context) {
        let (files, choice) = (self.files.clone(), self.device);
        self.continuation = Task::default();
        self.perplexity = Task::default();
        self.opened.start_async("open", ctx, move |job| async move {
            job.message("reading the weights");
            crate::jobs::yield_now().await;
            let (checkpoint, tokenizer) = Checkpoint::from_files(Path::new("model"), &files)?;
            let (device, info) = device::select_async(choice).await?;
            let (model, _) = checkpoint.load(&device)?;
            let c = &model.config;
            let summary = serde_json::json!({
                "device": info.summary(),
                "layers": c.num_layers,
                "hidden_size": c.hidden_size,
                "vocab_size": c.vocab_size,
                "parameters": c.num_params(),
                "tokenizer_vocab": tokenizer.vocab_size(),
            });
            Ok(Opened {
                model,
                tokenizer,
                summary,
            })
        });
    }

    fn start_continue(&mut self, ctx: &egui::Context) {
        let Some(opened) = self.opened.output().cloned() else {
            return;
        };
        let (prompt, n) = (self.prompt.clone(), self.new_tokens);
        self.continuation
            .start_async("continue", ctx, move |_| async move {
                let ids = opened.tokenizer.encode_with_bos(&prompt)?;
                generate_async(
                    &opened.model,
                    Some(&opened.tokenizer),
                    &ids,
                    &SamplingConfig::greedy(n),
                    &opened.tokenizer.eos_ids,
                    |_| std::ops::ControlFlow::Continue(()),
                )
                .await
            });
    }

    fn start_perplexity(&mut self, ctx: &egui::Context) {
        let Some(opened) = self.opened.output().cloned() else {
            return;
        };
        let Some(text) = super::samples::sample(&self.text) else {
            return;
        };
        self.perplexity
            .start_async("perplexity", ctx, move |job| async move {
                let options = PerplexityOptions {
                    batch_size: 2,
                    ..PerplexityOptions::default()
                };
                perplexity_async(&opened.model, &opened.tokenizer, text, &options, Some(&job)).await
            });
    }

    pub fn ui(&mut self, ui: &mut egui::Ui) {
        self.take_files(ui.ctx());
        if self.opened.poll() {
            self.finished = true;
            if self.opened.output().is_some() && std::mem::take(&mut self.run_when_loaded) {
                self.start_continue(ui.ctx());
                self.measure_next = true;
            }
        }
        if self.continuation.poll() {
            self.finished = true;
            if std::mem::take(&mut self.measure_next) {
                self.start_perplexity(ui.ctx());
            }
        }
        self.finished |= self.perplexity.poll();
        ui.heading("Playground: a model of your own");
        ui.label(
            "Give the page an HF model's files (config.json, its .safetensors and tokenizer.json): \
             pick them with Open… or drop them here. A model trained on the Lesson page, saved \
             and unzipped, is one.",
        );
        ui.horizontal(|ui| {
            let open = ui
                .button("Open…")
                .on_hover_text("choose the model's files, several at once");
            super::web::publish_control("open model files", open.rect);
            if open.clicked() {
                self.pick(ui.ctx());
            }
            egui::ComboBox::from_label("device")
                .selected_text(self.device.to_string())
                .show_ui(ui, |ui| {
                    for choice in [DeviceChoice::Auto, DeviceChoice::Webgpu, DeviceChoice::Cpu] {
                        ui.selectable_value(&mut self.device, choice, choice.to_string());
                    }
                });
            let ready = self.complete() && !self.opened.is_running();
            if ui.add_enabled(ready, egui::Button::new("Load")).clicked() {
                self.open(ui.ctx());
            }
            self.opened.status_ui(ui, false);
        });
        if !self.files.is_empty() {
            let names: Vec<String> = self
                .files
                .iter()
                .map(|(n, b)| match b.len() {
                    k if k < 1_000_000 => format!("{n} ({:.0} KB)", k as f64 / 1e3),
                    m => format!("{n} ({:.1} MB)", m as f64 / 1e6),
                })
                .collect();
            ui.label(format!("given: {}", names.join(", ")));
        }
        self.opened.error_ui(ui);
        let Some(opened) = self.opened.output() else {
            return;
        };
        let s = &opened.summary;
        ui.label(format!(
            "{} layers, hidden size {}, {} parameters, {}-token vocabulary, on {}",
            s["layers"],
            s["hidden_size"],
            s["parameters"],
            s["vocab_size"],
            s["device"].as_str().unwrap_or("?")
        ));
        ui.separator();
        ui.horizontal(|ui| {
            ui.add(egui::TextEdit::singleline(&mut self.prompt).desired_width(360.0))
                .accessible_name("prompt");
            ui.add(egui::DragValue::new(&mut self.new_tokens).range(1..=512))
                .accessible_name("new tokens");
            ui.label("tokens");
            let idle = !self.continuation.is_running();
            if ui
                .add_enabled(idle, egui::Button::new("Continue"))
                .clicked()
            {
                self.start_continue(ui.ctx());
            }
            self.continuation.status_ui(ui, true);
        });
        self.continuation.error_ui(ui);
        if let Some(g) = self.continuation.output() {
            ui.label(egui::RichText::new(format!("{}…{}", self.prompt, g.text)).strong());
        }
        ui.separator();
        ui.horizontal(|ui| {
            ui.label("perplexity on the UDHR in");
            egui::ComboBox::from_id_salt("perplexity text")
                .selected_text(self.text.as_str())
                .show_ui(ui, |ui| {
                    for (code, name, _) in SAMPLES {
                        ui.selectable_value(&mut self.text, code.to_string(), name);
                    }
                });
            let idle = !self.perplexity.is_running();
            if ui.add_enabled(idle, egui::Button::new("Measure")).clicked() {
                self.start_perplexity(ui.ctx());
            }
            self.perplexity.status_ui(ui, true);
        });
        self.perplexity.error_ui(ui);
        if let Some(p) = self.perplexity.output() {
            ui.label(format!(
                "perplexity {:.2}, {:.3} bits per byte [{:.3}, {:.3}] over {} tokens of {} lines",
                p.perplexity,
                p.bits_per_byte,
                p.bits_per_byte_interval.low,
                p.bits_per_byte_interval.high,
                p.tokens,
                p.sequences
            ));
        }
    }
}
