//! The Answer quality tab: the model answers a prompt set; the answers are scored on LLM-Eval's
//! five aspects by a judge over an OpenAI-compatible API and by people rating them here, beside
//! signals that need neither (length, distinct n-grams, share of the target language).

use std::path::PathBuf;

use eframe::egui::{self, RichText};

use crate::device;
use crate::eval::codeswitch::{self, SwitchOptions};
use crate::eval::judge::{JUDGE_KEY_VARIABLE, Judge, JudgeConfig, Secret, judge_answers};
use crate::eval::prompts::{Answer, read_prompts};
use crate::eval::quality::{self, ASPECTS, AspectScores, HumanRating, QualityReport};
use crate::tasks;

use super::{Generation, Models, interval};
use crate::app::files::{PathKind, path_field};
use crate::app::running::Task;
use crate::app::style;

pub struct Quality {
    pub answers: Vec<Answer>,
    pub target: SwitchOptions,
    pub judged: Vec<Option<Result<AspectScores, String>>>,
    pub report: QualityReport,
}

pub struct QualityTab {
    pub judge_url: String,
    pub judge_model: String,
    pub ratings: String,
    pub rater: String,
    pub task: Task<Quality>,
    /// The answer being rated, the rating given so far, its note, and what saving it said.
    rating_of: usize,
    rating: [f64; 5],
    rating_note: String,
    rating_status: Option<Result<String, String>>,
}

impl Default for QualityTab {
    fn default() -> Self {
        Self {
            judge_url: std::env::var("BEYOND_JUDGE_URL").unwrap_or_default(),
            judge_model: std::env::var("BEYOND_JUDGE_MODEL").unwrap_or_default(),
            ratings: "ratings.jsonl".into(),
            rater: std::env::var("USER").unwrap_or_else(|_| "me".into()),
            task: Task::default(),
            rating_of: 0,
            rating: [0.0; 5],
            rating_note: String::new(),
            rating_status: None,
        }
    }
}

impl QualityTab {
    pub fn ui(&mut self, ui: &mut egui::Ui, on: &Models, generation: &mut Generation) {
        generation.ui(ui);
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
        ui.horizontal(|ui| {
            if ui
                .add_enabled(!on.busy, egui::Button::new("Generate and score"))
                .clicked()
            {
                let (prompts, options, model, target, choice) = generation.request(on);
                let ratings = PathBuf::from(self.ratings.trim());
                let judge = (!self.judge_url.trim().is_empty()).then(|| JudgeConfig {
                    url: self.judge_url.trim().to_string(),
                    model: self.judge_model.trim().to_string(),
                    key: Secret::from_env(JUDGE_KEY_VARIABLE),
                    timeout: std::time::Duration::from_secs(120),
                    attempts: 2,
                });
                self.task.start("quality", ui.ctx(), move |ctx| {
                    let target = SwitchOptions::new(codeswitch::parse_language(&target)?);
                    let prompts = read_prompts(&prompts)?;
                    let (device, _) = device::select(choice)?;
                    let answers = tasks::answers(&model, &prompts, &options, &device, ctx)?;
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
                });
            }
            self.task.status_ui(ui, true);
        });
        self.task.error_ui(ui);
        let Some(Ok(q)) = self.task.result_mut() else {
            return;
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
            style::error(ui, format!("no judge scores for {n} answers: {reason}"));
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
            Some(Err(e)) => style::error(ui, e),
            None => {}
        }
    }
}
