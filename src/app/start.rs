//! The Start panel: the embedded default. Generate the synthetic world, train its English base
//! model, and put the world's benchmark to it; every step is a core job whose events the panel
//! draws, so the window keeps repainting while it runs.

use std::path::PathBuf;

use super::files::{PathKind, path_field};
use eframe::egui;

use beyond::device::{self, DeviceChoice};
use beyond::eval::mcq::{self, Format, McqOptions, McqReport};
use beyond::jobs::Job;

use super::running::{Running, poll, waker};
use super::settings;
use beyond::model::LoadedModel;
use beyond::train::{RunConfig, TrainReport, train};
use beyond::world::{self, Summary, WorldSpec};

pub struct StartPanel {
    seed: u64,
    people: usize,
    dir: String,
    world: Option<Result<Summary, String>>,
    generating: Option<Running<Summary>>,
    training: Option<Running<TrainReport>>,
    trained: Option<Result<TrainReport, String>>,
    evaluating: Option<Running<McqReport>>,
    evaluated: Option<Result<McqReport, String>>,
}

impl Default for StartPanel {
    fn default() -> Self {
        Self {
            seed: 0,
            people: 120,
            dir: "world".into(),
            world: None,
            generating: None,
            training: None,
            trained: None,
            evaluating: None,
            evaluated: None,
        }
    }
}

impl StartPanel {
    /// Records the fields worth keeping between sessions.
    pub fn remember(&self, s: &mut settings::Settings) {
        settings::keep(s, "start.dir", &self.dir);
    }

    /// Puts back what [`Self::remember`] recorded.
    pub fn restore(&mut self, s: &settings::Settings) {
        settings::recall(s, "start.dir", &mut self.dir);
    }

    fn root(&self) -> PathBuf {
        PathBuf::from(self.dir.trim())
    }

    pub fn ui(&mut self, ui: &mut egui::Ui) {
        if let Some(r) = poll(&mut self.generating) {
            self.world = Some(r);
        }
        if let Some(r) = poll(&mut self.training) {
            self.trained = Some(r);
        }
        if let Some(r) = poll(&mut self.evaluating) {
            self.evaluated = Some(r);
        }
        ui.heading("Start: the synthetic world");
        ui.label(
            "A small world of people, organisations and cities whose facts are told in English, \
             some also in Chinese, and asked about in C-Eval and MMLU layouts. Everything runs \
             offline on this machine.",
        );
        ui.separator();
        ui.horizontal(|ui| {
            ui.label("seed");
            ui.add(egui::DragValue::new(&mut self.seed))
                .accessible_name("seed");
            ui.label("people");
            ui.add(egui::DragValue::new(&mut self.people).range(8..=5000))
                .accessible_name("people");
            ui.label("directory");
            path_field(
                ui,
                "world directory",
                &mut self.dir,
                PathKind::Folder,
                260.0,
            );
        });
        let busy =
            self.generating.is_some() || self.training.is_some() || self.evaluating.is_some();
        ui.add_space(6.0);
        // 1. The world.
        ui.horizontal(|ui| {
            if ui
                .add_enabled(!busy, egui::Button::new("1. Generate the world"))
                .clicked()
            {
                let (seed, people, dir) = (self.seed, self.people, self.root());
                self.generating = Some(Running {
                    job: Job::spawn("world", Some(waker(ui.ctx())), move |ctx| {
                        let mut spec = WorldSpec::new(seed)?;
                        spec.people = people;
                        let w = world::generate(spec, &mut |stage| ctx.message(stage))?;
                        world::write(&w, &dir)?;
                        Ok(w.summary)
                    }),
                    status: "starting".into(),
                    metrics: Vec::new(),
                    tokens: Vec::new(),
                });
            }
            if let Some(r) = &self.generating {
                ui.spinner();
                ui.label(&r.status);
            }
        });
        match &self.world {
            Some(Ok(s)) => {
                ui.label(format!(
                    "{:?} entities; facts {:?}; base tokenizer {} tokens",
                    s.entities, s.facts, s.tokenizer.vocab_size
                ));
                for (lang, c) in &s.corpora {
                    ui.label(format!(
                        "corpus {lang}: {} documents, {} tokens, {:.2} tokens per character",
                        c.documents,
                        c.tokens,
                        c.tokens as f64 / c.characters.max(1) as f64
                    ));
                }
            }
            Some(Err(e)) => {
                ui.colored_label(egui::Color32::LIGHT_RED, e);
            }
            None => {}
        }
        ui.add_space(6.0);
        // 2. The base model.
        ui.horizontal(|ui| {
            let recipe = self.root().join("recipes/base.toml");
            if ui
                .add_enabled(
                    !busy && recipe.is_file(),
                    egui::Button::new("2. Train the English base model"),
                )
                .clicked()
            {
                self.training = Some(Running {
                    job: Job::spawn("train", Some(waker(ui.ctx())), move |ctx| {
                        let config = RunConfig::from_toml_file(&recipe)?;
                        let (device, _) = device::select(DeviceChoice::Auto)?;
                        let resume = config.output.join("checkpoints").is_dir();
                        train(&config, &device, resume, ctx)
                    }),
                    status: "starting".into(),
                    metrics: Vec::new(),
                    tokens: Vec::new(),
                });
            }
            if let Some(r) = &self.training {
                ui.spinner();
                ui.label(&r.status);
                if ui.button("Stop").clicked() {
                    r.job.cancel();
                }
            }
        });
        match &self.trained {
            Some(Ok(t)) => {
                ui.label(format!(
                    "{} steps, {} tokens, final loss {:.4}; model in {}",
                    t.steps,
                    t.tokens,
                    t.final_loss.unwrap_or(f64::NAN),
                    t.final_model.display()
                ));
            }
            Some(Err(e)) => {
                ui.colored_label(egui::Color32::LIGHT_RED, e);
            }
            None => {}
        }
        ui.add_space(6.0);
        // 3. The benchmark.
        ui.horizontal(|ui| {
            let model = self.root().join("runs/base/final");
            if ui
                .add_enabled(
                    !busy && model.join("config.json").is_file(),
                    egui::Button::new("3. Ask it the English questions"),
                )
                .clicked()
            {
                let data = self.root();
                self.evaluating = Some(Running {
                    job: Job::spawn("mcq", Some(waker(ui.ctx())), move |ctx| {
                        let set = mcq::read(Format::World, &data, Some("en"))?;
                        let (device, _) = device::select(DeviceChoice::Auto)?;
                        let loaded = LoadedModel::open(&model, &device)?;
                        mcq::evaluate(
                            &loaded.model,
                            loaded.require_tokenizer()?,
                            &set,
                            &McqOptions::default(),
                            Some(ctx),
                        )
                    }),
                    status: "starting".into(),
                    metrics: Vec::new(),
                    tokens: Vec::new(),
                });
            }
            if let Some(r) = &self.evaluating {
                ui.spinner();
                ui.label(&r.status);
            }
        });
        match &self.evaluated {
            Some(Ok(report)) => {
                egui::Grid::new("mcq").striped(true).show(ui, |ui| {
                    ui.strong("scoring");
                    ui.strong("subject");
                    ui.strong("accuracy");
                    ui.strong("95% interval");
                    ui.end_row();
                    for m in &report.modes {
                        for s in &m.subjects {
                            ui.label(format!("{:?}", m.scoring));
                            ui.label(&s.name);
                            ui.label(format!("{:.1}%", 100.0 * s.accuracy.value));
                            ui.label(format!(
                                "[{:.1}, {:.1}]  chance {:.0}%",
                                100.0 * s.accuracy.low,
                                100.0 * s.accuracy.high,
                                100.0 * s.chance
                            ));
                            ui.end_row();
                        }
                    }
                });
            }
            Some(Err(e)) => {
                ui.colored_label(egui::Color32::LIGHT_RED, e);
            }
            None => {}
        }
    }
}
