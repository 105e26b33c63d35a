//! The app's colours in one place: for errors and verdicts, for the series of a plot, for scripts
//! in generated text, and for tokens in the microscope.

// Some of these serve only the desktop's pages.
#![cfg_attr(not(feature = "native"), allow(dead_code))]

use eframe::egui::{self, Color32};
use unicode_script::{Script, UnicodeScript};

/// An error shown in place of a result.
pub const ERROR: Color32 = Color32::LIGHT_RED;
/// Done, measured, agrees.
pub const GOOD: Color32 = Color32::from_rgb(70, 170, 90);
/// A stage whose output exists.
pub const DONE: Color32 = Color32::from_rgb(90, 180, 90);
/// Disagrees with the paper.
pub const BAD: Color32 = Color32::from_rgb(220, 80, 80);
/// Inconclusive.
pub const UNSURE: Color32 = Color32::from_rgb(210, 160, 40);
/// No data yet.
pub const MUTED: Color32 = Color32::GRAY;
/// The line drawn over the others: held-out loss, the current point.
pub const EMPHASIS: Color32 = Color32::from_rgb(80, 160, 230);

/// Series of a plot, one per language or setting, in order.
pub const SERIES: [Color32; 6] = [
    EMPHASIS,
    Color32::from_rgb(230, 120, 60),
    Color32::from_rgb(120, 190, 90),
    Color32::from_rgb(200, 90, 200),
    Color32::from_rgb(220, 200, 80),
    Color32::from_rgb(90, 200, 200),
];

/// Series of the training plots (the emphasis colour is the held-out loss's).
pub const TRAINING_SERIES: [Color32; 6] = [
    SERIES[1],
    SERIES[2],
    SERIES[3],
    SERIES[4],
    SERIES[5],
    Color32::from_rgb(160, 160, 160),
];

/// A finding's figure: the first setting, the second, anything else.
pub const FIGURE_ROLES: [Color32; 3] = [
    Color32::from_rgb(31, 119, 180),
    Color32::from_rgb(255, 127, 14),
    MUTED,
];

/// Runs of an answer in languages other than the expected one, in order of appearance.
pub const SWITCHED: [Color32; 4] = [SERIES[1], SERIES[0], SERIES[3], SERIES[2]];

/// Token boxes in the microscope, one after another.
pub const TOKENS: [Color32; 4] = [
    Color32::from_rgb(60, 90, 140),
    Color32::from_rgb(60, 120, 90),
    Color32::from_rgb(120, 90, 60),
    Color32::from_rgb(110, 70, 120),
];

/// A byte-fallback token: a script the vocabulary lacks stands out.
pub const BYTE_FALLBACK: Color32 = Color32::from_rgb(170, 50, 50);

/// The colour of a piece of text, by the script of its first letter.
pub fn script(text: &str, ui: &egui::Ui) -> Color32 {
    let script = text
        .chars()
        .map(|c| c.script())
        .find(|s| !matches!(s, Script::Common | Script::Inherited | Script::Unknown));
    match script {
        Some(Script::Latin) => Color32::from_rgb(110, 170, 240),
        Some(Script::Han) => Color32::from_rgb(240, 150, 80),
        Some(Script::Hiragana | Script::Katakana) => Color32::from_rgb(220, 110, 200),
        Some(Script::Hangul) => Color32::from_rgb(120, 200, 120),
        Some(Script::Cyrillic) => Color32::from_rgb(230, 210, 90),
        Some(Script::Arabic) => Color32::from_rgb(90, 200, 200),
        Some(Script::Devanagari) => Color32::from_rgb(240, 120, 120),
        Some(_) => Color32::from_rgb(180, 180, 255),
        None => ui.visuals().text_color(),
    }
}

/// An error in place of a result.
pub fn error(ui: &mut egui::Ui, message: impl Into<egui::RichText>) {
    ui.colored_label(ERROR, message);
}
