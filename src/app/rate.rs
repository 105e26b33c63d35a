//! The Rate page: blind side-by-side rating of two models' answers to the same prompts on the
//! five answer-quality aspects. Which model wrote which side is hidden and drawn per prompt; each
//! rating goes to the ratings file beside that model's answers (`ANSWERS.ratings.jsonl`), which
//! `beyond eval quality --answers ANSWERS --ratings ...` reads. Several raters may share the files;
//! their agreement is shown.

use std::path::{Path, PathBuf};

use super::files::{PathKind, path_field};
use eframe::egui::{self, RichText};

use crate::eval::prompts::{Answer, read_answers};
use crate::eval::quality::{
    ASPECTS, AspectScores, HumanRating, rater_agreement, read_ratings, save_rating,
};

use super::settings;
use super::style;

/// Two answer files, paired by prompt id.
struct Pairs {
    files: [PathBuf; 2],
    /// (answer from file 0, answer from file 1), prompts both answered.
    pairs: Vec<(Answer, Answer)>,
}

pub struct RatePanel {
    answers: [String; 2],
    rater: String,
    loaded: Option<Result<Pairs, String>>,
    at: usize,
    scores: [[f64; 5]; 2],
    status: Option<Result<String, String>>,
}

impl Default for RatePanel {
    fn default() -> Self {
        Self {
            answers: ["answers-a.jsonl".into(), "answers-b.jsonl".into()],
            rater: std::env::var("USER").unwrap_or_else(|_| "me".into()),
            loaded: None,
            at: 0,
            scores: [[0.0; 5]; 2],
            status: None,
        }
    }
}

/// Where ratings of the answers in `answers` go.
pub fn ratings_path(answers: &Path) -> PathBuf {
    let name = answers
        .file_stem()
        .map_or_else(|| "answers".into(), |s| s.to_string_lossy().into_owned());
    answers.with_file_name(format!("{name}.ratings.jsonl"))
}

/// Whether the prompt `id` shows file 1's answer on the left: a fixed draw per id, so a rater
/// cannot learn a side and the order is the same every time the page opens.
fn swapped(id: &str) -> bool {
    id.bytes()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        })
        .count_ones()
        % 2
        == 1
}

fn load(files: [PathBuf; 2]) -> Result<Pairs, String> {
    let a = read_answers(&files[0]).map_err(|e| e.to_string())?;
    let b = read_answers(&files[1]).map_err(|e| e.to_string())?;
    let pairs: Vec<(Answer, Answer)> = a
        .into_iter()
        .filter_map(|x| {
            let y = b.iter().find(|y| y.prompt.id == x.prompt.id)?.clone();
            Some((x, y))
        })
        .collect();
    if pairs.is_empty() {
        return Err("the two files answer no prompt in common (matched by id)".into());
    }
    Ok(Pairs { files, pairs })
}

impl RatePanel {
    pub fn remember(&self, s: &mut settings::Settings) {
        s.rate.a = Some(self.answers[0].clone());
        s.rate.b = Some(self.answers[1].clone());
        s.rate.rater = Some(self.rater.clone());
    }

    pub fn restore(&mut self, s: &settings::Settings) {
        settings::recall(&s.rate.a, &mut self.answers[0]);
        settings::recall(&s.rate.b, &mut self.answers[1]);
        settings::recall(&s.rate.rater, &mut self.rater);
    }

    pub fn ui(&mut self, ui: &mut egui::Ui) {
        ui.heading("Rate");
        ui.label(
            "Two models' answers to the same prompts (files written by --save-answers), side by \
             side without saying which is which. Score each on LLM-Eval's aspects, 0 to 3.",
        );
        ui.horizontal(|ui| {
            ui.label("answers");
            path_field(
                ui,
                "first answers file",
                &mut self.answers[0],
                PathKind::Jsonl,
                260.0,
            );
            ui.label("and");
            path_field(
                ui,
                "second answers file",
                &mut self.answers[1],
                PathKind::Jsonl,
                260.0,
            );
            ui.label("rater");
            ui.add(egui::TextEdit::singleline(&mut self.rater).desired_width(90.0))
                .accessible_name("rater");
            if ui.button("Open").clicked() {
                let files = self.answers.clone().map(|s| PathBuf::from(s.trim()));
                self.loaded = Some(load(files));
                self.at = 0;
                self.status = None;
            }
        });
        let pairs = match &self.loaded {
            None => return,
            Some(Err(e)) => {
                style::error(ui, e);
                return;
            }
            Some(Ok(p)) => p,
        };
        let n = pairs.pairs.len();
        self.at = self.at.min(n - 1);
        let (a, b) = &pairs.pairs[self.at];
        let swap = swapped(&a.prompt.id);
        // Left and right: (file index, answer).
        let sides = match swap {
            false => [(0, a), (1, b)],
            true => [(1, b), (0, a)],
        };
        ui.separator();
        ui.horizontal(|ui| {
            ui.strong(format!("prompt {} of {n}", self.at + 1));
            if ui.button("<").clicked() {
                self.at = self.at.saturating_sub(1);
            }
            if ui.button(">").clicked() {
                self.at = (self.at + 1).min(n - 1);
            }
        });
        ui.label(RichText::new(&a.prompt.instruction).strong());
        if !a.prompt.input.is_empty() {
            ui.label(&a.prompt.input);
        }
        if !a.prompt.reference.is_empty() {
            ui.label(RichText::new(format!("reference: {}", a.prompt.reference)).weak());
        }
        ui.columns(2, |cols| {
            for (k, (col, (_, answer))) in cols.iter_mut().zip(&sides).enumerate() {
                col.strong(["Answer 1", "Answer 2"][k]);
                col.label(&answer.response);
                egui::Grid::new(("rate", k)).show(col, |ui| {
                    for (i, name) in ASPECTS.iter().enumerate() {
                        ui.label(*name);
                        ui.add(egui::Slider::new(&mut self.scores[k][i], 0.0..=3.0).step_by(1.0))
                            .accessible_name(format!("answer {} {name}", k + 1));
                        ui.end_row();
                    }
                });
            }
        });
        if ui.button("Save both ratings").clicked() {
            let mut saved = Vec::new();
            let mut result = Ok(());
            for (k, (file, answer)) in sides.iter().enumerate() {
                let path = ratings_path(&pairs.files[*file]);
                let rating = HumanRating {
                    id: answer.prompt.id.clone(),
                    rater: self.rater.trim().to_string(),
                    scores: AspectScores::from_slice(&self.scores[k]),
                    note: String::new(),
                };
                match save_rating(&path, rating) {
                    Ok(()) => saved.push(path.display().to_string()),
                    Err(e) => result = Err(e.to_string()),
                }
            }
            self.status = Some(result.map(|()| format!("saved to {}", saved.join(" and "))));
            if self.at + 1 < n {
                self.at += 1;
            }
        }
        match &self.status {
            Some(Ok(m)) => {
                ui.label(m);
            }
            Some(Err(e)) => {
                style::error(ui, e);
            }
            None => {}
        }
        // Agreement between raters, per model's file.
        for file in &pairs.files {
            let Ok(ratings) = read_ratings(&ratings_path(file)) else {
                continue;
            };
            let agreement = rater_agreement(&ratings);
            if agreement.is_empty() {
                continue;
            }
            let parts: Vec<String> = agreement
                .iter()
                .map(|g| {
                    format!(
                        "{} {:.0}% same, ±{:.2}",
                        g.aspect,
                        100.0 * g.exact,
                        g.mean_difference
                    )
                })
                .collect();
            ui.label(
                RichText::new(format!(
                    "raters of {} agree ({} pairs): {}",
                    file.display(),
                    agreement[0].pairs,
                    parts.join(", ")
                ))
                .weak(),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{RatePanel, ratings_path, swapped};
    use crate::app::testing::{click, harness, wait_for};

    #[test]
    fn rates_two_answer_files_blind_and_saves_beside_each() {
        let dir = tempfile::tempdir().unwrap();
        let line = |id: &str, response: &str| {
            format!(
                "{{\"id\":\"{id}\",\"instruction\":\"问题 {id}\",\"response\":\"{response}\"}}\n"
            )
        };
        let a = dir.path().join("a.jsonl");
        let b = dir.path().join("b.jsonl");
        std::fs::write(&a, line("1", "北京") + &line("2", "上海") + &line("3", "x")).unwrap();
        std::fs::write(&b, line("2", "Shanghai") + &line("1", "Beijing")).unwrap();
        let panel = RatePanel {
            answers: [a.display().to_string(), b.display().to_string()],
            rater: "ann".into(),
            ..RatePanel::default()
        };
        let mut h = harness(|ui, p: &mut RatePanel| p.ui(ui), panel);
        click(&mut h, "Open");
        wait_for(&mut h, "prompt 1 of 2", 5);
        h.state_mut().scores = [[3.0; 5], [1.0; 5]];
        click(&mut h, "Save both ratings");
        wait_for(&mut h, "saved to", 5);
        let ra = crate::eval::quality::read_ratings(&ratings_path(&a)).unwrap();
        let rb = crate::eval::quality::read_ratings(&ratings_path(&b)).unwrap();
        assert_eq!((ra.len(), rb.len()), (1, 1));
        // The left side got 3s: it is file a's answer unless prompt 1 was drawn swapped.
        let (left, right) = match swapped("1") {
            false => (&ra[0], &rb[0]),
            true => (&rb[0], &ra[0]),
        };
        assert_eq!((left.scores.accuracy, right.scores.accuracy), (3.0, 1.0));
        assert_eq!(ra[0].id, "1");
        // Both sides are drawn over many prompts.
        let swaps = (0..100).filter(|i| swapped(&i.to_string())).count();
        assert!((30..=70).contains(&swaps), "{swaps}");
    }
}
