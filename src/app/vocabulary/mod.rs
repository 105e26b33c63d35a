//! The Vocabulary panel: how a tokenizer treats each language (table and chart), the
//! fertility-against-size curve of extensions, and an extended tokenizer. The tokenizer and the
//! texts come from files on the desktop ([`files`]) and from the page on the web ([`page`]: the
//! bundled LLaMA-2 tokenizer, files given to it); the built-in UDHR samples serve both. What is
//! done with them is the same on both faces.

#[cfg(feature = "native")]
mod files;
#[cfg(not(feature = "native"))]
mod page;
#[cfg(feature = "native")]
mod resize;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;

use eframe::egui::{self, RichText};
use egui_plot::{Bar, BarChart, Legend, Line, Plot, PlotPoints, Points};
use serde::Serialize;

#[cfg(feature = "native")]
use files::Inputs;
#[cfg(not(feature = "native"))]
use page::Inputs;

use super::running::Task;
use super::samples::SAMPLES;
use super::settings;
use super::style;
use crate::model::TextTokenizer;
use crate::vocab::analyze::{Corpus, LanguageStats, analyze_async};
use crate::vocab::extend::{Extension, extend};
use crate::vocab::sweep::{SweepPoint, sweep_async};

/// Pairs and characters rarer than this are not learned.
const MIN_FREQUENCY: u64 = 2;

pub struct VocabularyPanel {
    inputs: Inputs,
    /// The built-in UDHR samples analysed beside the inputs' texts (language codes).
    samples: BTreeSet<String>,
    reference: String,
    sizes: String,
    add: usize,
    analysis: Task<BTreeMap<String, LanguageStats>>,
    sweep: Task<Vec<SweepPoint>>,
    extension: Task<Extended>,
    /// What the bar chart shows per language.
    chart: Chart,
    /// Work asked for before it could start (by the page's address): done in order once the
    /// tokenizer is in.
    pub queued: Vec<Action>,
    /// Set when a job finishes, for a face that reports elsewhere (the web page).
    #[cfg_attr(feature = "native", allow(dead_code))]
    pub finished: bool,
    #[cfg(feature = "native")]
    resize: resize::ResizeForm,
}

/// What the panel's buttons start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "native", allow(dead_code))]
pub enum Action {
    Analyse,
    Sweep,
    Extend,
}

/// An extension, what it learned from, and where it was written (the desktop; on the web it
/// is downloaded).
pub struct Extended {
    pub extension: Extension,
    pub learned_from: String,
    pub written: Option<PathBuf>,
}

/// A job's inputs, taken from the form when it starts and read in the job.
struct Sources {
    tokenizer: TokenizerSource,
    corpora: Vec<CorpusSource>,
    /// The text new tokens are learned from, and what to call it.
    learn: (String, TextSource),
    /// Where an extended tokenizer is written.
    out: Option<PathBuf>,
}

enum TokenizerSource {
    #[cfg(feature = "native")]
    File(PathBuf),
    #[cfg_attr(feature = "native", allow(dead_code))]
    Loaded(Arc<TextTokenizer>),
}

enum CorpusSource {
    /// `LANG=FILE`.
    #[cfg_attr(not(feature = "native"), allow(dead_code))]
    Spec(String),
    Given(Corpus),
}

enum TextSource {
    #[cfg_attr(not(feature = "native"), allow(dead_code))]
    File(PathBuf),
    #[cfg_attr(feature = "native", allow(dead_code))]
    Given(String),
}

impl Sources {
    fn tokenizer(&self) -> crate::Result<Arc<TextTokenizer>> {
        match &self.tokenizer {
            #[cfg(feature = "native")]
            TokenizerSource::File(path) => Ok(Arc::new(TextTokenizer::open(path, None, &[])?)),
            TokenizerSource::Loaded(t) => Ok(t.clone()),
        }
    }

    /// Every corpus, each language once.
    fn corpora(&self) -> crate::Result<Vec<Corpus>> {
        let mut out: Vec<Corpus> = Vec::new();
        for source in &self.corpora {
            let corpus = match source {
                CorpusSource::Spec(spec) => Corpus::read(spec)?,
                CorpusSource::Given(c) => c.clone(),
            };
            if out.iter().any(|c| c.lang == corpus.lang) {
                return Err(crate::Error::InvalidInput(format!(
                    "the language `{}` is given twice",
                    corpus.lang
                )));
            }
            out.push(corpus);
        }
        if out.is_empty() {
            return Err(crate::Error::InvalidInput(
                "no texts: tick a built-in sample or give a file".into(),
            ));
        }
        Ok(out)
    }

    fn learn_text(&self) -> crate::Result<String> {
        match &self.learn.1 {
            TextSource::File(path) => {
                let bytes = std::fs::read(path).map_err(|e| crate::Error::io(path, e))?;
                crate::error::utf8_text(path, bytes)
            }
            TextSource::Given(text) => Ok(text.clone()),
        }
    }
}

/// The built-in sample of language `code` as a corpus.
fn sample_corpus(code: &str) -> Option<Corpus> {
    super::samples::sample(code).map(|text| Corpus {
        lang: code.to_string(),
        text: text.to_string(),
    })
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

/// What the panel found, as a JSON report (the web page's download, and what it tells a test).
#[derive(Serialize)]
#[cfg_attr(feature = "native", allow(dead_code))]
pub struct Report<'a> {
    pub tokenizer: String,
    pub reference: Option<&'a str>,
    pub analysis: Option<&'a BTreeMap<String, LanguageStats>>,
    pub sweep: Option<&'a [SweepPoint]>,
    pub extension: Option<&'a Extension>,
    pub learned_from: Option<&'a str>,
    /// The last error of each kind of work.
    pub errors: BTreeMap<&'static str, &'a str>,
}

impl Default for VocabularyPanel {
    fn default() -> Self {
        // The page has no files of its own to start from: it starts on the built-in samples.
        let (samples, sizes, add): (&[&str], &str, usize) = match cfg!(feature = "native") {
            true => (&[], "0,100,250,500,1000", 500),
            false => (
                &["en", "zh", "ar", "hi", "ru", "ko"],
                "0,50,100,200,400",
                200,
            ),
        };
        Self {
            inputs: Inputs::default(),
            samples: samples.iter().map(|s| s.to_string()).collect(),
            reference: "en".into(),
            sizes: sizes.into(),
            add,
            analysis: Task::default(),
            sweep: Task::default(),
            extension: Task::default(),
            chart: Chart::TokensPerCharacter,
            queued: Vec::new(),
            finished: false,
            #[cfg(feature = "native")]
            resize: resize::ResizeForm::default(),
        }
    }
}

impl VocabularyPanel {
    /// Records the fields worth keeping between sessions.
    pub fn remember(&self, s: &mut settings::Settings) {
        self.inputs.remember(&mut s.vocabulary);
        s.vocabulary.samples = Some(self.samples.iter().cloned().collect::<Vec<_>>().join(","));
        s.vocabulary.reference = Some(self.reference.clone());
        s.vocabulary.sizes = Some(self.sizes.clone());
        #[cfg(feature = "native")]
        self.resize.remember(&mut s.vocabulary);
    }

    /// Puts back what [`Self::remember`] recorded.
    pub fn restore(&mut self, s: &settings::Settings) {
        self.inputs.restore(&s.vocabulary);
        if let Some(samples) = &s.vocabulary.samples {
            self.samples = samples
                .split(',')
                .filter(|c| super::samples::sample(c).is_some())
                .map(str::to_string)
                .collect();
        }
        settings::recall(&s.vocabulary.reference, &mut self.reference);
        settings::recall(&s.vocabulary.sizes, &mut self.sizes);
        #[cfg(feature = "native")]
        self.resize.restore(&s.vocabulary);
    }

    /// Ticks the built-in samples `codes` (unknown codes are left out).
    #[cfg(not(feature = "native"))]
    pub fn use_samples(&mut self, codes: &[String]) {
        self.samples = codes
            .iter()
            .filter(|c| super::samples::sample(c).is_some())
            .cloned()
            .collect();
    }

    /// Learn `add` tokens from the text of language `lang` when extending.
    #[cfg(not(feature = "native"))]
    pub fn learn_from(&mut self, lang: &str, add: usize) {
        self.inputs.learn_language(lang);
        self.add = add;
    }

    #[cfg(not(feature = "native"))]
    pub fn set_sizes(&mut self, sizes: &str) {
        self.sizes = sizes.to_string();
    }

    /// Where the bundled or opened files arrive (the web page).
    #[cfg(not(feature = "native"))]
    pub fn arrivals(&self) -> super::arrivals::Arrivals {
        self.inputs.arrivals()
    }

    fn busy(&self) -> bool {
        #[cfg(feature = "native")]
        if self.resize.busy() {
            return true;
        }
        self.analysis.is_running() || self.sweep.is_running() || self.extension.is_running()
    }

    /// The languages of the texts: the ticked samples', then the inputs'.
    fn languages(&self) -> Vec<String> {
        let mut langs: Vec<String> = SAMPLES
            .iter()
            .map(|(code, _, _)| code.to_string())
            .filter(|c| self.samples.contains(c))
            .collect();
        langs.extend(self.inputs.languages());
        langs
    }

    fn sources(&self) -> Result<Sources, String> {
        let samples: Vec<Corpus> = SAMPLES
            .iter()
            .filter(|(code, _, _)| self.samples.contains(*code))
            .filter_map(|(code, _, _)| sample_corpus(code))
            .collect();
        self.inputs.sources(samples)
    }

    /// What the panel found so far.
    #[cfg_attr(feature = "native", allow(dead_code))]
    pub fn report(&self) -> Report<'_> {
        let mut errors = BTreeMap::new();
        for (kind, result) in [
            ("analysis", self.analysis.result().map(|r| r.as_ref().err())),
            ("sweep", self.sweep.result().map(|r| r.as_ref().err())),
            (
                "extension",
                self.extension.result().map(|r| r.as_ref().err()),
            ),
        ] {
            if let Some(Some(e)) = result {
                errors.insert(kind, e.as_str());
            }
        }
        Report {
            tokenizer: self.inputs.tokenizer_name(),
            reference: Some(self.reference.trim()).filter(|r| !r.is_empty()),
            analysis: self.analysis.output(),
            sweep: self.sweep.output().map(Vec::as_slice),
            extension: self.extension.output().map(|e| &e.extension),
            learned_from: self.extension.output().map(|e| e.learned_from.as_str()),
            errors,
        }
    }

    pub fn ui(&mut self, ui: &mut egui::Ui) {
        self.inputs.take_files(ui.ctx());
        for finished in [self.analysis.poll(), self.sweep.poll()] {
            self.finished |= finished;
        }
        if self.extension.poll() {
            self.finished = true;
            #[cfg(feature = "native")]
            if let Some(path) = self.extension.output().and_then(|e| e.written.as_ref()) {
                // The tokenizer just written is the one to grow a model to.
                self.resize.tokenizer = path.display().to_string();
            }
        }
        if !self.queued.is_empty() && self.inputs.ready() && !self.busy() {
            let action = self.queued.remove(0);
            self.start(action, ui.ctx());
        }
        ui.heading("Vocabulary");
        egui::ScrollArea::vertical().show(ui, |ui| {
            egui::Grid::new("vocab-inputs")
                .num_columns(2)
                .show(ui, |ui| {
                    self.inputs.rows(ui);
                    ui.label("built-in texts (UDHR)");
                    ui.horizontal_wrapped(|ui| {
                        for (code, name, _) in SAMPLES {
                            let mut on = self.samples.contains(code);
                            if ui.checkbox(&mut on, name).changed() {
                                match on {
                                    true => self.samples.insert(code.to_string()),
                                    false => self.samples.remove(code),
                                };
                            }
                        }
                    });
                    ui.end_row();
                    ui.label("reference language");
                    ui.add(egui::TextEdit::singleline(&mut self.reference).desired_width(60.0))
                        .accessible_name("reference language");
                    ui.end_row();
                });
            self.analysis_ui(ui);
            ui.separator();
            self.extension_ui(ui);
            #[cfg(feature = "native")]
            {
                ui.separator();
                let busy = self.busy();
                self.resize.ui(ui, busy);
            }
            #[cfg(not(feature = "native"))]
            {
                ui.separator();
                let outcome = super::web::download_button(
                    ui,
                    "Download the report (JSON)",
                    "download vocabulary report",
                    "vocabulary-report.json",
                    "application/json",
                    || serde_json::to_vec_pretty(&self.report()).unwrap_or_default(),
                );
                self.inputs.downloaded(outcome);
                self.inputs.download_error_ui(ui);
            }
        });
    }

    /// Starts `action` on what the form says now.
    fn start(&mut self, action: Action, ctx: &egui::Context) {
        let sources = match self.sources() {
            Ok(s) => s,
            Err(e) => {
                match action {
                    Action::Analyse => self.analysis.set_result(Err(e)),
                    Action::Sweep => self.sweep.set_result(Err(e)),
                    Action::Extend => self.extension.set_result(Err(e)),
                }
                self.finished = true;
                return;
            }
        };
        let reference = Some(self.reference.trim().to_string()).filter(|r| !r.is_empty());
        match action {
            Action::Analyse => self
                .analysis
                .start_async("analyse", ctx, move |ctx| async move {
                    ctx.message("reading the texts");
                    let corpora = sources.corpora()?;
                    analyze_async(&*sources.tokenizer()?, &corpora, reference.as_deref()).await
                }),
            Action::Sweep => {
                let sizes: Result<Vec<usize>, _> = self
                    .sizes
                    .split(',')
                    .map(|s| s.trim().parse::<usize>())
                    .collect();
                match sizes {
                    Err(_) => {
                        self.sweep.set_result(Err(format!(
                            "sizes `{}`: expected numbers separated by commas",
                            self.sizes
                        )));
                        self.finished = true;
                    }
                    Ok(sizes) => self.sweep.start_async("sweep", ctx, move |ctx| async move {
                        ctx.message("extending at each size");
                        let corpora = sources.corpora()?;
                        sweep_async(
                            &*sources.tokenizer()?,
                            &sources.learn_text()?,
                            &sizes,
                            MIN_FREQUENCY,
                            &corpora,
                            reference.as_deref(),
                        )
                        .await
                    }),
                }
            }
            Action::Extend => {
                let add = self.add;
                self.extension
                    .start_async("extend", ctx, move |ctx| async move {
                        ctx.message("learning new tokens");
                        // A turn for the page to draw the message before the learning holds it.
                        crate::jobs::yield_now().await;
                        let base = sources.tokenizer()?;
                        let extension = extend(&base, &sources.learn_text()?, add, MIN_FREQUENCY)?;
                        if let Some(out) = &sources.out {
                            write(out, &extension.json)?;
                        }
                        Ok(Extended {
                            extension,
                            learned_from: sources.learn.0.clone(),
                            written: sources.out.clone(),
                        })
                    });
            }
        }
    }

    fn analysis_ui(&mut self, ui: &mut egui::Ui) {
        let busy = self.busy();
        ui.horizontal(|ui| {
            if ui
                .add_enabled(!busy && self.inputs.ready(), egui::Button::new("Analyse"))
                .clicked()
            {
                self.start(Action::Analyse, ui.ctx());
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
        let langs = self.languages();
        egui::Grid::new("vocab-ext").num_columns(2).show(ui, |ui| {
            self.inputs.learn_rows(ui, &langs);
            ui.label("sweep sizes");
            ui.add(egui::TextEdit::singleline(&mut self.sizes).desired_width(200.0))
                .accessible_name("sweep sizes");
            ui.end_row();
            ui.label("add");
            ui.add(egui::DragValue::new(&mut self.add).range(1..=200_000))
                .accessible_name("add");
            ui.end_row();
            self.inputs.output_rows(ui);
        });
        let busy = self.busy() || !self.inputs.ready();
        ui.horizontal(|ui| {
            if ui
                .add_enabled(!busy, egui::Button::new("Sweep sizes"))
                .clicked()
            {
                self.start(Action::Sweep, ui.ctx());
            }
            if ui
                .add_enabled(!busy, egui::Button::new(Inputs::EXTEND))
                .clicked()
            {
                self.start(Action::Extend, ui.ctx());
            }
            self.sweep.status_ui(ui, false);
            self.extension.status_ui(ui, false);
        });
        self.extension.error_ui(ui);
        if let Some(e) = self.extension.output() {
            let x = &e.extension;
            ui.label(format!(
                "{} -> {} tokens ({} characters, {} merges) learned from {}{}; first: {}",
                x.old_vocab,
                x.new_vocab,
                x.characters_added,
                x.merges_added,
                e.learned_from,
                e.written
                    .as_ref()
                    .map(|p| format!(", written to {}", p.display()))
                    .unwrap_or_default(),
                x.sample.join(" ")
            ));
            self.inputs.extended_ui(ui, e);
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

/// Writes `text` to `path`, making its folder.
#[cfg(feature = "native")]
fn write(path: &std::path::Path, text: &str) -> crate::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| crate::Error::io(dir, e))?;
    }
    crate::fsx::write_atomic(path, text.as_bytes())
}

#[cfg(not(feature = "native"))]
fn write(_: &std::path::Path, _: &str) -> crate::Result<()> {
    Err(crate::Error::InvalidInput(
        "the page writes no files: download the tokenizer".into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::VocabularyPanel;
    use super::files::Inputs;
    use super::resize::ResizeForm;
    use crate::app::testing::{click, fixture_a, harness, llama2_tokenizer, udhr_dir, wait_for};
    use crate::model::TextTokenizer;
    use crate::vocab::{Corpus, analyze};

    #[test]
    fn analyses_a_real_tokenizer_and_refuses_a_text_that_is_not_utf8() {
        let udhr = udhr_dir();
        let panel = VocabularyPanel {
            inputs: Inputs {
                tokenizer: llama2_tokenizer().display().to_string(),
                corpora: format!(
                    "en={}\nzh={}\nja={}",
                    udhr.join("en.txt").display(),
                    udhr.join("zh.txt").display(),
                    udhr.join("ja.txt").display()
                ),
                ..Inputs::default()
            },
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
        h.state_mut().inputs.corpora = format!("fr={}", bad.display());
        click(&mut h, "Analyse");
        wait_for(&mut h, "latin1.txt", 10);
    }

    /// The built-in samples are the UDHR files of the assets, analysed as they are; a language
    /// both ticked and given as a file is refused.
    #[test]
    fn analyses_the_built_in_samples_and_refuses_a_language_given_twice() {
        let udhr = udhr_dir();
        let mut panel = VocabularyPanel {
            inputs: Inputs {
                tokenizer: llama2_tokenizer().display().to_string(),
                corpora: String::new(),
                ..Inputs::default()
            },
            ..VocabularyPanel::default()
        };
        panel.samples = ["en", "zh", "ar"].map(String::from).into();
        let mut h = harness(|ui, p: &mut VocabularyPanel| p.ui(ui), panel);
        click(&mut h, "Analyse");
        wait_for(&mut h, "tokens/char", 30);
        let stats = h.state().analysis.output().cloned().unwrap();
        let files: Vec<Corpus> = ["en", "zh", "ar"]
            .iter()
            .map(|l| Corpus::read(&format!("{l}={}", udhr.join(format!("{l}.txt")).display())))
            .collect::<Result<_, _>>()
            .unwrap();
        let tokenizer = TextTokenizer::open(&llama2_tokenizer(), None, &[]).unwrap();
        assert_eq!(stats, analyze(&tokenizer, &files, Some("en")).unwrap());
        let report = serde_json::to_value(h.state().report()).unwrap();
        assert_eq!(report["analysis"]["zh"]["tokens"], stats["zh"].tokens);
        h.state_mut().inputs.corpora = format!("en={}", udhr.join("en.txt").display());
        click(&mut h, "Analyse");
        wait_for(&mut h, "given twice", 10);
    }

    #[test]
    fn extends_a_tokenizer_and_grows_a_model_to_it() {
        let dir = tempfile::tempdir().unwrap();
        let fixture = fixture_a();
        let panel = VocabularyPanel {
            inputs: Inputs {
                tokenizer: fixture.join("tokenizer.json").display().to_string(),
                train_corpus: udhr_dir().join("zh.txt").display().to_string(),
                out: dir
                    .path()
                    .join("extended/tokenizer.json")
                    .display()
                    .to_string(),
                ..Inputs::default()
            },
            add: 40,
            resize: ResizeForm {
                model: fixture.display().to_string(),
                out: dir.path().join("resized").display().to_string(),
                ..ResizeForm::default()
            },
            ..VocabularyPanel::default()
        };
        let mut h = harness(|ui, p: &mut VocabularyPanel| p.ui(ui), panel);
        click(&mut h, "Extend and write");
        wait_for(&mut h, "written to", 60);
        // The extension's file fills the resize form.
        assert_eq!(h.state().resize.tokenizer, h.state().inputs.out);
        click(&mut h, "Resize");
        wait_for(&mut h, "Train continues", 60);
        let config: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("resized/config.json")).unwrap())
                .unwrap();
        assert_eq!(config["vocab_size"], 32040);
        // Resizing into the model's own folder is refused in place.
        h.state_mut().resize.out = fixture.display().to_string();
        click(&mut h, "Resize");
        wait_for(&mut h, "other than the model's", 10);
    }
}
