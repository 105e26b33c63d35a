//! The vocabulary lab: how a tokenizer treats each language, and growing a model's vocabulary.

pub mod analyze;
pub mod extend;
pub mod resize;
pub mod sweep;
pub mod train;

pub use analyze::{Corpus, LanguageStats, Piece, analyze, analyze_async, pieces};
pub use extend::{Extension, Scope, extend, learn};
#[cfg(feature = "native")]
pub use resize::resize_checkpoint;
pub use resize::{ResizeInit, ResizeReport, resize};
pub use sweep::{SweepPoint, sweep, sweep_async};
pub use train::{Trained, train};
