//! A knowledge benchmark's outcome as the pages draw it: accuracy by scoring and subject with
//! its interval beside chance, and the questions with the model's choices.

use eframe::egui;

use super::style;

use crate::eval::mcq::prompt::letter;
use crate::eval::mcq::{McqReport, McqSet};

/// Accuracy per scoring and subject.
pub fn accuracy_grid(ui: &mut egui::Ui, id: &str, report: &McqReport) {
    egui::Grid::new(id).striped(true).show(ui, |ui| {
        ui.strong("scoring");
        ui.strong("subject");
        ui.strong("right");
        ui.strong("accuracy");
        ui.strong("95% interval");
        ui.end_row();
        for m in &report.modes {
            for s in &m.subjects {
                ui.label(m.scoring.name());
                ui.label(&s.name);
                ui.label(format!("{} of {}", s.correct, s.questions));
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

/// Each question of `set` that `report` scored, with the answer and what the model chose under
/// each scoring (green when right).
pub fn choices_grid(ui: &mut egui::Ui, id: &str, set: &McqSet, report: &McqReport) {
    let question = |subject: &str, id: &str| {
        let s = set.subjects.iter().find(|s| s.name == subject)?;
        s.eval.iter().find(|i| i.id == id)
    };
    let Some(first) = report.modes.first() else {
        return;
    };
    egui::Grid::new(id).striped(true).show(ui, |ui| {
        ui.strong("question");
        ui.strong("answer");
        for m in &report.modes {
            ui.strong(format!("{} scoring chose", m.scoring.name()));
        }
        ui.end_row();
        for (k, item) in first.items.iter().enumerate() {
            let asked = question(&item.subject, &item.id);
            let option = |i: usize| {
                let text = asked.and_then(|q| q.options.get(i));
                format!("{} {}", letter(i), text.map_or("", String::as_str))
            };
            ui.label(asked.map_or("", |q| q.question.as_str()));
            ui.label(option(item.answer));
            for m in &report.modes {
                let Some(r) = m.items.get(k) else {
                    ui.label("");
                    continue;
                };
                let colour = match r.predicted == r.answer {
                    true => style::GOOD,
                    false => style::BAD,
                };
                ui.label(egui::RichText::new(option(r.predicted)).color(colour));
            }
            ui.end_row();
        }
    });
}
