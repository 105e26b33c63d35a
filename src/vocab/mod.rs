//! The vocabulary lab: how a tokenizer treats each language, and growing a model's vocabulary.

pub mod analyze;
pub mod resize;

pub use analyze::{Corpus, LanguageStats, analyze};
pub use resize::{ResizeInit, ResizeReport, resize};
