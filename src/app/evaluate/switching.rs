//! The Code-switching tab: the model answers a prompt set, and each answer is cut into runs by
//! script and language; runs in other languages than the expected one are coloured.

use eframe::egui::{self, RichText, text::LayoutJob};

use crate::device;
use crate::eval::codeswitch::{self, SwitchAnalysis, SwitchOptions, SwitchSummary};
use crate::eval::prompts::{Answer, read_prompts};
use crate::tasks;

use super::{Generation, Models};
use crate::app::running::Task;
use crate::app::style;

pub struct Switching {
    pub answers: Vec<Answer>,
    pub analyses: Vec<SwitchAnalysis>,
    pub summary: SwitchSummary,
}

#[derive(Default)]
pub struct SwitchingTab {
    pub task: Task<Switching>,
}

impl SwitchingTab {
    pub fn ui(&mut self, ui: &mut egui::Ui, on: &Models, generation: &mut Generation) {
        generation.ui(ui);
        ui.horizontal(|ui| {
            if ui
                .add_enabled(!on.busy, egui::Button::new("Generate and analyse"))
                .clicked()
            {
                let (prompts, options, model, target, choice) = generation.request(on);
                self.task.start("codeswitch", ui.ctx(), move |ctx| {
                    let expected = codeswitch::parse_language(&target)?;
                    let prompts = read_prompts(&prompts)?;
                    let (device, _) = device::select(choice)?;
                    let answers = tasks::answers(&model, &prompts, &options, &device, ctx)?;
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
                });
            }
            self.task.status_ui(ui, true);
        });
        self.task.error_ui(ui);
        let Some(s) = self.task.output() else {
            return;
        };
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
            let into: Vec<String> = m.into.iter().map(|(l, n)| format!("{l}: {n}")).collect();
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
}

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
        let colour = style::SWITCHED[i % style::SWITCHED.len()];
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
