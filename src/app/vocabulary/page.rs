//! The Vocabulary panel's inputs in the web page: the bundled LLaMA-2 tokenizer or one the user
//! opens or drops, text files given the same way (each a language, named by its file), the
//! language new tokens are learned from; the extended tokenizer and the report go out as
//! downloads.

use std::path::Path;
use std::sync::Arc;

use eframe::egui;

use super::{CorpusSource, Extended, Sources, TextSource, TokenizerSource};
use crate::app::arrivals::Arrivals;
use crate::app::settings::{self, VocabularySettings};
use crate::app::style;
use crate::model::TextTokenizer;
use crate::vocab::Corpus;

/// The arrivals' slots.
const TOKENIZER: usize = 0;
const TEXT: usize = 1;

/// A text file given to the page: its language (the file's name without extension), name and
/// text.
struct Text {
    lang: String,
    file: String,
    text: Result<String, String>,
}

pub struct Inputs {
    arrivals: Arrivals,
    tokenizer: Option<(String, Result<Arc<TextTokenizer>, String>)>,
    texts: Vec<Text>,
    learn: String,
    /// How the last download went, when it failed.
    download_error: Option<String>,
}

impl Default for Inputs {
    fn default() -> Self {
        Self {
            arrivals: Arrivals::default(),
            tokenizer: None,
            texts: Vec::new(),
            learn: "zh".into(),
            download_error: None,
        }
    }
}

impl Inputs {
    /// The extension button's label: the result is downloaded, not written.
    pub const EXTEND: &'static str = "Extend";

    pub fn remember(&self, s: &mut VocabularySettings) {
        s.learn_language = Some(self.learn.clone());
    }

    pub fn restore(&mut self, s: &VocabularySettings) {
        settings::recall(&s.learn_language, &mut self.learn);
    }

    pub fn arrivals(&self) -> Arrivals {
        self.arrivals.clone()
    }

    pub fn learn_language(&mut self, lang: &str) {
        self.learn = lang.to_string();
    }

    /// Whether the tokenizer is in.
    pub fn ready(&self) -> bool {
        matches!(&self.tokenizer, Some((_, Ok(_))))
    }

    pub fn tokenizer_name(&self) -> String {
        self.tokenizer
            .as_ref()
            .map(|(name, _)| name.clone())
            .unwrap_or_default()
    }

    /// The languages of the texts given.
    pub fn languages(&self) -> Vec<String> {
        self.texts
            .iter()
            .filter(|t| t.text.is_ok())
            .map(|t| t.lang.clone())
            .collect()
    }

    pub fn sources(&self, samples: Vec<Corpus>) -> Result<Sources, String> {
        let tokenizer = match &self.tokenizer {
            Some((_, Ok(t))) => t.clone(),
            Some((name, Err(e))) => return Err(format!("{name}: {e}")),
            None => return Err("the tokenizer has not arrived yet".into()),
        };
        let mut corpora = samples;
        corpora.extend(self.texts.iter().filter_map(|t| {
            let text = t.text.as_ref().ok()?.clone();
            Some(Corpus {
                lang: t.lang.clone(),
                text,
            })
        }));
        let learn = corpora
            .iter()
            .find(|c| c.lang == self.learn)
            .map(|c| c.text.clone())
            .ok_or_else(|| {
                format!(
                    "learn from `{}`: no text in that language is ticked or given",
                    self.learn
                )
            })?;
        Ok(Sources {
            tokenizer: TokenizerSource::Loaded(tokenizer),
            corpora: corpora.into_iter().map(CorpusSource::Given).collect(),
            learn: (self.learn.clone(), TextSource::Given(learn)),
            out: None,
        })
    }

    /// Takes files that arrived and those dropped on the page: a `.json` is a tokenizer, any
    /// other file a text.
    pub fn take_files(&mut self, ctx: &egui::Context) {
        self.arrivals
            .take_dropped(ctx, |name| match name.ends_with(".json") {
                true => TOKENIZER,
                false => TEXT,
            });
        for (slot, name, bytes) in self.arrivals.take() {
            match slot {
                TOKENIZER => {
                    let tokenizer = bytes.and_then(|b| {
                        TextTokenizer::from_bytes(&b, Path::new(&name), None, None, &[])
                            .map(Arc::new)
                            .map_err(|e| e.to_string())
                    });
                    self.tokenizer = Some((name, tokenizer));
                }
                _ => {
                    let lang = Path::new(&name)
                        .file_stem()
                        .map_or(name.clone(), |s| s.to_string_lossy().into_owned());
                    let text = bytes.and_then(|b| {
                        crate::error::utf8_text(Path::new(&name), b).map_err(|e| e.to_string())
                    });
                    self.texts.retain(|t| t.lang != lang);
                    self.texts.push(Text {
                        lang,
                        file: name,
                        text,
                    });
                }
            }
        }
    }

    /// Asks the browser for a file for `slot` (its file picker, through rfd); the bytes arrive
    /// in the background.
    fn pick(&self, slot: usize, ctx: &egui::Context) {
        let dialog = match slot {
            TOKENIZER => rfd::AsyncFileDialog::new()
                .set_title("a tokenizer.json")
                .add_filter("tokenizer", &["json"]),
            _ => rfd::AsyncFileDialog::new()
                .set_title("a text in one language, one paragraph a line")
                .add_filter("text", &["txt"]),
        };
        self.arrivals.pick(slot, dialog, false, ctx);
    }

    pub fn rows(&mut self, ui: &mut egui::Ui) {
        ui.label("tokenizer");
        ui.horizontal(|ui| {
            match &self.tokenizer {
                None => {
                    ui.spinner();
                    ui.label("LLaMA-2's tokenizer is on its way");
                }
                Some((name, Ok(t))) => {
                    ui.label(format!("{name}: {} tokens", t.vocab_size()));
                }
                Some((name, Err(e))) => style::error(ui, format!("{name}: {e}")),
            }
            let open = ui
                .button("Open…")
                .on_hover_text("choose a tokenizer.json (or drop one on the page)");
            crate::app::web::publish_control("open vocabulary tokenizer", open.rect);
            if open.clicked() {
                self.pick(TOKENIZER, ui.ctx());
            }
        });
        ui.end_row();
        ui.label("your texts");
        ui.vertical(|ui| {
            let mut remove = None;
            for (i, t) in self.texts.iter().enumerate() {
                ui.horizontal(|ui| {
                    match &t.text {
                        Ok(text) => {
                            ui.label(format!(
                                "{}: {} ({} lines)",
                                t.lang,
                                t.file,
                                crate::vocab::analyze::lines(text).count()
                            ));
                        }
                        Err(e) => style::error(ui, e.as_str()),
                    }
                    if ui.small_button("✕").on_hover_text("leave it out").clicked() {
                        remove = Some(i);
                    }
                });
            }
            if let Some(i) = remove {
                self.texts.remove(i);
            }
            let add = ui
                .button("Add a text…")
                .on_hover_text("a .txt in one language, named by its language (sw.txt)");
            crate::app::web::publish_control("add vocabulary text", add.rect);
            if add.clicked() {
                self.pick(TEXT, ui.ctx());
            }
        });
        ui.end_row();
    }

    pub fn learn_rows(&mut self, ui: &mut egui::Ui, languages: &[String]) {
        ui.label("learn from");
        egui::ComboBox::from_id_salt("learn from")
            .selected_text(self.learn.as_str())
            .show_ui(ui, |ui| {
                for lang in languages {
                    ui.selectable_value(&mut self.learn, lang.clone(), lang);
                }
            });
        ui.end_row();
    }

    /// Nothing is written here: the extension is downloaded.
    pub fn output_rows(&mut self, _: &mut egui::Ui) {}

    /// The button that downloads the extended tokenizer.
    pub fn extended_ui(&mut self, ui: &mut egui::Ui, extended: &Extended) {
        let outcome = crate::app::web::download_button(
            ui,
            "Download tokenizer.json",
            "download extended tokenizer",
            "tokenizer.json",
            "application/json",
            || extended.extension.json.clone().into_bytes(),
        );
        self.downloaded(outcome);
    }

    /// Keeps how a download went (`None`: nothing was downloaded this frame), and shows it
    /// when it failed.
    pub fn downloaded(&mut self, outcome: Option<Result<(), String>>) {
        if let Some(outcome) = outcome {
            self.download_error = outcome.err();
        }
    }

    pub fn download_error_ui(&self, ui: &mut egui::Ui) {
        if let Some(e) = &self.download_error {
            style::error(ui, format!("the download: {e}"));
        }
    }
}
