//! The Vocabulary panel: how a tokenizer treats each language (table and chart), the
//! fertility-against-size curve of extensions, and writing an extended tokenizer.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::files::{PathKind, path_field};
use eframe::egui::{self, RichText};
use egui_plot::{Bar, BarChart, Legend, Line, Plot, PlotPoints, Points};

use crate::model::TextTokenizer;
use crate::vocab::analyze::{Corpus, LanguageStats, analyze};
use crate::vocab::extend::{Extension, extend};
use crate::vocab::sweep::{SweepPoint, sweep};
use crate::vocab::{ResizeInit, ResizeReport, resize_checkpoint};

use super::running::Task;
use super::settings;
use super::style;

pub struct VocabularyPanel {
    tokenizer: String,
    corpora: String,
    reference: String,
    train_corpus: String,
    sizes: String,
    add: usize,
    out: String,
    analysis: Task<BTreeMap<String, LanguageStats>>,
    sweep: Task<Vec<SweepPoint>>,
    extension: Task<(Extension, PathBuf)>,
    /// What the bar chart shows per language.
    chart: Chart,
    resize_model: String,
    resize_tokenizer: String,
    resize_init: ResizeInit,
    resize_out: String,
    resized: Task<(ResizeReport, PathBuf)>,
}

/// The per-language measure drawn as bars.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chart {
    TokensPerCharacter,
    Premium,
    ByteFallback,
}

impl Chart {
    const ALL: [(Chart, &'static str); 3] = [
        (Chart::TokensPerCharacter, "tokens per character"),
        (Chart::Premium, "premium against the reference"),
        (Chart::ByteFallback, "byte-fallback share (%)"),
    ];

    fn name(self) -> &'static str {
        Chart::ALL
            .iter()
            .find(|(c, _)| *c == self)
            .map_or("", |(_, n)| n)
    }

    fn value(self, s: &LanguageStats) -> f64 {
        match self {
            Chart::TokensPerCharacter => s.tokens_per_character,
            Chart::Premium => s.premium.unwrap_or(f64::NAN),
            Chart::ByteFallback => 100.0 * s.byte_fallback_share,
        }
    }
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
            analysis: Task::default(),
            sweep: Task::default(),
            extension: Task::default(),
            chart: Chart::TokensPerCharacter,
            resize_model: "world/runs/base/final".into(),
            resize_tokenizer: "world/tokenizer-extended/tokenizer.json".into(),
            resize_init: ResizeInit::SubwordMean,
            resize_out: "world/models/base-extended".into(),
            resized: Task::default(),
        }
    }
}

fn read(path: &Path) -> crate::Result<String> {
    std::fs::read_to_string(path)
        .map_err(|e| crate::Error::InvalidInput(format!("{}: {e}", path.display())))
}

/// `lang=path` lines into corpora.
fn corpora(spec: &str) -> crate::Result<Vec<Corpus>> {
    spec.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(Corpus::read)
        .collect()
}

fn open_tokenizer(path: &str) -> crate::Result<TextTokenizer> {
    TextTokenizer::open(Path::new(path.trim()), None, &[])
}

impl VocabularyPanel {
    /// Records the fields worth keeping between sessions.
    pub fn remember(&self, s: &mut settings::Settings) {
        s.vocabulary.tokenizer = Some(self.tokenizer.clone());
        s.vocabulary.corpora = Some(self.corpora.clone());
        s.vocabulary.reference = Some(self.reference.clone());
        s.vocabulary.train_corpus = Some(self.train_corpus.clone());
        s.vocabulary.sizes = Some(self.sizes.clone());
        s.vocabulary.out = Some(self.out.clone());
        s.vocabulary.resize_model = Some(self.resize_model.clone());
        s.vocabulary.resize_tokenizer = Some(self.resize_tokenizer.clone());
        s.vocabulary.resize_out = Some(self.resize_out.clone());
    }

    /// Puts back what [`Self::remember`] recorded.
    pub fn restore(&mut self, s: &settings::Settings) {
        settings::recall(&s.vocabulary.tokenizer, &mut self.tokenizer);
        settings::recall(&s.vocabulary.corpora, &mut self.corpora);
        settings::recall(&s.vocabulary.reference, &mut self.reference);
        settings::recall(&s.vocabulary.train_corpus, &mut self.train_corpus);
        settings::recall(&s.vocabulary.sizes, &mut self.sizes);
        settings::recall(&s.vocabulary.out, &mut self.out);
        settings::recall(&s.vocabulary.resize_model, &mut self.resize_model);
        settings::recall(&s.vocabulary.resize_tokenizer, &mut self.resize_tokenizer);
        settings::recall(&s.vocabulary.resize_out, &mut self.resize_out);
    }

    fn busy(&self) -> bool {
        self.analysis.is_running()
            || self.sweep.is_running()
            || self.extension.is_running()
            || self.resized.is_running()
    }

    pub fn ui(&mut self, ui: &mut egui::Ui) {
        self.analysis.poll();
        self.sweep.poll();
        self.resized.poll();
        if self.extension.poll()
            && let Some((_, path)) = self.extension.output()
        {
            // The tokenizer just written is the one to grow a model to.
            self.resize_tokenizer = path.display().to_string();
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
            ui.separator();
            self.resize_ui(ui);
        });
    }

    /// Grow a model to the extended tokenizer: new rows for the new ids, old rows untouched.
    fn resize_ui(&mut self, ui: &mut egui::Ui) {
        ui.label(RichText::new("Resize a model").strong());
        ui.label(
            RichText::new(
                "Grows the embedding and LM head of an HF model to the extended tokenizer; on \
                 old tokens the resized model computes exactly what it did.",
            )
            .weak(),
        );
        egui::Grid::new("vocab-resize")
            .num_columns(2)
            .show(ui, |ui| {
                ui.label("model");
                path_field(
                    ui,
                    "model to resize",
                    &mut self.resize_model,
                    PathKind::Folder,
                    420.0,
                );
                ui.end_row();
                ui.label("extended tokenizer");
                path_field(
                    ui,
                    "extended tokenizer",
                    &mut self.resize_tokenizer,
                    PathKind::Json,
                    420.0,
                );
                ui.end_row();
                ui.label("new rows start as");
                ui.horizontal(|ui| {
                    for (init, name) in [
                        (ResizeInit::SubwordMean, "mean of their pieces' rows"),
                        (ResizeInit::Mean, "mean of all old rows"),
                        (ResizeInit::Random, "random (old rows' std)"),
                    ] {
                        ui.radio_value(&mut self.resize_init, init, name);
                    }
                });
                ui.end_row();
                ui.label("write to");
                path_field(
                    ui,
                    "resized model output",
                    &mut self.resize_out,
                    PathKind::Folder,
                    420.0,
                );
                ui.end_row();
            });
        ui.horizontal(|ui| {
            if ui
                .add_enabled(!self.busy(), egui::Button::new("Resize"))
                .clicked()
            {
                let model = PathBuf::from(self.resize_model.trim());
                let tokenizer = PathBuf::from(self.resize_tokenizer.trim());
                let out = PathBuf::from(self.resize_out.trim());
                let init = self.resize_init;
                self.resized.start("resize", ui.ctx(), move |ctx| {
                    ctx.message("growing the embedding and head");
                    let report = resize_checkpoint(&model, &tokenizer, init, 0, &out)?;
                    Ok((report, out))
                });
            }
            self.resized.status_ui(ui, false);
        });
        self.resized.error_ui(ui);
        if let Some((r, out)) = self.resized.output() {
            ui.label(format!(
                "{} -> {} tokens{}; written to {} (Train continues from it: its first \
                     stage usually trains only the embeddings and head)",
                r.old_vocab,
                r.new_vocab,
                if r.tied_head { ", tied head" } else { "" },
                out.display()
            ));
        }
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
                self.analysis.start("analyse", ui.ctx(), move |ctx| {
                    ctx.message("reading the corpora");
                    let corpora = corpora(&spec)?;
                    analyze(&open_tokenizer(&tok)?, &corpora, reference.as_deref())
                });
            }
            self.analysis.status_ui(ui, false);
        });
        self.analysis.error_ui(ui);
        let Some(stats) = self.analysis.output() else {
            return;
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
        ui.horizontal(|ui| {
            ui.label("chart");
            for (chart, name) in Chart::ALL {
                ui.selectable_value(&mut self.chart, chart, name);
            }
        });
        let chart = self.chart;
        let bars: Vec<Bar> = stats
            .iter()
            .enumerate()
            .map(|(i, (lang, s))| {
                Bar::new(i as f64, chart.value(s))
                    .width(0.5)
                    .name(lang)
                    .fill(style::SERIES[i % style::SERIES.len()])
            })
            .collect();
        let names: Vec<String> = stats.keys().cloned().collect();
        Plot::new("per-language")
            .height(180.0)
            .y_axis_label(chart.name())
            .x_axis_formatter(move |mark, _| {
                names
                    .get(mark.value.round() as usize)
                    .filter(|_| (mark.value - mark.value.round()).abs() < 1e-6)
                    .cloned()
                    .unwrap_or_default()
            })
            .allow_drag(false)
            .allow_scroll(false)
            .show(ui, |plot| plot.bar_chart(BarChart::new(chart.name(), bars)));
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
                    Err(_) => self.sweep.set_result(Err(format!(
                        "sizes `{}`: expected numbers separated by commas",
                        self.sizes
                    ))),
                    Ok(sizes) => self.sweep.start("sweep", ui.ctx(), move |ctx| {
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
                    }),
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
                self.extension.start("extend", ui.ctx(), move |_| {
                    let extension = extend(&open_tokenizer(&tok)?, &read(&train)?, add, 2)?;
                    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
                        std::fs::create_dir_all(dir).map_err(|e| {
                            crate::Error::InvalidInput(format!("{}: {e}", dir.display()))
                        })?;
                    }
                    crate::fsx::write_atomic(&out, extension.json.as_bytes())?;
                    Ok((extension, out))
                });
            }
            self.sweep.status_ui(ui, false);
            self.extension.status_ui(ui, false);
        });
        self.extension.error_ui(ui);
        if let Some((e, path)) = self.extension.output() {
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
        self.sweep.error_ui(ui);
        if let Some(points) = self.sweep.output() {
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
                        let colour = style::SERIES[i % style::SERIES.len()];
                        plot.line(
                            Line::new(lang.as_str(), PlotPoints::from(xy.clone())).color(colour),
                        );
                        plot.points(
                            Points::new(lang.as_str(), PlotPoints::from(xy))
                                .color(colour)
                                .radius(3.0),
                        );
                    }
                });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::VocabularyPanel;
    use crate::app::testing::{click, fixture_a, harness, llama2_tokenizer, udhr_dir, wait_for};

    #[test]
    fn analyses_a_real_tokenizer_and_refuses_a_text_that_is_not_utf8() {
        let udhr = udhr_dir();
        let panel = VocabularyPanel {
            tokenizer: llama2_tokenizer().display().to_string(),
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
        let stats = match h.state().analysis.result() {
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

    #[test]
    fn extends_a_tokenizer_and_grows_a_model_to_it() {
        let dir = tempfile::tempdir().unwrap();
        let fixture = fixture_a();
        let panel = VocabularyPanel {
            tokenizer: fixture.join("tokenizer.json").display().to_string(),
            train_corpus: udhr_dir().join("zh.txt").display().to_string(),
            add: 40,
            out: dir
                .path()
                .join("extended/tokenizer.json")
                .display()
                .to_string(),
            resize_model: fixture.display().to_string(),
            resize_out: dir.path().join("resized").display().to_string(),
            ..VocabularyPanel::default()
        };
        let mut h = harness(|ui, p: &mut VocabularyPanel| p.ui(ui), panel);
        click(&mut h, "Extend and write");
        wait_for(&mut h, "written to", 60);
        // The extension's file fills the resize form.
        assert_eq!(h.state().resize_tokenizer, h.state().out);
        click(&mut h, "Resize");
        wait_for(&mut h, "Train continues", 60);
        let config: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("resized/config.json")).unwrap())
                .unwrap();
        assert_eq!(config["vocab_size"], 32040);
        // Resizing into the model's own folder is refused in place.
        h.state_mut().resize_out = fixture.display().to_string();
        click(&mut h, "Resize");
        wait_for(&mut h, "other than the model's", 10);
    }
}
