//! The Start panel: the embedded default. Generate the synthetic world, train its English base
//! model, and put the world's benchmark to it; the study's pipeline drawn as stages with what
//! exists for each (any stage's recipe runs from its card); the world's recent runs. Every step
//! is a core job whose events the panel draws, so the window keeps repainting while it runs.

use std::path::PathBuf;

use super::files::{PathKind, path_field};
use eframe::egui;

use crate::device::{self, DeviceChoice};
use crate::eval::mcq::{self, Format, McqOptions, McqReport};
use crate::tasks;

use super::running::Task;
use super::settings;
use super::style;
use crate::study::pipeline::{self, RunSummary, Stage, StageKind};
use crate::train::{RunConfig, TrainReport, train};
use crate::world::{Summary, WorldSpec};

/// How often the pipeline is read again from the files.
const REFRESH: std::time::Duration = std::time::Duration::from_secs(2);

/// A run the Train page should show: its manifest when the world has one, and its directory.
pub struct OpenRun {
    pub manifest: Option<PathBuf>,
    pub dir: PathBuf,
}

pub struct StartPanel {
    /// The device its jobs run on (the Model page's choice).
    pub device: DeviceChoice,
    seed: u64,
    people: usize,
    dir: String,
    world: Task<Summary>,
    training: Task<TrainReport>,
    evaluating: Task<McqReport>,
    /// The pipeline and the runs as last read, and when.
    pipeline: Option<(std::time::Instant, Vec<Stage>, Vec<RunSummary>)>,
    /// Set when a run is picked to be shown on the Train page.
    pub open_run: Option<OpenRun>,
}

impl Default for StartPanel {
    fn default() -> Self {
        Self {
            device: DeviceChoice::Auto,
            seed: 0,
            people: 120,
            dir: "world".into(),
            world: Task::default(),
            training: Task::default(),
            evaluating: Task::default(),
            pipeline: None,
            open_run: None,
        }
    }
}

impl StartPanel {
    /// Records the fields worth keeping between sessions.
    pub fn remember(&self, s: &mut settings::Settings) {
        s.start.dir = Some(self.dir.clone());
    }

    /// Puts back what [`Self::remember`] recorded.
    pub fn restore(&mut self, s: &settings::Settings) {
        settings::recall(&s.start.dir, &mut self.dir);
    }

    fn root(&self) -> PathBuf {
        PathBuf::from(self.dir.trim())
    }

    pub fn ui(&mut self, ui: &mut egui::Ui) {
        // What the world and training write changes the pipeline: read it again.
        let generated = self.world.poll();
        let trained = self.training.poll();
        if generated || trained {
            self.pipeline = None;
        }
        self.evaluating.poll();
        egui::ScrollArea::vertical().show(ui, |ui| self.page(ui));
    }

    fn page(&mut self, ui: &mut egui::Ui) {
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
        let busy = self.busy();
        ui.add_space(6.0);
        // 1. The world.
        ui.horizontal(|ui| {
            if ui
                .add_enabled(!busy, egui::Button::new("1. Generate the world"))
                .clicked()
            {
                let (seed, people, dir) = (self.seed, self.people, self.root());
                self.world.start("world", ui.ctx(), move |ctx| {
                    let mut spec = WorldSpec::new(seed)?;
                    spec.people = people;
                    let w = crate::study::make_world(spec, &dir, &mut |stage| ctx.message(stage))?;
                    Ok(w.summary)
                });
            }
            self.world.status_ui(ui, false);
        });
        self.world.error_ui(ui);
        if let Some(s) = self.world.output() {
            let list = |m: &std::collections::BTreeMap<String, usize>| {
                m.iter()
                    .map(|(k, v)| format!("{v} {}", k.replace('_', " ")))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            ui.label(format!(
                "entities: {}; facts: {}; base tokenizer {} tokens",
                list(&s.entities),
                list(&s.facts),
                s.tokenizer.vocab_size
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
                let choice = self.device;
                self.training.start("train", ui.ctx(), move |ctx| {
                    let config = RunConfig::from_toml_file(&recipe)?;
                    let (device, _) = device::select(choice)?;
                    let resume = config.output.join("checkpoints").is_dir();
                    train(&config, &device, resume, ctx)
                });
            }
            self.training.status_ui(ui, true);
        });
        self.training.error_ui(ui);
        if let Some(t) = self.training.output() {
            ui.label(format!(
                "{} steps, {} tokens, final loss {:.4}; model in {}",
                t.steps,
                t.tokens,
                t.final_loss.unwrap_or(f64::NAN),
                t.final_model.display()
            ));
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
                let choice = self.device;
                self.evaluating.start("mcq", ui.ctx(), move |ctx| {
                    let set = mcq::read(Format::World, &data, Some("en"))?;
                    let (device, _) = device::select(choice)?;
                    let mut knowledge =
                        tasks::knowledge(&[model], &set, &McqOptions::default(), &device, ctx)?;
                    Ok(knowledge.reports.remove(0))
                });
            }
            self.evaluating.status_ui(ui, false);
        });
        self.evaluating.error_ui(ui);
        if let Some(report) = self.evaluating.output() {
            super::knowledge::accuracy_grid(ui, "mcq", report);
        }
        ui.separator();
        self.pipeline_ui(ui);
    }

    fn busy(&self) -> bool {
        self.world.is_running() || self.training.is_running() || self.evaluating.is_running()
    }

    /// The stages as cards in the study's order, then the recent runs.
    fn pipeline_ui(&mut self, ui: &mut egui::Ui) {
        let stale = self
            .pipeline
            .as_ref()
            .is_none_or(|(at, _, _)| at.elapsed() > REFRESH);
        if stale {
            let root = self.root();
            self.pipeline = Some((
                std::time::Instant::now(),
                pipeline::stages(&root),
                pipeline::recent_runs(&root.join("runs")),
            ));
            ui.ctx().request_repaint_after(REFRESH);
        }
        let Some((_, stages, runs)) = self.pipeline.clone() else {
            return;
        };
        ui.strong("The study's pipeline");
        let mut run_recipe = None;
        let busy = self.busy();
        ui.horizontal_wrapped(|ui| {
            for (i, stage) in stages.iter().enumerate() {
                if i > 0 {
                    ui.label("→");
                }
                // A training stage can run once what it starts from exists.
                let ready = match stage.kind {
                    StageKind::World | StageKind::Vocabulary => false,
                    StageKind::BaseModel => stages[0].done,
                    StageKind::Pretrain => stages
                        .iter()
                        .any(|s| s.kind == StageKind::BaseModel && s.done),
                    StageKind::InstructionTuning => stages.iter().any(|s| {
                        s.kind == StageKind::Pretrain && s.done && s.language == stage.language
                    }),
                };
                if stage_card(ui, stage, ready && !busy) {
                    run_recipe = stage.recipe.clone();
                }
            }
        });
        if let Some(recipe) = run_recipe {
            let choice = self.device;
            self.training.start("train", ui.ctx(), move |ctx| {
                let config = RunConfig::from_toml_file(&recipe)?;
                let (device, info) = device::select(choice)?;
                ctx.message(format!("{}: {}", recipe.display(), info.summary()));
                let resume = config.output.join("checkpoints").is_dir();
                train(&config, &device, resume, ctx)
            });
        }
        ui.add_space(8.0);
        ui.strong("Recent runs");
        if runs.is_empty() {
            ui.label(egui::RichText::new("No runs in this world yet.").weak());
            return;
        }
        egui::Grid::new("recent-runs").striped(true).show(ui, |ui| {
            for h in ["run", "steps", "tokens", "loss", "held-out", "state", ""] {
                ui.strong(h);
            }
            ui.end_row();
            for r in runs.iter().take(8) {
                let name = r
                    .dir
                    .file_name()
                    .map_or(String::new(), |n| n.to_string_lossy().to_string());
                ui.label(&name);
                ui.label(r.steps.to_string());
                ui.label(r.tokens.to_string());
                ui.label(r.last_loss.map_or("-".into(), |v| format!("{v:.3}")));
                ui.label(r.last_eval_loss.map_or("-".into(), |v| format!("{v:.3}")));
                ui.label(if r.finished { "exported" } else { "resumable" });
                if ui
                    .button("Open in Train")
                    .on_hover_text(format!("show {name}'s curves on the Train page"))
                    .clicked()
                {
                    let manifest = self.root().join("recipes").join(format!("{name}.toml"));
                    self.open_run = Some(OpenRun {
                        manifest: manifest.is_file().then_some(manifest),
                        dir: r.dir.clone(),
                    });
                }
                ui.end_row();
            }
        });
    }
}

/// A stage as a card: green edge when its output exists. True when its Run button was clicked.
fn stage_card(ui: &mut egui::Ui, stage: &Stage, can_run: bool) -> bool {
    let colour = if stage.done {
        style::DONE
    } else {
        ui.visuals().widgets.noninteractive.bg_stroke.color
    };
    let mut clicked = false;
    egui::Frame::group(ui.style())
        .stroke(egui::Stroke::new(1.5, colour))
        .show(ui, |ui| {
            ui.set_width(136.0);
            ui.vertical(|ui| {
                ui.strong(&stage.title);
                ui.add(egui::Label::new(egui::RichText::new(&stage.detail).small()).wrap());
                if stage.recipe.is_some() && !stage.done {
                    clicked = ui
                        .add_enabled(can_run, egui::Button::new("Run or resume"))
                        .on_hover_text(format!("train {}", stage.title))
                        .clicked();
                }
            });
        });
    clicked
}

#[cfg(test)]
mod tests {
    use super::StartPanel;
    use crate::app::testing::{click, harness, wait_for};
    use egui_kittest::kittest::{NodeT, Queryable};

    #[test]
    fn draws_the_pipeline_runs_a_stage_from_its_card_and_lists_the_run() {
        let dir = tempfile::tempdir().unwrap();
        let panel = StartPanel {
            people: 12,
            seed: 4,
            dir: dir.path().display().to_string(),
            ..StartPanel::default()
        };
        let mut h = harness(|ui, p: &mut StartPanel| p.ui(ui), panel);
        wait_for(&mut h, "not generated", 5);
        click(&mut h, "1. Generate the world");
        wait_for(&mut h, "corpora en, zh", 60);
        wait_for(&mut h, "further pretraining (zh)", 5);
        wait_for(&mut h, "No runs in this world yet", 5);
        // The base model's card is the first that can run; the later stages wait for it.
        let enabled: Vec<bool> = h
            .get_all_by_label("Run or resume")
            .map(|n| !n.accesskit_node().is_disabled())
            .collect();
        assert_eq!(enabled, [true, false, false]);
        h.get_all_by_label("Run or resume").next().unwrap().click();
        h.step();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        while h
            .state()
            .training
            .running()
            .is_none_or(|r| r.metrics.len() <= 12)
        {
            assert!(
                std::time::Instant::now() < deadline,
                "the base run reported nothing"
            );
            h.step();
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        click(&mut h, "Stop");
        wait_for(&mut h, "resumable", 120);
        click(&mut h, "Open in Train");
        let run = h.state_mut().open_run.take().expect("a run to open");
        assert!(run.dir.ends_with("runs/base"));
        assert_eq!(run.manifest, Some(dir.path().join("recipes/base.toml")));
    }
}
