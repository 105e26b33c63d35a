//! Measuring models: knowledge by multiple choice, perplexity and bits per byte on held-out
//! text, with bootstrap intervals.

pub mod mcq;
pub mod perplexity;
pub mod retention;
pub mod stats;
