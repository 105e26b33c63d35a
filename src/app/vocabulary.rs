//! The Vocabulary panel: how a tokenizer treats each language (table and chart), the
//! fertility-against-size curve of extensions, and writing an extended tokenizer.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::files::{PathKind, path_field};
use eframe::egui::{self, Color32, RichText};
use egui_plot::{Bar, BarChart, Legend, Line, Plot, PlotPoints, Points};

use beyond::model::TextTokenizer;
use beyond::vocab::analyze::{Corpus, LanguageStats, analyze};
use beyond::vocab::extend::{Extension, extend};
use beyond::vocab::sweep::{SweepPoint, sweep};

use super::running::{Running, poll};
use super::settings;

pub struct VocabularyPanel {
    tokenizer: String,
    corpora: String,
    reference: String,
    train_corpus: String,
    sizes: String,
    add: usize,
    out: String,
    analysis: Option<Result<BTreeMap<String, LanguageStats>, String>>,
    analysis_job: Option<Running<BTreeMap<String, LanguageStats>>>,
    sweep: Option<Result<Vec<SweepPoint>, String>>,
    sweep_job: Option<Running<Vec<SweepPoint>>>,
    extension: Option<Result<(Extension, PathBuf), String>>,
    extension_job: Option<Running<(Extension, PathBuf)>>,
}

impl Default for VocabularyPanel {
    fn default() -> Self {
        Self {
            tokenizer: "world/tokenizer/tokenizer.json".into(),
            corpora: "en=world/heldout/en.txt\nzh=world/heldout/zh.txt".into(),
            reference: "en".into(),
            train_corpus: "world/corpus/zh.txt".into(),
            sizes: "0,100,250,500,1000".into(),
            add: 500,
            out: "world/tokenizer-extended/tokenizer.json".into(),
            analysis: None,
            analysis_job: None,
            sweep: None,
            sweep_job: None,
            extension: None,
            extension_job: None,
        }
    }
}

fn read(path: &Path) -> beyond::Result<String> {
    std::fs::read_to_string(path)
        .map_err(|e| beyond::Error::InvalidInput(format!("{}: {e}", path.display())))
}

/// `lang=path` lines into corpora.
fn corpora(spec: &str) -> beyond::Result<Vec<Corpus>> {
    spec.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(Corpus::read)
        .collect()
}

fn open_tokenizer(path: &str) -> beyond::Result<TextTokenizer> {
    TextTokenizer::open(Path::new(path.trim()), None, &[])
}

const COLOURS: [Color32; 6] = [
    Color32::from_rgb(80, 160, 230),
    Color32::from_rgb(230, 120, 60),
    Color32::from_rgb(120, 190, 90),
    Color32::from_rgb(200, 90, 200),
    Color32::from_rgb(220, 200, 80),
    Color32::from_rgb(90, 200, 200),
];

impl VocabularyPanel {
    /// Records the fields worth keeping between sessions.
    pub fn remember(&self, s: &mut settings::Settings) {
        settings::keep(s, "vocabulary.tokenizer", &self.tokenizer);
        settings::keep(s, "vocabulary.corpora", &self.corpora);
        settings::keep(s, "vocabulary.reference", &self.reference);
        settings::keep(s, "vocabulary.train_corpus", &self.train_corpus);
        settings::keep(s, "vocabulary.sizes", &self.sizes);
        settings::keep(s, "vocabulary.out", &self.out);
    }

    /// Puts back what [`Self::remember`] recorded.
    pub fn restore(&mut self, s: &settings::Settings) {
        settings::recall(s, "vocabulary.tokenizer", &mut self.tokenizer);
        settings::recall(s, "vocabulary.corpora", &mut self.corpora);
        settings::recall(s, "vocabulary.reference", &mut self.reference);
        settings::recall(s, "vocabulary.train_corpus", &mut self.train_corpus);
        settings::recall(s, "vocabulary.sizes", &mut self.sizes);
        settings::recall(s, "vocabulary.out", &mut self.out);
    }

    fn busy(&self) -> bool {
        self.analysis_job.is_some() || self.sweep_job.is_some() || self.extension_job.is_some()
    }

    pub fn ui(&mut self, ui: &mut egui::Ui) {
        if let Some(r) = poll(&mut self.analysis_job) {
            self.analysis = Some(r);
        }
        if let Some(r) = poll(&mut self.sweep_job) {
            self.sweep = Some(r);
        }
        if let Some(r) = poll(&mut self.extension_job) {
            self.extension = Some(r);
        }
        ui.heading("Vocabulary");
        egui::ScrollArea::vertical().show(ui, |ui| {
            egui::Grid::new("vocab-inputs")
                .num_columns(2)
                .show(ui, |ui| {
                    ui.label("tokenizer");
                    path_field(ui, "tokenizer", &mut self.tokenizer, PathKind::Json, 420.0);
                    ui.end_row();
                    ui.label("corpora (language=file)");
                    ui.add(
                        egui::TextEdit::multiline(&mut self.corpora)
                            .desired_rows(3)
                            .desired_width(420.0),
                    )
                    .accessible_name("corpora");
                    ui.end_row();
                    ui.label("reference language");
                    ui.add(egui::TextEdit::singleline(&mut self.reference).desired_width(60.0))
                        .accessible_name("reference language");
                    ui.end_row();
                });
            self.analysis_ui(ui);
            ui.separator();
            self.extension_ui(ui);
        });
    }

    fn analysis_ui(&mut self, ui: &mut egui::Ui) {
        let busy = self.busy();
        ui.horizontal(|ui| {
            if ui
                .add_enabled(!busy, egui::Button::new("Analyse"))
                .clicked()
            {
                let (tok, spec) = (self.tokenizer.clone(), self.corpora.clone());
                let reference = Some(self.reference.trim().to_string()).filter(|r| !r.is_empty());
                self.analysis_job = Some(Running::start("analyse", ui.ctx(), move |ctx| {
                    ctx.message("reading the corpora");
                    let corpora = corpora(&spec)?;
                    analyze(&open_tokenizer(&tok)?, &corpora, reference.as_deref())
                }));
            }
            if let Some(r) = &self.analysis_job {
                ui.spinner();
                ui.label(&r.status);
            }
        });
        let stats = match &self.analysis {
            Some(Ok(s)) => s,
            Some(Err(e)) => {
                ui.colored_label(Color32::LIGHT_RED, e);
                return;
            }
            None => return,
        };
        egui::Grid::new("vocab-stats").striped(true).show(ui, |ui| {
            for h in [
                "language",
                "lines",
                "tokens",
                "tokens/char",
                "tokens/byte",
                "tokens/word",
                "byte fallback",
                "premium",
                "characters without a token",
            ] {
                ui.strong(h);
            }
            ui.end_row();
            for (lang, s) in stats {
                ui.label(lang);
                ui.label(s.lines.to_string());
                ui.label(s.tokens.to_string());
                ui.label(format!("{:.3}", s.tokens_per_character));
                ui.label(format!("{:.3}", s.tokens_per_byte));
                ui.label(s.tokens_per_word.map_or("-".into(), |v| format!("{v:.2}")));
                ui.label(format!("{:.1}%", 100.0 * s.byte_fallback_share));
                ui.label(s.premium.map_or("-".into(), |v| format!("{v:.2}x")));
                let missing: Vec<&str> = s
                    .missing_characters
                    .iter()
                    .take(12)
                    .map(|(c, _)| c.as_str())
                    .collect();
                ui.label(missing.join(" "));
                ui.end_row();
            }
        });
        let bars: Vec<Bar> = stats
            .iter()
            .enumerate()
            .map(|(i, (lang, s))| {
                Bar::new(i as f64, s.tokens_per_character)
                    .width(0.5)
                    .name(lang)
                    .fill(COLOURS[i % COLOURS.len()])
            })
            .collect();
        let names: Vec<String> = stats.keys().cloned().collect();
        Plot::new("tokens-per-char")
            .height(180.0)
            .y_axis_label("tokens per character")
            .x_axis_formatter(move |mark, _| {
                names
                    .get(mark.value.round() as usize)
                    .filter(|_| (mark.value - mark.value.round()).abs() < 1e-6)
                    .cloned()
                    .unwrap_or_default()
            })
            .allow_drag(false)
            .allow_scroll(false)
            .show(ui, |plot| {
                plot.bar_chart(BarChart::new("tokens per character", bars))
            });
    }

    fn extension_ui(&mut self, ui: &mut egui::Ui) {
        ui.label(RichText::new("Extension").strong());
        egui::Grid::new("vocab-ext").num_columns(2).show(ui, |ui| {
            ui.label("learn from");
            path_field(
                ui,
                "extension corpus",
                &mut self.train_corpus,
                PathKind::Text,
                420.0,
            );
            ui.end_row();
            ui.label("sweep sizes");
            ui.add(egui::TextEdit::singleline(&mut self.sizes).desired_width(200.0))
                .accessible_name("sweep sizes");
            ui.end_row();
            ui.label("add");
            ui.add(egui::DragValue::new(&mut self.add).range(1..=200_000))
                .accessible_name("add");
            ui.end_row();
            ui.label("write to");
            path_field(
                ui,
                "extended tokenizer output",
                &mut self.out,
                PathKind::Json,
                420.0,
            );
            ui.end_row();
        });
        let busy = self.busy();
        ui.horizontal(|ui| {
            if ui
                .add_enabled(!busy, egui::Button::new("Sweep sizes"))
                .clicked()
            {
                let (tok, spec, train) = (
                    self.tokenizer.clone(),
                    self.corpora.clone(),
                    PathBuf::from(self.train_corpus.trim()),
                );
                let reference = Some(self.reference.trim().to_string()).filter(|r| !r.is_empty());
                let sizes: Result<Vec<usize>, _> = self
                    .sizes
                    .split(',')
                    .map(|s| s.trim().parse::<usize>())
                    .collect();
                match sizes {
                    Err(_) => {
                        self.sweep = Some(Err(format!(
                            "sizes `{}`: expected numbers separated by commas",
                            self.sizes
                        )))
                    }
                    Ok(sizes) => {
                        self.sweep_job = Some(Running::start("sweep", ui.ctx(), move |ctx| {
                            ctx.message("extending at each size");
                            let corpora = corpora(&spec)?;
                            sweep(
                                &open_tokenizer(&tok)?,
                                &read(&train)?,
                                &sizes,
                                2,
                                &corpora,
                                reference.as_deref(),
                            )
                        }))
                    }
                }
            }
            if ui
                .add_enabled(!busy, egui::Button::new("Extend and write"))
                .clicked()
            {
                let (tok, train, add, out) = (
                    self.tokenizer.clone(),
                    PathBuf::from(self.train_corpus.trim()),
                    self.add,
                    PathBuf::from(self.out.trim()),
                );
                self.extension_job = Some(Running::start("extend", ui.ctx(), move |_| {
                    let extension = extend(&open_tokenizer(&tok)?, &read(&train)?, add, 2)?;
                    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
                        std::fs::create_dir_all(dir).map_err(|e| {
                            beyond::Error::InvalidInput(format!("{}: {e}", dir.display()))
                        })?;
                    }
                    beyond::fsx::write_atomic(&out, extension.json.as_bytes())?;
                    Ok((extension, out))
                }));
            }
            for status in [
                self.sweep_job.as_ref().map(|r| &r.status),
                self.extension_job.as_ref().map(|r| &r.status),
            ]
            .into_iter()
            .flatten()
            {
                ui.spinner();
                ui.label(status);
            }
        });
        match &self.extension {
            Some(Ok((e, path))) => {
                ui.label(format!(
                    "{} -> {} tokens ({} characters, {} merges), written to {}; first: {}",
                    e.old_vocab,
                    e.new_vocab,
                    e.characters_added,
                    e.merges_added,
                    path.display(),
                    e.sample.join(" ")
                ));
            }
            Some(Err(e)) => {
                ui.colored_label(Color32::LIGHT_RED, e);
            }
            None => {}
        }
        match &self.sweep {
            Some(Ok(points)) => {
                let langs: Vec<String> = points
                    .first()
                    .map(|p| p.languages.keys().cloned().collect())
                    .unwrap_or_default();
                Plot::new("fertility")
                    .height(220.0)
                    .legend(Legend::default())
                    .x_axis_label("tokens added")
                    .y_axis_label("tokens per character")
                    .show(ui, |plot| {
                        for (i, lang) in langs.iter().enumerate() {
                            let xy: Vec<[f64; 2]> = points
                                .iter()
                                .map(|p| [p.added as f64, p.languages[lang].tokens_per_character])
                                .collect();
                            let colour = COLOURS[i % COLOURS.len()];
                            plot.line(
                                Line::new(lang.as_str(), PlotPoints::from(xy.clone()))
                                    .color(colour),
                            );
                            plot.points(
                                Points::new(lang.as_str(), PlotPoints::from(xy))
                                    .color(colour)
                                    .radius(3.0),
                            );
                        }
                    });
            }
            Some(Err(e)) => {
                ui.colored_label(Color32::LIGHT_RED, e);
            }
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::VocabularyPanel;
    use crate::app::testing::{click, harness, shared, wait_for};

    #[test]
    fn analyses_a_real_tokenizer_and_refuses_a_text_that_is_not_utf8() {
        let udhr = shared().join("corpora/udhr");
        let panel = VocabularyPanel {
            tokenizer: shared()
                .join("tokenizers/llama2/tokenizer.json")
                .display()
                .to_string(),
            corpora: format!(
                "en={}\nzh={}\nja={}",
                udhr.join("en.txt").display(),
                udhr.join("zh.txt").display(),
                udhr.join("ja.txt").display()
            ),
            ..VocabularyPanel::default()
        };
        let mut h = harness(|ui, p: &mut VocabularyPanel| p.ui(ui), panel);
        click(&mut h, "Analyse");
        wait_for(&mut h, "tokens/char", 30);
        let stats = match &h.state().analysis {
            Some(Ok(s)) => s.clone(),
            other => panic!("{:?}", other.as_ref().map(|_| ())),
        };
        assert!(stats["zh"].tokens_per_character > stats["en"].tokens_per_character);
        assert!((stats["en"].premium.unwrap() - 1.0).abs() < 1e-12);
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("latin1.txt");
        std::fs::write(&bad, b"caf\xe9 cr\xe8me").unwrap();
        h.state_mut().corpora = format!("fr={}", bad.display());
        click(&mut h, "Analyse");
        wait_for(&mut h, "latin1.txt", 10);
    }
}
