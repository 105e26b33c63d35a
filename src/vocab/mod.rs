//! The vocabulary lab: how a tokenizer treats each language.

pub mod analyze;

pub use analyze::{Corpus, LanguageStats, analyze};
