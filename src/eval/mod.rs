//! Measuring models: knowledge by multiple choice, perplexity and bits per byte on held-out
//! text, code-switching and answer quality, with bootstrap intervals.

pub mod codeswitch;
#[cfg(feature = "native")]
pub mod judge;
pub mod mcq;
pub mod perplexity;
pub mod prompts;
pub mod quality;
pub mod respond;
pub mod retention;
pub mod stats;
