//! The Evaluate panel: put one model (or a before/after pair) through the study's instruments:
//! knowledge by multiple choice, perplexity per language, code-switching in its answers, and
//! answer quality by a judge, by people (rated here) and by judge-free signals.

use std::path::{Path, PathBuf};

use super::files::{PathKind, path_field};
use eframe::egui::{self, Color32, RichText, text::LayoutJob};

use beyond::data::instruct::Template;
use beyond::device::{self, DeviceChoice};
use beyond::eval::codeswitch::{self, SwitchAnalysis, SwitchOptions, SwitchSummary};
use beyond::eval::judge::{Judge, JudgeConfig, Secret, judge_answers};
use beyond::eval::mcq::{self, Format, McqOptions, McqReport};
use beyond::eval::perplexity::{
    PerplexityOptions, PerplexityReport, bits_per_byte_change, named_corpus, perplexity,
};
use beyond::eval::prompts::{Answer, read_prompts};
use beyond::eval::quality::{self, ASPECTS, AspectScores, HumanRating, QualityReport};
use beyond::eval::respond::{RespondOptions, respond};
use beyond::eval::retention::{self, AccuracyChange};
use beyond::eval::stats::Interval;
use beyond::model::{LoadedModel, SamplingConfig};

use super::running::{Running, poll};
use super::settings;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tab {
    Knowledge,
    Perplexity,
    CodeSwitch,
    Quality,
}

struct Knowledge {
    reports: Vec<McqReport>,
    change: Option<Vec<AccuracyChange>>,
}

struct Perplexities {
    /// Per corpus: its name, one report per model, and the change when there are two.
    rows: Vec<(String, Vec<PerplexityReport>, Option<Interval>)>,
}

struct Switching {
    answers: Vec<Answer>,
    analyses: Vec<SwitchAnalysis>,
    summary: SwitchSummary,
}

struct Quality {
    answers: Vec<Answer>,
    target: SwitchOptions,
    judged: Vec<Option<Result<AspectScores, String>>>,
    report: QualityReport,
}

pub struct EvaluatePanel {
    /// The device its jobs run on (the Model page's choice).
    pub device: DeviceChoice,
    tab: Tab,
    model: String,
    after: String,
    // Knowledge.
    format: Format,
    data: String,
    language: String,
    shots: usize,
    limit: usize,
    knowledge: Option<Result<Knowledge, String>>,
    knowledge_job: Option<Running<Knowledge>>,
    // Perplexity.
    texts: String,
    perplexities: Option<Result<Perplexities, String>>,
    perplexity_job: Option<Running<Perplexities>>,
    // Generation (code-switching and quality).
    prompts: String,
    target: String,
    max_new_tokens: usize,
    raw: bool,
    switching: Option<Result<Switching, String>>,
    switching_job: Option<Running<Switching>>,
    // Quality.
    judge_url: String,
    judge_model: String,
    ratings: String,
    rater: String,
    quality: Option<Result<Quality, String>>,
    quality_job: Option<Running<Quality>>,
    rating_of: usize,
    rating: [f64; 5],
    rating_note: String,
    rating_status: Option<Result<String, String>>,
}

impl Default for EvaluatePanel {
    fn default() -> Self {
        Self {
            device: DeviceChoice::Auto,
            tab: Tab::Knowledge,
            model: "world/runs/base/final".into(),
            after: String::new(),
            format: Format::World,
            data: "world".into(),
            language: "en".into(),
            shots: 0,
            limit: 0,
            knowledge: None,
            knowledge_job: None,
            texts: "en=world/heldout/en.txt\nzh=world/heldout/zh.txt".into(),
            perplexities: None,
            perplexity_job: None,
            prompts: "world/instruct/zh.jsonl".into(),
            target: "zh".into(),
            max_new_tokens: 64,
            raw: false,
            switching: None,
            switching_job: None,
            judge_url: std::env::var("BEYOND_JUDGE_URL").unwrap_or_default(),
            judge_model: std::env::var("BEYOND_JUDGE_MODEL").unwrap_or_default(),
            ratings: "ratings.jsonl".into(),
            rater: std::env::var("USER").unwrap_or_else(|_| "me".into()),
            quality: None,
            quality_job: None,
            rating_of: 0,
            rating: [0.0; 5],
            rating_note: String::new(),
            rating_status: None,
        }
    }
}

const FORMATS: [Format; 5] = [
    Format::World,
    Format::Ceval,
    Format::Mmlu,
    Format::Agieval,
    Format::Gaokao,
];

fn show_error(ui: &mut egui::Ui, e: &str) {
    ui.colored_label(Color32::LIGHT_RED, e);
}

fn interval(i: &Interval, scale: f64, digits: usize) -> String {
    format!(
        "{:.digits$} [{:.digits$}, {:.digits$}]",
        scale * i.value,
        scale * i.low,
        scale * i.high
    )
}

/// Colours for languages other than the expected one, in order of appearance.
const SWITCH_COLOURS: [Color32; 4] = [
    Color32::from_rgb(230, 120, 60),
    Color32::from_rgb(80, 160, 230),
    Color32::from_rgb(200, 90, 200),
    Color32::from_rgb(120, 190, 90),
];

/// An answer with its runs in other languages coloured.
fn highlighted(text: &str, analysis: &SwitchAnalysis, ui: &egui::Ui) -> LayoutJob {
    let mut job = LayoutJob::default();
    let plain = egui::TextFormat {
        color: ui.visuals().text_color(),
        ..Default::default()
    };
    let mut langs: Vec<&str> = Vec::new();
    let mut at = 0;
    for s in &analysis.segments {
        if s.language == analysis.expected {
            continue;
        }
        let i = match langs.iter().position(|l| *l == s.language) {
            Some(i) => i,
            None => {
                langs.push(&s.language);
                langs.len() - 1
            }
        };
        job.append(&text[at..s.start], 0.0, plain.clone());
        let colour = SWITCH_COLOURS[i % SWITCH_COLOURS.len()];
        job.append(
            &format!("{} ", &text[s.start..s.end]),
            0.0,
            egui::TextFormat {
                color: colour,
                underline: egui::Stroke::new(1.0, colour),
                ..Default::default()
            },
        );
        job.append(
            &format!("[{}]", s.language),
            0.0,
            egui::TextFormat {
                color: colour,
                font_id: egui::FontId::proportional(10.0),
                ..Default::default()
            },
        );
        at = s.end;
    }
    job.append(&text[at..], 0.0, plain);
    job
}

impl EvaluatePanel {
    /// Records the fields worth keeping between sessions.
    pub fn remember(&self, s: &mut settings::Settings) {
        settings::keep(s, "evaluate.model", &self.model);
        settings::keep(s, "evaluate.after", &self.after);
        settings::keep(s, "evaluate.data", &self.data);
        settings::keep(s, "evaluate.language", &self.language);
        settings::keep(s, "evaluate.texts", &self.texts);
        settings::keep(s, "evaluate.prompts", &self.prompts);
        settings::keep(s, "evaluate.target", &self.target);
        settings::keep(s, "evaluate.judge_url", &self.judge_url);
        settings::keep(s, "evaluate.judge_model", &self.judge_model);
        settings::keep(s, "evaluate.ratings", &self.ratings);
        settings::keep(s, "evaluate.rater", &self.rater);
    }

    /// Puts back what [`Self::remember`] recorded.
    pub fn restore(&mut self, s: &settings::Settings) {
        settings::recall(s, "evaluate.model", &mut self.model);
        settings::recall(s, "evaluate.after", &mut self.after);
        settings::recall(s, "evaluate.data", &mut self.data);
        settings::recall(s, "evaluate.language", &mut self.language);
        settings::recall(s, "evaluate.texts", &mut self.texts);
        settings::recall(s, "evaluate.prompts", &mut self.prompts);
        settings::recall(s, "evaluate.target", &mut self.target);
        settings::recall(s, "evaluate.judge_url", &mut self.judge_url);
        settings::recall(s, "evaluate.judge_model", &mut self.judge_model);
        settings::recall(s, "evaluate.ratings", &mut self.ratings);
        settings::recall(s, "evaluate.rater", &mut self.rater);
    }

    /// The model evaluated (the first of a pair).
    pub fn set_model(&mut self, dir: &Path) {
        self.model = dir.display().to_string();
    }

    fn models(&self) -> Vec<PathBuf> {
        [&self.model, &self.after]
            .iter()
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
            .map(PathBuf::from)
            .collect()
    }

    fn busy(&self) -> bool {
        self.knowledge_job.is_some()
            || self.perplexity_job.is_some()
            || self.switching_job.is_some()
            || self.quality_job.is_some()
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

    pub fn ui(&mut self, ui: &mut egui::Ui) {
        if let Some(r) = poll(&mut self.knowledge_job) {
            self.knowledge = Some(r);
        }
        if let Some(r) = poll(&mut self.perplexity_job) {
            self.perplexities = Some(r);
        }
        if let Some(r) = poll(&mut self.switching_job) {
            self.switching = Some(r);
        }
        if let Some(r) = poll(&mut self.quality_job) {
            self.quality = Some(r);
        }
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
        egui::ScrollArea::vertical().show(ui, |ui| match self.tab {
            Tab::Knowledge => self.knowledge_ui(ui),
            Tab::Perplexity => self.perplexity_ui(ui),
            Tab::CodeSwitch => self.switching_ui(ui),
            Tab::Quality => self.quality_ui(ui),
        });
    }

    fn knowledge_ui(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            ui.label("benchmark");
            egui::ComboBox::from_id_salt("format")
                .selected_text(self.format.name())
                .show_ui(ui, |ui| {
                    for f in FORMATS {
                        ui.selectable_value(&mut self.format, f, f.name());
                    }
                })
                .response
                .accessible_name("benchmark format");
            ui.label("data");
            path_field(
                ui,
                "benchmark data",
                &mut self.data,
                PathKind::Folder,
                240.0,
            );
            if self.format == Format::World {
                ui.label("language");
                ui.add(egui::TextEdit::singleline(&mut self.language).desired_width(40.0))
                    .accessible_name("language");
            }
            ui.label("shots");
            ui.add(egui::DragValue::new(&mut self.shots).range(0..=5))
                .accessible_name("shots");
            ui.label("per subject (0: all)");
            ui.add(egui::DragValue::new(&mut self.limit))
                .accessible_name("per subject (0: all)");
        });
        let busy = self.busy();
        ui.horizontal(|ui| {
            if ui.add_enabled(!busy, egui::Button::new("Run")).clicked() {
                let (format, data, models) =
                    (self.format, PathBuf::from(&self.data), self.models());
                let language = (format == Format::World).then(|| self.language.clone());
                let options = McqOptions {
                    shots: self.shots,
                    limit: (self.limit > 0).then_some(self.limit),
                    ..McqOptions::default()
                };
                let choice = self.device;
                self.knowledge_job = Some(Running::start("mcq", ui.ctx(), move |ctx| {
                    let set = mcq::read(format, &data, language.as_deref())?;
                    let (device, _) = device::select(choice)?;
                    let mut reports = Vec::new();
                    for dir in &models {
                        ctx.message(format!("{}", dir.display()));
                        let loaded = LoadedModel::open(dir, &device)?;
                        reports.push(mcq::evaluate(
                            &loaded.model,
                            loaded.require_tokenizer()?,
                            &set,
                            &options,
                            Some(ctx),
                        )?);
                    }
                    let change = match reports.as_slice() {
                        [a, b] => Some(retention::compare(a, b, 0)?),
                        _ => None,
                    };
                    Ok(Knowledge { reports, change })
                }));
            }
            if let Some(r) = &self.knowledge_job {
                ui.spinner();
                ui.label(&r.status);
                if ui.button("Stop").clicked() {
                    r.job.cancel();
                }
            }
        });
        match &self.knowledge {
            Some(Ok(k)) => {
                for (i, r) in k.reports.iter().enumerate() {
                    ui.label(
                        RichText::new(format!(
                            "model {}: {} questions, {}-shot, {:.1} questions/s",
                            i + 1,
                            r.questions,
                            r.shots,
                            r.questions_per_second
                        ))
                        .strong(),
                    );
                    egui::Grid::new(("mcq", i)).striped(true).show(ui, |ui| {
                        for h in ["scoring", "subject", "accuracy % [95%]", "right", "chance"] {
                            ui.strong(h);
                        }
                        ui.end_row();
                        for m in &r.modes {
                            ui.label(format!("{:?}", m.scoring));
                            ui.strong("overall");
                            ui.label(interval(&m.accuracy, 100.0, 1));
                            let right: usize = m.subjects.iter().map(|s| s.correct).sum();
                            let asked: usize = m.subjects.iter().map(|s| s.questions).sum();
                            ui.label(format!("{right}/{asked}"));
                            ui.label(format!("{:.0}%", 100.0 * m.chance));
                            ui.end_row();
                            for s in &m.subjects {
                                ui.label("");
                                ui.label(&s.name);
                                ui.label(interval(&s.accuracy, 100.0, 1));
                                ui.label(format!("{}/{}", s.correct, s.questions));
                                ui.label(format!("{:.0}%", 100.0 * s.chance));
                                ui.end_row();
                            }
                        }
                    });
                }
                if let Some(change) = &k.change {
                    ui.label(RichText::new("change, second model minus first (points)").strong());
                    for c in change {
                        ui.label(format!(
                            "{:?}: {}",
                            c.scoring,
                            interval(&c.overall, 100.0, 1)
                        ));
                    }
                }
            }
            Some(Err(e)) => show_error(ui, e),
            None => {}
        }
    }

    fn perplexity_ui(&mut self, ui: &mut egui::Ui) {
        ui.label("Held-out text, one corpus per line as name=file (each non-empty line of a file is a sequence):");
        ui.add(
            egui::TextEdit::multiline(&mut self.texts)
                .desired_rows(3)
                .desired_width(520.0),
        )
        .accessible_name("held-out texts");
        let busy = self.busy();
        ui.horizontal(|ui| {
            if ui.add_enabled(!busy, egui::Button::new("Run")).clicked() {
                let specs: Vec<(String, PathBuf)> = self
                    .texts
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(named_corpus)
                    .collect();
                let models = self.models();
                let choice = self.device;
                self.perplexity_job = Some(Running::start("perplexity", ui.ctx(), move |ctx| {
                    let mut texts = Vec::new();
                    for (name, path) in &specs {
                        let text = std::fs::read_to_string(path).map_err(|e| {
                            beyond::Error::InvalidInput(format!("{}: {e}", path.display()))
                        })?;
                        texts.push((name.clone(), text));
                    }
                    let (device, _) = device::select(choice)?;
                    let mut per_model = Vec::new();
                    for dir in &models {
                        let loaded = LoadedModel::open(dir, &device)?;
                        let tok = loaded.require_tokenizer()?;
                        let mut reports = Vec::new();
                        for (name, text) in &texts {
                            ctx.message(format!("{}: {name}", dir.display()));
                            reports.push(perplexity(
                                &loaded.model,
                                tok,
                                text,
                                &PerplexityOptions::default(),
                                Some(ctx),
                            )?);
                        }
                        per_model.push(reports);
                    }
                    let mut rows = Vec::new();
                    for (i, (name, _)) in texts.iter().enumerate() {
                        let reports: Vec<PerplexityReport> =
                            per_model.iter().map(|r| r[i].clone()).collect();
                        let change = match reports.as_slice() {
                            [a, b] => Some(bits_per_byte_change(a, b)?),
                            _ => None,
                        };
                        rows.push((name.clone(), reports, change));
                    }
                    Ok(Perplexities { rows })
                }));
            }
            if let Some(r) = &self.perplexity_job {
                ui.spinner();
                ui.label(&r.status);
            }
        });
        match &self.perplexities {
            Some(Ok(p)) => {
                egui::Grid::new("ppl").striped(true).show(ui, |ui| {
                    for h in [
                        "corpus",
                        "model",
                        "tokens",
                        "perplexity",
                        "bits/byte [95%]",
                        "change",
                    ] {
                        ui.strong(h);
                    }
                    ui.end_row();
                    for (name, reports, change) in &p.rows {
                        for (i, r) in reports.iter().enumerate() {
                            ui.label(if i == 0 { name.as_str() } else { "" });
                            ui.label(format!("{}", i + 1));
                            ui.label(format!("{}", r.tokens));
                            ui.label(format!("{:.3}", r.perplexity));
                            ui.label(interval(&r.bits_per_byte_interval, 1.0, 4));
                            match (i, change) {
                                (1, Some(c)) => ui.label(interval(c, 1.0, 4)),
                                _ => ui.label(""),
                            };
                            ui.end_row();
                        }
                    }
                });
            }
            Some(Err(e)) => show_error(ui, e),
            None => {}
        }
    }

    /// The prompt file, target language, and generation settings shared by the last two tabs.
    fn generation_settings(&mut self, ui: &mut egui::Ui) {
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

    fn switching_ui(&mut self, ui: &mut egui::Ui) {
        self.generation_settings(ui);
        let busy = self.busy();
        ui.horizontal(|ui| {
            if ui
                .add_enabled(!busy, egui::Button::new("Generate and analyse"))
                .clicked()
            {
                let (prompts, options, model) = (
                    PathBuf::from(&self.prompts),
                    self.respond_options(),
                    PathBuf::from(self.model.trim()),
                );
                let target = self.target.clone();
                let choice = self.device;
                self.switching_job = Some(Running::start("codeswitch", ui.ctx(), move |ctx| {
                    let expected = codeswitch::parse_language(&target)?;
                    let prompts = read_prompts(&prompts)?;
                    let (device, _) = device::select(choice)?;
                    let loaded = LoadedModel::open(&model, &device)?;
                    let answers = respond(
                        &loaded.model,
                        loaded.require_tokenizer()?,
                        &prompts,
                        &options,
                        Some(ctx),
                    )?;
                    let switch = SwitchOptions::new(expected);
                    let analyses: Vec<SwitchAnalysis> = answers
                        .iter()
                        .map(|a| codeswitch::analyse(&a.response, &switch))
                        .collect();
                    let summary = codeswitch::summarise(&expected, &analyses);
                    Ok(Switching {
                        answers,
                        analyses,
                        summary,
                    })
                }));
            }
            if let Some(r) = &self.switching_job {
                ui.spinner();
                ui.label(&r.status);
                if ui.button("Stop").clicked() {
                    r.job.cancel();
                }
            }
        });
        match &self.switching {
            Some(Ok(s)) => {
                let m = &s.summary;
                ui.label(
                    RichText::new(format!(
                        "{} of {} answers switch away from {} ({:.1}%); {:.1}% of letters in {}",
                        m.switched,
                        m.responses - m.empty,
                        m.expected,
                        100.0 * m.rate,
                        100.0 * m.mean_expected_share,
                        m.expected
                    ))
                    .strong(),
                );
                if !m.into.is_empty() {
                    let into: Vec<String> =
                        m.into.iter().map(|(l, n)| format!("{l}: {n}")).collect();
                    ui.label(format!("into {}", into.join(", ")));
                }
                ui.separator();
                for (a, analysis) in s.answers.iter().zip(&s.analyses) {
                    ui.horizontal_wrapped(|ui| {
                        ui.label(RichText::new(&a.prompt.id).weak());
                        ui.label(highlighted(&a.response, analysis, ui));
                    });
                }
            }
            Some(Err(e)) => show_error(ui, e),
            None => {}
        }
    }

    fn quality_ui(&mut self, ui: &mut egui::Ui) {
        self.generation_settings(ui);
        egui::Grid::new("judge").num_columns(2).show(ui, |ui| {
            ui.label("judge API");
            ui.add(
                egui::TextEdit::singleline(&mut self.judge_url)
                    .hint_text("http://127.0.0.1:8080/v1 (optional; beyond serve works)")
                    .desired_width(320.0),
            );
            ui.end_row();
            ui.label("judge model");
            ui.add(egui::TextEdit::singleline(&mut self.judge_model).desired_width(320.0))
                .accessible_name("judge model");
            ui.end_row();
            ui.label("ratings file");
            path_field(
                ui,
                "ratings file",
                &mut self.ratings,
                PathKind::Jsonl,
                320.0,
            );
            ui.end_row();
        });
        ui.label(RichText::new("The judge's key is read from BEYOND_JUDGE_KEY (or OPENAI_API_KEY) and never saved.").weak());
        let busy = self.busy();
        ui.horizontal(|ui| {
            if ui
                .add_enabled(!busy, egui::Button::new("Generate and score"))
                .clicked()
            {
                let (prompts, options, model) = (
                    PathBuf::from(&self.prompts),
                    self.respond_options(),
                    PathBuf::from(self.model.trim()),
                );
                let target = self.target.clone();
                let ratings = PathBuf::from(self.ratings.trim());
                let judge = (!self.judge_url.trim().is_empty()).then(|| JudgeConfig {
                    url: self.judge_url.trim().to_string(),
                    model: self.judge_model.trim().to_string(),
                    key: std::env::var("BEYOND_JUDGE_KEY")
                        .or_else(|_| std::env::var("OPENAI_API_KEY"))
                        .ok()
                        .filter(|k| !k.is_empty())
                        .map(Secret::new),
                    timeout: std::time::Duration::from_secs(120),
                    attempts: 2,
                });
                let choice = self.device;
                self.quality_job = Some(Running::start("quality", ui.ctx(), move |ctx| {
                    let target = SwitchOptions::new(codeswitch::parse_language(&target)?);
                    let prompts = read_prompts(&prompts)?;
                    let (device, _) = device::select(choice)?;
                    let loaded = LoadedModel::open(&model, &device)?;
                    let answers = respond(
                        &loaded.model,
                        loaded.require_tokenizer()?,
                        &prompts,
                        &options,
                        Some(ctx),
                    )?;
                    let judged = match judge {
                        Some(config) => judge_answers(&Judge::new(config), &answers, 4, Some(ctx)),
                        None => vec![None; answers.len()],
                    };
                    let rated = quality::read_ratings(&ratings)?;
                    let report = quality::report(&answers, &target, &judged, &rated, None);
                    Ok(Quality {
                        answers,
                        target,
                        judged,
                        report,
                    })
                }));
            }
            if let Some(r) = &self.quality_job {
                ui.spinner();
                ui.label(&r.status);
                if ui.button("Stop").clicked() {
                    r.job.cancel();
                }
            }
        });
        let Some(result) = &mut self.quality else {
            return;
        };
        let q = match result {
            Ok(q) => q,
            Err(e) => return show_error(ui, e),
        };
        let r = &q.report;
        ui.label(format!(
            "{} answers: {:.0} characters on average, distinct-1 {:.3}, distinct-2 {:.3}, {:.1}% of letters in {}",
            r.answers, r.mean_chars, r.mean_distinct_1, r.mean_distinct_2, 100.0 * r.mean_target_share, r.target_language
        ));
        if r.judge.is_none() && r.human.is_none() {
            ui.label("No scores yet: give a judge, or rate answers below.");
        } else {
            egui::Grid::new("aspects").striped(true).show(ui, |ui| {
                ui.strong("");
                for a in ASPECTS {
                    ui.strong(a);
                }
                ui.strong("AVG [95%]");
                ui.end_row();
                for (who, s) in [("judge", &r.judge), ("people", &r.human)] {
                    if let Some(s) = s {
                        ui.label(format!("{who} ({})", s.scored));
                        for (_, v) in &s.aspects {
                            ui.label(format!("{v:.2}"));
                        }
                        ui.label(interval(&s.average, 1.0, 2));
                        ui.end_row();
                    }
                }
            });
        }
        for (reason, n) in &r.judge_failures {
            show_error(ui, &format!("no judge scores for {n} answers: {reason}"));
        }
        ui.separator();
        // Rating: one answer at a time, saved to the ratings file as it is given.
        let n = q.answers.len();
        if n == 0 {
            return;
        }
        self.rating_of = self.rating_of.min(n - 1);
        ui.horizontal(|ui| {
            ui.strong(format!("Rate answer {} of {n}", self.rating_of + 1));
            if ui.button("<").clicked() {
                self.rating_of = self.rating_of.saturating_sub(1);
            }
            if ui.button(">").clicked() {
                self.rating_of = (self.rating_of + 1).min(n - 1);
            }
            ui.label("rater");
            ui.add(egui::TextEdit::singleline(&mut self.rater).desired_width(100.0))
                .accessible_name("rater");
        });
        let a = &q.answers[self.rating_of];
        ui.label(RichText::new(&a.prompt.instruction).strong());
        if !a.prompt.reference.is_empty() {
            ui.label(format!("reference: {}", a.prompt.reference));
        }
        ui.label(&a.response);
        egui::Grid::new("rate").show(ui, |ui| {
            for (i, name) in ASPECTS.iter().enumerate() {
                ui.label(*name);
                ui.add(egui::Slider::new(&mut self.rating[i], 0.0..=3.0).step_by(1.0))
                    .accessible_name(*name);
                ui.end_row();
            }
        });
        ui.horizontal(|ui| {
            ui.add(egui::TextEdit::singleline(&mut self.rating_note).hint_text("note (optional)"));
            if ui.button("Save rating").clicked() {
                let rating = HumanRating {
                    id: a.prompt.id.clone(),
                    rater: self.rater.trim().to_string(),
                    scores: AspectScores::from_slice(&self.rating),
                    note: self.rating_note.clone(),
                };
                let path = PathBuf::from(self.ratings.trim());
                // Saved, then the summary is made again with every rating in the file.
                self.rating_status = Some(
                    quality::save_rating(&path, rating)
                        .and_then(|()| quality::read_ratings(&path))
                        .map(|rated| {
                            q.report =
                                quality::report(&q.answers, &q.target, &q.judged, &rated, None);
                            format!("saved to {}", path.display())
                        })
                        .map_err(|e| e.to_string()),
                );
                if self.rating_of + 1 < n {
                    self.rating_of += 1;
                }
            }
        });
        match &self.rating_status {
            Some(Ok(m)) => {
                ui.label(m);
            }
            Some(Err(e)) => show_error(ui, e),
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::EvaluatePanel;
    use crate::app::testing::{click, harness, shared, wait_for};

    #[test]
    fn asks_a_model_the_world_questions() {
        let dir = tempfile::tempdir().unwrap();
        let mut spec = beyond::world::WorldSpec::new(6).unwrap();
        spec.people = 12;
        beyond::study::make_world(spec, dir.path(), &mut |_| {}).unwrap();
        let mut panel = EvaluatePanel {
            data: dir.path().display().to_string(),
            limit: 3,
            ..EvaluatePanel::default()
        };
        panel.set_model(&shared().join("fixtures/tiny-llama-a"));
        let mut h = harness(|ui, p: &mut EvaluatePanel| p.ui(ui), panel);
        click(&mut h, "Run");
        wait_for(&mut h, "questions/s", 60);
        match &h.state().knowledge {
            Some(Ok(k)) => assert_eq!(k.reports[0].questions, 9),
            other => panic!("{:?}", other.as_ref().map(|_| ())),
        }
    }
}
