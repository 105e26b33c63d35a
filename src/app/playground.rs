//! The Playground: a prompt (plain completion, or an instruction in the chat template) to one
//! model or two side by side, the tokens streaming in, each coloured by its writing system so
//! that code-switching shows as it happens.

use std::path::PathBuf;

use super::files::{PathKind, path_field};
use eframe::egui::{self, RichText, text::LayoutJob};
use unicode_script::{Script, UnicodeScript};

use crate::data::instruct::Template;
use crate::device::{self, DeviceChoice};
use crate::model::SamplingConfig;
use crate::tasks::{self, Generated};

use super::running::Task;
use super::settings;
use super::style;

/// One side: a model, its streaming job, and what it wrote.
#[derive(Default)]
struct Side {
    model: String,
    task: Task<Generated>,
}

pub struct PlaygroundPanel {
    /// The device its jobs run on (the Model page's choice).
    pub device: DeviceChoice,
    sides: [Side; 2],
    prompt: String,
    chat: bool,
    max_new_tokens: usize,
    temperature: f32,
    top_p: f32,
    seed: u64,
}

impl Default for PlaygroundPanel {
    fn default() -> Self {
        Self {
            device: DeviceChoice::Auto,
            sides: [
                Side {
                    model: "world/runs/base/final".into(),
                    ..Side::default()
                },
                Side::default(),
            ],
            prompt: "Where was".into(),
            chat: false,
            max_new_tokens: 64,
            temperature: 0.0,
            top_p: 1.0,
            seed: 0,
        }
    }
}

impl PlaygroundPanel {
    /// Records the fields worth keeping between sessions.
    pub fn remember(&self, s: &mut settings::Settings) {
        s.playground.prompt = Some(self.prompt.clone());
        s.playground.model = Some(self.sides[0].model.clone());
        s.playground.beside = Some(self.sides[1].model.clone());
    }

    /// Puts back what [`Self::remember`] recorded.
    pub fn restore(&mut self, s: &settings::Settings) {
        settings::recall(&s.playground.prompt, &mut self.prompt);
        settings::recall(&s.playground.model, &mut self.sides[0].model);
        settings::recall(&s.playground.beside, &mut self.sides[1].model);
    }

    /// The model on the left.
    pub fn set_model(&mut self, dir: &std::path::Path) {
        self.sides[0].model = dir.display().to_string();
    }

    fn start(&mut self, i: usize, ctx: &egui::Context) {
        let dir = PathBuf::from(self.sides[i].model.trim());
        let prompt = match self.chat {
            true => Template::default().prompt(&self.prompt),
            false => self.prompt.clone(),
        };
        let sampling = SamplingConfig {
            max_new_tokens: self.max_new_tokens,
            temperature: self.temperature,
            top_p: self.top_p,
            seed: self.seed,
            ..SamplingConfig::default()
        };
        let choice = self.device;
        self.sides[i].task.start("generate", ctx, move |ctx| {
            let (device, _) = device::select(choice)?;
            tasks::generate_text(&dir, &prompt, &sampling, &device, ctx)
        });
    }

    pub fn ui(&mut self, ui: &mut egui::Ui) {
        for side in &mut self.sides {
            side.task.poll();
        }
        ui.heading("Playground");
        ui.horizontal(|ui| {
            ui.label("model");
            path_field(
                ui,
                "model",
                &mut self.sides[0].model,
                PathKind::Folder,
                300.0,
            );
            ui.label("beside it");
            path_field(
                ui,
                "second model",
                &mut self.sides[1].model,
                PathKind::Folder,
                300.0,
            );
        });
        ui.add(
            egui::TextEdit::multiline(&mut self.prompt)
                .desired_rows(3)
                .desired_width(f32::INFINITY),
        )
        .accessible_name("prompt");
        ui.horizontal(|ui| {
            ui.checkbox(&mut self.chat, "as an instruction (chat template)");
            ui.label("max tokens");
            ui.add(egui::DragValue::new(&mut self.max_new_tokens).range(1..=4096))
                .accessible_name("max tokens");
            for (name, value, range, speed) in [
                ("temperature", &mut self.temperature, 0.0..=2.0, 0.05),
                ("top-p", &mut self.top_p, 0.05..=1.0, 0.01),
            ] {
                ui.label(name);
                ui.add(egui::DragValue::new(value).range(range).speed(speed))
                    .accessible_name(name);
            }
            ui.label("seed");
            ui.add(egui::DragValue::new(&mut self.seed))
                .accessible_name("seed");
        });
        let busy = self.sides.iter().any(|s| s.task.is_running());
        ui.horizontal(|ui| {
            if ui
                .add_enabled(!busy, egui::Button::new("Generate"))
                .clicked()
            {
                for i in 0..2 {
                    if !self.sides[i].model.trim().is_empty() {
                        self.start(i, ui.ctx());
                    }
                }
            }
            if busy && ui.button("Stop").clicked() {
                for s in &self.sides {
                    s.task.cancel();
                }
            }
            ui.label(
                RichText::new("colour = writing system: Latin, Han, kana, Hangul, Cyrillic, ...")
                    .weak(),
            );
        });
        ui.separator();
        let shown: Vec<usize> = (0..2)
            .filter(|&i| !self.sides[i].model.trim().is_empty())
            .collect();
        ui.columns(shown.len().max(1), |cols| {
            for (col, &i) in cols.iter_mut().zip(&shown) {
                self.side_ui(col, i);
            }
        });
    }

    fn side_ui(&self, ui: &mut egui::Ui, i: usize) {
        let side = &self.sides[i];
        ui.label(RichText::new(&side.model).weak());
        let pieces: Vec<String> = side
            .task
            .running()
            .map(|r| r.tokens.clone())
            .unwrap_or_default();
        let mut job = LayoutJob::default();
        job.append(
            &self.prompt,
            0.0,
            egui::TextFormat {
                color: ui.visuals().weak_text_color(),
                ..Default::default()
            },
        );
        match side.task.result() {
            Some(Ok(done)) if !side.task.is_running() => {
                // The finished text, cut into pieces of one script each for colouring.
                for piece in split_by_script(&done.generation.text) {
                    let colour = super::style::script(piece, ui);
                    job.append(
                        piece,
                        0.0,
                        egui::TextFormat {
                            color: colour,
                            ..Default::default()
                        },
                    );
                }
            }
            _ => {
                for piece in &pieces {
                    let colour = super::style::script(piece, ui);
                    job.append(
                        piece,
                        0.0,
                        egui::TextFormat {
                            color: colour,
                            ..Default::default()
                        },
                    );
                }
            }
        }
        super::bidi::label(ui, job);
        ui.horizontal(|ui| side.task.status_ui(ui, false));
        match side.task.result() {
            Some(Ok(done)) => {
                let g = &done.generation;
                let n = g.ids.len() - g.prompt_len;
                ui.label(
                    RichText::new(format!(
                        "{n} tokens, {:.1} tokens/s, stopped: {:?}",
                        done.tokens_per_second(),
                        g.stop_reason
                    ))
                    .weak(),
                );
            }
            Some(Err(e)) => {
                style::error(ui, e);
            }
            None => {}
        }
    }
}

/// Consecutive pieces of `text` whose letters share a script (spaces and punctuation go with the
/// piece before them).
fn split_by_script(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut current: Option<Script> = None;
    for (i, c) in text.char_indices() {
        let s = c.script();
        if matches!(s, Script::Common | Script::Inherited | Script::Unknown) {
            continue;
        }
        if current.is_some_and(|cur| cur != s) {
            out.push(&text[start..i]);
            start = i;
        }
        current = Some(s);
    }
    out.push(&text[start..]);
    out
}

#[cfg(test)]
mod tests {
    use super::PlaygroundPanel;
    use crate::app::testing::{click, fixture_a, harness, wait_for};

    #[test]
    fn generates_from_the_fixture_model() {
        let mut panel = PlaygroundPanel {
            max_new_tokens: 8,
            ..PlaygroundPanel::default()
        };
        panel.set_model(&fixture_a());
        let mut h = harness(|ui, p: &mut PlaygroundPanel| p.ui(ui), panel);
        click(&mut h, "Generate");
        wait_for(&mut h, "tokens/s", 30);
        match h.state().sides[0].task.result() {
            Some(Ok(done)) => {
                assert_eq!(done.generation.ids.len() - done.generation.prompt_len, 8)
            }
            other => panic!("{:?}", other.as_ref().map(|_| ())),
        }
    }

    /// A model folder whose weights file is cut short: the error names the file, in place, and
    /// the page keeps working with a good model afterwards.
    #[test]
    fn a_corrupt_weights_file_is_an_error_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let fixture = fixture_a();
        for entry in std::fs::read_dir(&fixture).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() {
                std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
            }
        }
        let weights = dir.path().join("model.safetensors");
        let bytes = std::fs::read(&weights).unwrap();
        std::fs::write(&weights, &bytes[..bytes.len() / 3]).unwrap();
        let mut panel = PlaygroundPanel {
            max_new_tokens: 4,
            ..PlaygroundPanel::default()
        };
        panel.set_model(dir.path());
        let mut h = harness(|ui, p: &mut PlaygroundPanel| p.ui(ui), panel);
        click(&mut h, "Generate");
        wait_for(&mut h, "model.safetensors", 30);
        assert!(matches!(h.state().sides[0].task.result(), Some(Err(_))));
        h.state_mut().set_model(&fixture);
        click(&mut h, "Generate");
        wait_for(&mut h, "tokens/s", 30);
    }
}
