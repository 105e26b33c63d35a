//! The Vocabulary panel's inputs on the desktop: a tokenizer file, `LANG=FILE` corpora, the
//! corpus new tokens are learned from and where the extended tokenizer is written.

use std::path::PathBuf;

use eframe::egui;

use super::{CorpusSource, Extended, Sources, TextSource, TokenizerSource};
use crate::app::files::{PathKind, path_field};
use crate::app::settings::{self, VocabularySettings};
use crate::vocab::Corpus;

pub struct Inputs {
    pub tokenizer: String,
    /// `LANG=FILE` lines.
    pub corpora: String,
    pub train_corpus: String,
    pub out: String,
}

impl Default for Inputs {
    fn default() -> Self {
        Self {
            tokenizer: "world/tokenizer/tokenizer.json".into(),
            corpora: "en=world/heldout/en.txt\nzh=world/heldout/zh.txt".into(),
            train_corpus: "world/corpus/zh.txt".into(),
            out: "world/tokenizer-extended/tokenizer.json".into(),
        }
    }
}

impl Inputs {
    /// The extension button's label: it writes a file here.
    pub const EXTEND: &'static str = "Extend and write";

    pub fn remember(&self, s: &mut VocabularySettings) {
        s.tokenizer = Some(self.tokenizer.clone());
        s.corpora = Some(self.corpora.clone());
        s.train_corpus = Some(self.train_corpus.clone());
        s.out = Some(self.out.clone());
    }

    pub fn restore(&mut self, s: &VocabularySettings) {
        settings::recall(&s.tokenizer, &mut self.tokenizer);
        settings::recall(&s.corpora, &mut self.corpora);
        settings::recall(&s.train_corpus, &mut self.train_corpus);
        settings::recall(&s.out, &mut self.out);
    }

    /// Files are read when a job starts: nothing to wait for.
    pub fn ready(&self) -> bool {
        true
    }

    pub fn take_files(&mut self, _: &egui::Context) {}

    pub fn tokenizer_name(&self) -> String {
        self.tokenizer.trim().to_string()
    }

    /// The languages the corpora lines name.
    pub fn languages(&self) -> Vec<String> {
        self.spec_lines()
            .filter_map(|l| l.split_once('=').map(|(lang, _)| lang.trim().to_string()))
            .collect()
    }

    fn spec_lines(&self) -> impl Iterator<Item = &str> {
        self.corpora
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
    }

    pub fn sources(&self, samples: Vec<Corpus>) -> Result<Sources, String> {
        let train = PathBuf::from(self.train_corpus.trim());
        let mut corpora: Vec<CorpusSource> = samples.into_iter().map(CorpusSource::Given).collect();
        corpora.extend(self.spec_lines().map(|l| CorpusSource::Spec(l.to_string())));
        Ok(Sources {
            tokenizer: TokenizerSource::File(PathBuf::from(self.tokenizer.trim())),
            corpora,
            learn: (train.display().to_string(), TextSource::File(train)),
            out: Some(PathBuf::from(self.out.trim())),
        })
    }

    pub fn rows(&mut self, ui: &mut egui::Ui) {
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
    }

    pub fn learn_rows(&mut self, ui: &mut egui::Ui, _languages: &[String]) {
        ui.label("learn from");
        path_field(
            ui,
            "extension corpus",
            &mut self.train_corpus,
            PathKind::Text,
            420.0,
        );
        ui.end_row();
    }

    pub fn output_rows(&mut self, ui: &mut egui::Ui) {
        ui.label("write to");
        path_field(
            ui,
            "extended tokenizer output",
            &mut self.out,
            PathKind::Json,
            420.0,
        );
        ui.end_row();
    }

    /// The extended tokenizer is already written (the summary says where).
    pub fn extended_ui(&mut self, _: &mut egui::Ui, _: &Extended) {}
}
