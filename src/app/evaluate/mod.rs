//! The Evaluate panel: put one model (or a before/after pair) through the study's instruments,
//! one tab each: knowledge by multiple choice, perplexity per language, code-switching in its
//! answers, and answer quality by a judge, by people (rated here) and by judge-free signals.
//! Every tab's work is a core task (`crate::tasks`) run as a job.

mod knowledge;
mod perplexity;
mod quality;
mod switching;

use std::path::{Path, PathBuf};

use eframe::egui;

use crate::data::instruct::Template;
use crate::device::DeviceChoice;
use crate::eval::respond::RespondOptions;
use crate::eval::stats::Interval;
use crate::model::SamplingConfig;

use super::files::{PathKind, path_field};
use super::settings;
use knowledge::KnowledgeTab;
use perplexity::PerplexityTab;
use quality::QualityTab;
use switching::SwitchingTab;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tab {
    Knowledge,
    Perplexity,
    CodeSwitch,
    Quality,
}

/// What a tab's job runs on: the models given and the device, and whether another tab is busy.
pub struct Models {
    pub dirs: Vec<PathBuf>,
    pub device: DeviceChoice,
    pub busy: bool,
}

impl Models {
    /// The model evaluated (the first of a pair).
    fn first(&self) -> PathBuf {
        self.dirs.first().cloned().unwrap_or_default()
    }
}

/// The prompts, the target language and the generation settings of the two tabs that generate.
pub struct Generation {
    pub prompts: String,
    pub target: String,
    pub max_new_tokens: usize,
    /// No instruction template (a base model).
    pub raw: bool,
}

impl Default for Generation {
    fn default() -> Self {
        Self {
            prompts: "world/instruct/zh.jsonl".into(),
            target: "zh".into(),
            max_new_tokens: 64,
            raw: false,
        }
    }
}

impl Generation {
    fn ui(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            ui.label("prompts");
            path_field(ui, "prompts", &mut self.prompts, PathKind::Jsonl, 260.0);
            ui.label("language");
            ui.add(egui::TextEdit::singleline(&mut self.target).desired_width(40.0))
                .accessible_name("target language");
            ui.label("max tokens");
            ui.add(egui::DragValue::new(&mut self.max_new_tokens).range(1..=2048))
                .accessible_name("max tokens");
            ui.checkbox(&mut self.raw, "no template (base model)");
        });
    }

    /// What a generating tab's job needs: the prompt file, the settings, the model, the target
    /// language and the device.
    fn request(&self, on: &Models) -> (PathBuf, RespondOptions, PathBuf, String, DeviceChoice) {
        (
            PathBuf::from(&self.prompts),
            self.respond_options(),
            on.first(),
            self.target.clone(),
            on.device,
        )
    }

    fn respond_options(&self) -> RespondOptions {
        RespondOptions {
            template: (!self.raw).then(Template::default),
            sampling: SamplingConfig {
                max_new_tokens: self.max_new_tokens,
                repetition_penalty: 1.1,
                ..SamplingConfig::default()
            },
        }
    }
}

pub struct EvaluatePanel {
    /// The device its jobs run on (the Model page's choice).
    pub device: DeviceChoice,
    tab: Tab,
    model: String,
    after: String,
    knowledge: KnowledgeTab,
    perplexity: PerplexityTab,
    generation: Generation,
    switching: SwitchingTab,
    quality: QualityTab,
}

impl Default for EvaluatePanel {
    fn default() -> Self {
        Self {
            device: DeviceChoice::Auto,
            tab: Tab::Knowledge,
            model: "world/runs/base/final".into(),
            after: String::new(),
            knowledge: KnowledgeTab::default(),
            perplexity: PerplexityTab::default(),
            generation: Generation::default(),
            switching: SwitchingTab::default(),
            quality: QualityTab::default(),
        }
    }
}

/// `value [low, high]`, scaled (100 for percentages) and rounded to `digits`.
fn interval(i: &Interval, scale: f64, digits: usize) -> String {
    format!(
        "{:.digits$} [{:.digits$}, {:.digits$}]",
        scale * i.value,
        scale * i.low,
        scale * i.high
    )
}

impl EvaluatePanel {
    /// Records the fields worth keeping between sessions.
    pub fn remember(&self, s: &mut settings::Settings) {
        s.evaluate.model = Some(self.model.clone());
        s.evaluate.after = Some(self.after.clone());
        s.evaluate.data = Some(self.knowledge.data.clone());
        s.evaluate.language = Some(self.knowledge.language.clone());
        s.evaluate.texts = Some(self.perplexity.texts.clone());
        s.evaluate.prompts = Some(self.generation.prompts.clone());
        s.evaluate.target = Some(self.generation.target.clone());
        s.evaluate.judge_url = Some(self.quality.judge_url.clone());
        s.evaluate.judge_model = Some(self.quality.judge_model.clone());
        s.evaluate.ratings = Some(self.quality.ratings.clone());
        s.evaluate.rater = Some(self.quality.rater.clone());
    }

    /// Puts back what [`Self::remember`] recorded.
    pub fn restore(&mut self, s: &settings::Settings) {
        settings::recall(&s.evaluate.model, &mut self.model);
        settings::recall(&s.evaluate.after, &mut self.after);
        settings::recall(&s.evaluate.data, &mut self.knowledge.data);
        settings::recall(&s.evaluate.language, &mut self.knowledge.language);
        settings::recall(&s.evaluate.texts, &mut self.perplexity.texts);
        settings::recall(&s.evaluate.prompts, &mut self.generation.prompts);
        settings::recall(&s.evaluate.target, &mut self.generation.target);
        settings::recall(&s.evaluate.judge_url, &mut self.quality.judge_url);
        settings::recall(&s.evaluate.judge_model, &mut self.quality.judge_model);
        settings::recall(&s.evaluate.ratings, &mut self.quality.ratings);
        settings::recall(&s.evaluate.rater, &mut self.quality.rater);
    }

    /// The model evaluated (the first of a pair).
    pub fn set_model(&mut self, dir: &Path) {
        self.model = dir.display().to_string();
    }

    pub fn ui(&mut self, ui: &mut egui::Ui) {
        self.knowledge.task.poll();
        self.perplexity.task.poll();
        self.switching.task.poll();
        self.quality.task.poll();
        ui.heading("Evaluate");
        egui::Grid::new("eval-models")
            .num_columns(2)
            .show(ui, |ui| {
                ui.label("model");
                path_field(ui, "model", &mut self.model, PathKind::Folder, 420.0);
                ui.end_row();
                ui.label("compare with (after)");
                path_field(ui, "second model", &mut self.after, PathKind::Folder, 420.0);
                ui.end_row();
            });
        ui.horizontal(|ui| {
            ui.selectable_value(&mut self.tab, Tab::Knowledge, "Knowledge");
            ui.selectable_value(&mut self.tab, Tab::Perplexity, "Perplexity");
            ui.selectable_value(&mut self.tab, Tab::CodeSwitch, "Code-switching");
            ui.selectable_value(&mut self.tab, Tab::Quality, "Answer quality");
        });
        ui.separator();
        let on = Models {
            dirs: [&self.model, &self.after]
                .iter()
                .map(|s| s.trim())
                .filter(|s| !s.is_empty())
                .map(PathBuf::from)
                .collect(),
            device: self.device,
            // One job at a time: they would share the device and the models' memory.
            busy: self.knowledge.task.is_running()
                || self.perplexity.task.is_running()
                || self.switching.task.is_running()
                || self.quality.task.is_running(),
        };
        egui::ScrollArea::vertical().show(ui, |ui| match self.tab {
            Tab::Knowledge => self.knowledge.ui(ui, &on),
            Tab::Perplexity => self.perplexity.ui(ui, &on),
            Tab::CodeSwitch => self.switching.ui(ui, &on, &mut self.generation),
            Tab::Quality => self.quality.ui(ui, &on, &mut self.generation),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::EvaluatePanel;
    use crate::app::testing::{click, fixture_a, harness, wait_for};

    #[test]
    fn asks_a_model_the_world_questions() {
        let dir = tempfile::tempdir().unwrap();
        let mut spec = crate::world::WorldSpec::new(6).unwrap();
        spec.people = 12;
        crate::study::make_world(spec, dir.path(), &mut |_| {}).unwrap();
        let mut panel = EvaluatePanel::default();
        panel.knowledge.data = dir.path().display().to_string();
        panel.knowledge.limit = 3;
        panel.set_model(&fixture_a());
        let mut h = harness(|ui, p: &mut EvaluatePanel| p.ui(ui), panel);
        click(&mut h, "Run");
        wait_for(&mut h, "questions/s", 60);
        match h.state().knowledge.task.result() {
            Some(Ok(k)) => assert_eq!(k.reports[0].questions, 9),
            other => panic!("{:?}", other.as_ref().map(|_| ())),
        }
    }
}
